"""Functional tumour volume (FTV) and a predicted lesion's agreement with it.

Real DCE exams rarely come with a tumour outline; I-SPY's FTV is the reference they do support: the voxels of a
tissue mask (the analysis box's breast tissue) whose first post-contrast signal exceeds the pre-contrast one by
at least ``min_enhancement`` (percent enhancement ``(S1 - S0) / S0 >= 0.7``). A plausible lesion prediction
covers most of the FTV and lies on or near it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage


def percent_enhancement(pre: np.ndarray, post: np.ndarray) -> np.ndarray:
    """``(post - pre) / pre`` (float32); 0 where ``pre <= 0`` (no signal: enhancement undefined)."""
    pre = np.asarray(pre, dtype=np.float32)
    post = np.asarray(post, dtype=np.float32)
    if pre.shape != post.shape:
        raise ValueError(f"pre-contrast {pre.shape} and post-contrast {post.shape} differ in shape")
    out = np.zeros(pre.shape, np.float32)
    np.divide(post - pre, pre, out=out, where=pre > 0)
    return out


def functional_tumour_volume(pre: np.ndarray, post: np.ndarray, tissue: np.ndarray,
                             min_enhancement: float = 0.7) -> np.ndarray:
    """The FTV mask (``uint8``): voxels of ``tissue`` with percent enhancement ``>= min_enhancement``."""
    tissue = np.asarray(tissue) > 0
    if tissue.shape != np.shape(pre):
        raise ValueError(f"tissue mask {tissue.shape} and images {np.shape(pre)} differ in shape")
    return (tissue & (percent_enhancement(pre, post) >= min_enhancement)).astype(np.uint8)


def ftv_agreement(prediction: np.ndarray, ftv: np.ndarray, spacing: Sequence[float], near_mm: float = 2.0) -> dict:
    """Volumes (ml) and the two shares: ``ftv_covered`` (of the FTV inside the prediction) and ``pred_near_ftv``
    (of the predicted voxels within ``near_mm`` of the FTV, centre to centre). A share of nothing is ``nan``."""
    pred, ftv = np.asarray(prediction) > 0, np.asarray(ftv) > 0
    if pred.shape != ftv.shape:
        raise ValueError(f"prediction {pred.shape} and FTV {ftv.shape} differ in shape")
    spacing = tuple(float(s) for s in spacing)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    near = ndimage.distance_transform_edt(~ftv, sampling=spacing) <= near_mm if ftv.any() else ftv
    n_pred, n_ftv = int(pred.sum()), int(ftv.sum())
    return {"ftv_ml": n_ftv * voxel_ml, "pred_ml": n_pred * voxel_ml,
            "ftv_covered": float((pred & ftv).sum() / n_ftv) if n_ftv else float("nan"),
            "pred_near_ftv": float((pred & near).sum() / n_pred) if n_pred else float("nan")}
