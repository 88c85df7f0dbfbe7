"""Clinical EDA: class balance and distributions of each dataset's clinical table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from breastmri.stages.config import DataConfig

NOTEBOOK = "notebooks/02_eda.ipynb"


@dataclass(frozen=True)
class Config(DataConfig):
    SECTIONS = ("data", "eda")
    out_dir: str


def clinical_tables(config: DataConfig) -> dict[str, Path]:
    """The clinical table of each configured dataset: ``{"seed": path, "mamamia": path}``."""
    from breastmri.data.layouts import MamaMiaLayout, SeedLayout

    tables = {}
    if config.seed_root:
        tables["seed"] = SeedLayout(config.seed_root).clinical_path
    if config.mamamia_root:
        tables["mamamia"] = MamaMiaLayout(config.mamamia_root).clinical_path
    return tables


def run(config: Config) -> dict:
    """``{dataset: EDA summary}``; each dataset's figures and table under ``<out_dir>/<dataset>``."""
    from breastmri.analysis.eda import run_eda

    return {name: run_eda(path, Path(config.out_dir) / name) for name, path in clinical_tables(config).items()}


def describe(summary: dict) -> str:
    """Patients per clinical table (the key figure), then its missing values."""
    def line(name: str, s: dict) -> str:
        missing, columns = sum(s["missing"].values()), sum(n > 0 for n in s["missing"].values())
        return (f"{name}: {s['n_patients']} patients ({s['file']}; {missing} missing values in {columns} "
                f"column{'' if columns == 1 else 's'})")

    return "; ".join(line(name, s) for name, s in summary.items())
