"""Fail-fast validation of the raw datasets: every file readable, geometry and masks sane, tables complete."""

from __future__ import annotations

from dataclasses import dataclass

from breastmri.stages.config import DataConfig, optional

NOTEBOOK = "notebooks/01_validate.ipynb"


@dataclass(frozen=True)
class Config(DataConfig):
    SECTIONS = ("data", "validate")
    out_json: str
    n_preview: int


def run(config: Config) -> dict:
    from breastmri.data.validation import run_validation

    return run_validation(optional(config.seed_root), optional(config.mamamia_root), config.out_json)


def describe(summary: dict) -> str:
    counts = ", ".join(f"{name}: {part.get('n_patients', {}).get('total', part.get('n_cases'))}"
                       for name, part in summary.items())
    return f"validation passed ({counts})"
