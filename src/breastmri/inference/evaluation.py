"""Segmentation metrics against ground truth: Dice, HD95 in mm (spacing-aware, MONAI), lesion hit; reading a
ground-truth mask on an image's grid."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

from breastmri.data.errors import DataError
from breastmri.data.io import Volume, load_volume
from breastmri.data.overlap import dice
from breastmri.data.validation import check_binary
from breastmri.inference.dce import same_geometry


def hd95_mm(pred: np.ndarray, truth: np.ndarray, spacing: Sequence[float]) -> float:
    """95th-percentile symmetric Hausdorff distance in mm between mask surfaces
    (:func:`monai.metrics.compute_hausdorff_distance`, ``percentile=95``, voxel ``spacing`` in mm per axis).

    0.0 when both masks are empty; ``inf`` when exactly one is empty (undefined distance).
    """
    pred, truth = np.asarray(pred) > 0, np.asarray(truth) > 0
    if pred.shape != truth.shape:
        raise ValueError(f"prediction {pred.shape} and truth {truth.shape} differ in shape")
    if not pred.any() and not truth.any():
        return 0.0
    if not pred.any() or not truth.any():
        return math.inf
    import torch  # lazily: MONAI takes about 2 s to import, and the one-case command scores only with --mask_path
    from monai.metrics import compute_hausdorff_distance

    y_pred = torch.from_numpy(pred[None, None].astype(np.float32))
    y = torch.from_numpy(truth[None, None].astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = compute_hausdorff_distance(y_pred, y, include_background=True, percentile=95,
                                           spacing=[float(s) for s in spacing])
    return float(value.reshape(-1)[0])


def hit(candidate: np.ndarray, lesion: np.ndarray) -> bool:
    """True when the tumour candidate overlaps the true lesion by at least one voxel."""
    candidate, lesion = np.asarray(candidate) > 0, np.asarray(lesion) > 0
    if candidate.shape != lesion.shape:
        raise ValueError(f"candidate {candidate.shape} and lesion {lesion.shape} differ in shape")
    return bool(np.logical_and(candidate, lesion).any())


def summarize(values: Sequence[float]) -> dict:
    """mean / median / min / max of the finite values, and how many were not finite."""
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    finite = arr[np.isfinite(arr)]
    out = {"n": int(len(values)), "n_not_finite": int(len(values) - len(finite))}
    if len(finite):
        out.update(mean=float(finite.mean()), median=float(np.median(finite)), min=float(finite.min()),
                   max=float(finite.max()))
    return out


def overlap_metrics(pred: np.ndarray, truth: np.ndarray, spacing: Sequence[float]) -> dict:
    """``{"dice": ..., "hd95_mm": ...}`` of a predicted mask against the truth on the same grid."""
    return {"dice": dice(pred, truth), "hd95_mm": hd95_mm(pred, truth, spacing)}


def evaluate_case(breast: np.ndarray, tumor: np.ndarray, spacing: Sequence[float],
                  truth_breast: np.ndarray | None = None, truth_lesion: np.ndarray | None = None) -> dict:
    """Per-case metrics: breast Dice / HD95 (mm) when a breast truth is given; tumour hit, candidate Dice
    and HD95 when a lesion truth is given. All masks on the same (stored) grid."""
    out: dict = {}
    if truth_breast is not None:
        out.update({f"breast_{k}": v for k, v in overlap_metrics(breast, truth_breast, spacing).items()})
    if truth_lesion is not None:
        out["tumor_hit"] = hit(tumor, truth_lesion)
        out.update({f"tumor_{k}": v for k, v in overlap_metrics(tumor, truth_lesion, spacing).items()})
    return out


def load_truth_mask(path, reference: Volume) -> np.ndarray:
    """The ground-truth mask as uint8; it must lie on ``reference``'s grid and hold only 0 and 1."""
    truth = load_volume(path, reference.patient_id, dtype=np.float32)
    if not same_geometry(truth, reference):
        raise DataError(path, f"mask grid (shape {truth.shape}) differs from the image's "
                              f"{reference.path.name if reference.path else ''} (shape {reference.shape})")
    check_binary(truth, "mask")
    return truth.array.astype(np.uint8)
