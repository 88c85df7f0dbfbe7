"""Whole-breast inference on the seed layout's inference scans: masks on each file's grid, tumour candidate,
features, evaluation against the phantom truth where there is one."""

from __future__ import annotations

from dataclasses import dataclass

from breastmri.stages.anatomy import AnatomyConfig
from breastmri.stages.config import DataConfig, optional

NOTEBOOK = "notebooks/07_infer.ipynb"


@dataclass(frozen=True)
class Config(AnatomyConfig, DataConfig):
    SECTIONS = ("data", "anatomy", "infer")
    checkpoint: str
    threshold_json: str
    record_path: str
    h5_path: str
    out_dir: str
    figures_dir: str
    metrics_path: str
    tumor_percentile: float
    skin_margin_mm: float
    classical_baseline: bool
    min_component_fraction: float
    batch_size: int
    device: str
    mirror_tta: bool
    n_preview: int


def run(config: Config) -> dict:
    from breastmri.inference.breast_cases import infer_dataset

    return infer_dataset(
        config.seed_root, config.checkpoint, config.out_dir, threshold_json=optional(config.threshold_json),
        record_path=optional(config.record_path), h5_path=optional(config.h5_path),
        truth_dir=optional(config.truth_dir), metrics_path=optional(config.metrics_path),
        figures_dir=config.figures_dir, tumor_percentile=config.tumor_percentile,
        skin_margin_mm=config.skin_margin_mm, classical_baseline=config.classical_baseline,
        min_component_fraction=config.min_component_fraction, batch_size=config.batch_size, device=config.device,
        mirror_tta=config.mirror_tta, n_preview=config.n_preview, settings=config.heuristics())


def describe(summary: dict) -> str:
    return f"{summary['n_scans']} scans predicted into {summary['out_dir']}"
