"""The breast model (and its unaugmented baseline) on phantom cohorts it never trained on."""

from __future__ import annotations

from dataclasses import dataclass

from breastmri.stages.anatomy import AnatomyConfig
from breastmri.stages.config import DataConfig, optional

NOTEBOOK = "notebooks/11_transfer.ipynb"


@dataclass(frozen=True)
class Config(AnatomyConfig, DataConfig):
    SECTIONS = ("data", "anatomy", "transfer")
    seed: int
    n_scans: int
    cohorts: dict
    scanner_orientations: list
    oblique_rate: float
    duke_matrix: int
    checkpoint: str
    threshold_json: str
    baseline_checkpoint: str
    baseline_threshold_json: str
    work_dir: str
    metrics_path: str
    figure_path: str
    batch_size: int
    device: str


def run(config: Config) -> dict:
    from breastmri.inference.transfer import evaluate_transfer

    return evaluate_transfer(
        config.work_dir, config.metrics_path, config.figure_path, seed=config.seed, n_scans=config.n_scans,
        cohorts=config.cohorts, scanner_orientations=config.scanner_orientations, oblique_rate=config.oblique_rate,
        duke_matrix=config.duke_matrix, checkpoint=config.checkpoint, threshold_json=optional(config.threshold_json),
        baseline_checkpoint=optional(config.baseline_checkpoint),
        baseline_threshold_json=optional(config.baseline_threshold_json), batch_size=config.batch_size,
        device=config.device, settings=config.heuristics())


def describe(summary: dict) -> str:
    rows = summary["metrics"]["rows"]
    return "; ".join(f"{method}: mean Dice per cohort " + ", ".join(
        f"{cohort} {scores['dice'].get('mean', float('nan')):.3f}" for cohort, scores in by_cohort.items())
        for method, by_cohort in rows.items())
