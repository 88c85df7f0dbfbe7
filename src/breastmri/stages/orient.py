"""Orientation: every seed-layout scan into the working frame, masks aligned, QC, the per-patient record."""

from __future__ import annotations

from dataclasses import dataclass

from breastmri.stages.config import DataConfig, optional

NOTEBOOK = "notebooks/03_orient.ipynb"
HEURISTIC_KEYS = ("n_slices", "end_fraction", "noise_factor", "floor_fraction", "min_solidity", "min_margin",
                  "min_inside_body", "min_anterior", "min_breast_ml")  # orientation.orient.HeuristicSettings


@dataclass(frozen=True)
class Config(DataConfig):
    SECTIONS = ("data", "orient")
    out_dir: str
    record_path: str
    metrics_path: str
    workers: int
    n_slices: int
    end_fraction: float
    noise_factor: float
    floor_fraction: float
    min_solidity: float
    min_margin: dict
    min_inside_body: float
    min_anterior: float
    min_breast_ml: float
    on_failure: str
    n_preview: int
    real_examples: str

    def heuristics(self):
        from breastmri.orientation.orient import HeuristicSettings

        return HeuristicSettings(**{name: getattr(self, name) for name in HEURISTIC_KEYS})


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
