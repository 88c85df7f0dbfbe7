"""Orientation: every seed-layout scan into the working frame, masks aligned, QC, the per-patient record."""

from __future__ import annotations

from dataclasses import dataclass

from breastmri.stages.anatomy import AnatomyConfig
from breastmri.stages.config import DataConfig, optional

NOTEBOOK = "notebooks/03_orient.ipynb"


@dataclass(frozen=True)
class Config(AnatomyConfig, DataConfig):
    SECTIONS = ("data", "anatomy", "orient")
    out_dir: str
    record_path: str
    metrics_path: str
    workers: int
    on_failure: str
    n_preview: int
    real_examples: str


def run(config: Config) -> dict:
    from breastmri.orientation.dataset import orient_dataset

    return orient_dataset(config.seed_root, config.out_dir, record_path=optional(config.record_path),
                          metrics_path=optional(config.metrics_path), truth_dir=optional(config.truth_dir),
                          workers=config.workers, settings=config.heuristics(), affine_mode=config.seed_affine,
                          on_failure=config.on_failure)


def describe(summary: dict) -> str:
    text = f"oriented {summary['n_patients']} patients into {summary['out_dir']}; excluded: {summary['excluded'] or 'none'}"
    if summary["metrics"] is not None:
        text += f"; accuracy {summary['metrics']['accuracy']}, mask Dice {summary['metrics']['mask_dice']}"
    return text
