"""Draw the synthetic phantom: the seed layout, the MAMA-MIA layout and their ground truth."""

from __future__ import annotations

from dataclasses import dataclass

from breastmri.stages.config import StageConfig

NOTEBOOK = "notebooks/00_synthesize.ipynb"


@dataclass(frozen=True)
class Config(StageConfig):
    SECTIONS = ("synthesize",)
    out_dir: str
    seed: int
    n_train: int
    n_inference: int
    n_mamamia: int
    scan_swap_rate: float
    scan_flip_ud_rate: float
    scan_flip_hf_rate: float
    mask_flip_ud_rate: float
    mask_flip_lr_rate: float
    scanner_orientations: list
    oblique_rate: float
    duke_matrix: int
    seed_cohorts: dict
    mamamia_cohorts: dict


def run(config: Config) -> dict:
    from breastmri.phantom.synthesize import synthesize

    return synthesize(**config.as_dict())


def describe(summary: dict) -> str:
    """What was drawn: scans per layout (the key figure), cohorts, and the planted defects per kind."""
    cohorts = {key.split("_cohort_", 1)[1] for key in summary if "_cohort_" in key}
    planted = {name: sum(summary.get(f"{split}_{name}", 0) for split in ("train", "inference"))
               for name in ("scan_swap", "scan_flip_ud", "scan_flip_hf", "mask_flip_ud", "mask_flip_lr")}
    return (f"phantom: {summary['train_patients']} training and {summary['inference_patients']} inference scans "
            f"(seed layout), {summary['mamamia_cases']} MAMA-MIA cases ({summary['mamamia_sagittal_cases']} sagittal, "
            f"{summary['mamamia_cases_missing_phases']} missing a phase); {len(cohorts)} seed cohorts; planted: "
            + ", ".join(f"{n} {name}" for name, n in planted.items()))
