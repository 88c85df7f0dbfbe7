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
    return (f"phantom: {summary['train_patients']} training and {summary['inference_patients']} inference scans "
            f"(seed layout), {summary['mamamia_cases']} MAMA-MIA cases")
