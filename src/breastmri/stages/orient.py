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
    """Placement accuracy and aligned-mask Dice against the truth (phantom), then patients placed / excluded."""
    def num(value) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    n, excluded = summary["n_patients"], sorted(summary["excluded"])
    placed = (f"{sum(n.values())} patients placed ({', '.join(f'{v} {k}' for k, v in n.items())}), "
              + (f"{len(excluded)} excluded ({', '.join(excluded[:3])}{', ...' if len(excluded) > 3 else ''})"
                 if excluded else "none excluded"))
    m = summary["metrics"]
    if m is None:
        return f"{placed}; no ground truth: not scored (affine mode {summary['affine_mode']})"
    by_cohort = {c: v["accuracy"]["all"] for c, v in m["by_cohort"].items() if v["accuracy"]["all"] is not None}
    worst = min(by_cohort, key=by_cohort.get) if by_cohort else None
    dice, wrong = m["mask_dice"], m["n_errors"]
    return (f"placement accuracy {num(m['accuracy']['all'])} ({wrong} wrong decision{'' if wrong == 1 else 's'}"
            + (f"; lowest cohort {worst} {num(by_cohort[worst])}" if worst else "") + "), "
            f"aligned-mask Dice mean {num(dice['mean'])} / min {num(dice['min'])} ({dice['n']} masks); {placed}")
