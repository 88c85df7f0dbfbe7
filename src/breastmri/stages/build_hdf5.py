"""The slice datasets: one HDF5 per task (breast: oriented seed layout; lesion: MAMA-MIA DCE)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from breastmri.stages.config import DataConfig

NOTEBOOK = "notebooks/04_build_hdf5.ipynb"


@dataclass(frozen=True)
class Config(DataConfig):
    SECTIONS = ("data", "build_hdf5")
    oriented_dir: str
    out_dir: str
    metrics_dir: str
    seed: int
    val_fraction: float
    workers: int
    scheduler: str
    shard_dir: str
    keep_shards: bool
    image_compression: str
    mask_compression: str
    breast_size: int
    breast_clip_low_pct: float
    breast_clip_high_pct: float
    lesion_size: int
    lesion_spacing_mm: float
    lesion_channels: list
    lesion_breast_box: str
    lesion_min_area_px: int
    lesion_neg_exclusion_slices: int
    lesion_neg_min_tissue_ratio: float


def run(config: Config) -> dict:
    """``{"breast": summary, "lesion": summary}``: ``<out_dir>/<task>.h5`` and ``<metrics_dir>/build_hdf5_<task>.json``."""
    from breastmri.slices.build import build_breast_h5, build_lesion_h5

    out_dir, metrics_dir = Path(config.out_dir), Path(config.metrics_dir)
    common = dict(val_fraction=config.val_fraction, seed=config.seed, workers=config.workers,
                  scheduler=config.scheduler, shard_dir=config.shard_dir, keep_shards=config.keep_shards,
                  image_compression=config.image_compression, mask_compression=config.mask_compression)
    breast = build_breast_h5(config.oriented_dir, out_dir / "breast.h5", size=config.breast_size,
                             low_pct=config.breast_clip_low_pct, high_pct=config.breast_clip_high_pct,
                             summary_path=metrics_dir / "build_hdf5_breast.json", **common)
    lesion = build_lesion_h5(config.mamamia_root, out_dir / "lesion.h5", phases=config.lesion_channels,
                             breast_box=config.lesion_breast_box, size=config.lesion_size,
                             spacing_mm=config.lesion_spacing_mm, min_lesion_px=config.lesion_min_area_px,
                             neg_exclusion_slices=config.lesion_neg_exclusion_slices,
                             neg_min_tissue_ratio=config.lesion_neg_min_tissue_ratio,
                             summary_path=metrics_dir / "build_hdf5_lesion.json", **common)
    return {"breast": breast, "lesion": lesion}


def describe(summary: dict) -> str:
    """Slices per task and their balance (the key figure), the split, and the work done or reused."""
    def task_line(task: str, s: dict) -> str:
        lesion = "positives" in s
        balance = (f"{s['positives']} positive / {s['negatives']} negative (balance {s['balance_pos_minus_neg']:+d})"
                   if lesion else f"{s['slices_with_mask']} with breast / {s['slices_without_mask']} without")
        split = s["patients"]
        held_out = (f", {len(s['test_cases'])} official test cases held out"
                    if s.get("split_source") == "official" else "")
        return (f"{task}: {s['n_slices']} slices, {balance}, {split.get('train', 0)} train / "
                f"{split.get('validation', 0)} validation {'cases' if lesion else 'patients'}{held_out} "
                f"({s['cases_computed']} cases computed, {s['cases_reused']} reused from shards)")

    return "; ".join(task_line(task, s) for task, s in summary.items())
