"""Tumour features against clinical variables (Spearman / point-biserial, Benjamini-Hochberg FDR)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from breastmri.stages.config import DataConfig, optional

NOTEBOOK = "notebooks/08_correlate.ipynb"


@dataclass(frozen=True)
class Config(DataConfig):
    SECTIONS = ("data", "correlate")
    features_csv: str
    clinical_path: str
    out_dir: str
    metrics_path: str
    alpha: float
    variables: list

    def clinical_table(self) -> Path:
        """``clinical_path``, or (when ``""``) the seed layout's clinical file."""
        from breastmri.data.layouts import SeedLayout

        return Path(self.clinical_path) if self.clinical_path else SeedLayout(self.seed_root).clinical_path


def run(config: Config) -> dict:
    from breastmri.analysis.correlation import run_correlation

    return run_correlation(config.features_csv, config.clinical_table(), config.out_dir, variables=config.variables,
                           alpha=config.alpha, metrics_path=config.metrics_path,
                           truth_dir=optional(config.truth_dir))


def describe(summary: dict) -> str:
    """Planted associations recovered (phantom) and the tests significant after FDR; without the truth the
    patients joined lead (the associations have nothing to be checked against)."""
    significant = (f"{summary['n_significant']} of {summary['n_tests']} tests significant after FDR "
                   f"(q < {summary['alpha']:g})")
    if "planted_total" not in summary:
        return (f"{summary['n_joined']} patients joined: {significant}; no ground truth: planted associations not "
                "checked")
    return (f"planted associations recovered: {summary['planted_recovered']} of {summary['planted_total']} "
            f"({summary['null_variables_clean']} of {summary['null_variables_total']} null variables clean); "
            f"{significant}; {summary['n_joined']} patients joined")
