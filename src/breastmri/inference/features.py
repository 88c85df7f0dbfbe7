"""Per-patient features of the tumour candidate (and the breast), cheap to compute with numpy/scipy.

Names (all prefixed, so they are unambiguous next to clinical columns):

* ``tumor_volume_voxels``, ``tumor_volume_mm3``: candidate size;
* first order (over candidate voxels of the scan, original intensities): ``tumor_mean_intensity``,
  ``tumor_max_intensity``, ``tumor_std_intensity``, ``tumor_skewness``, ``tumor_kurtosis`` (excess, Fisher;
  as scipy.stats computes them), ``tumor_to_breast_mean_ratio`` (candidate mean / breast mean);
* shape: ``tumor_surface_area_mm2`` (area of the exposed voxel faces: a voxelised surface, biased high
  against a smooth one, but cheap and exact for the voxel object), ``tumor_sphericity``
  (pi^(1/3) (6V)^(2/3) / A on that surface), ``tumor_extent`` (fraction of the axis-aligned bounding box
  filled), ``tumor_major_axis_mm`` (4 sqrt(largest eigenvalue) of the physical-coordinate covariance, as in
  pyradiomics), ``tumor_elongation`` (sqrt(l_minor / l_major)) and ``tumor_flatness``
  (sqrt(l_least / l_major)), 1 = isotropic;
* ``breast_volume_mm3``.

An empty candidate has volume 0 and NaN for the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from breastmri.inference.postprocess import bounding_box

if TYPE_CHECKING:
    import pandas as pd

TUMOR_PREFIX = "tumor_"         # the features of the tumour candidate
TRUSTED = "candidate_trusted"  # the table's column saying whether the candidate (so its features) can be trusted
FEATURE_NAMES = (
    "tumor_volume_voxels", "tumor_volume_mm3", "tumor_mean_intensity", "tumor_max_intensity",
    "tumor_std_intensity", "tumor_skewness", "tumor_kurtosis", "tumor_to_breast_mean_ratio",
    "tumor_surface_area_mm2", "tumor_sphericity", "tumor_extent", "tumor_major_axis_mm",
    "tumor_elongation", "tumor_flatness", "breast_volume_mm3",
)


def surface_area_mm2(mask: np.ndarray, spacing: Sequence[float]) -> float:
    """Total area of voxel faces between the mask and its outside (volume border counts as outside).

    Counted on the mask's bounding box: every exposed face lies inside it or on its border (the padding)."""
    mask = np.asarray(mask) > 0
    box = bounding_box(mask)
    mask = np.pad(mask[box] if box is not None else mask[(slice(0, 0),) * mask.ndim], 1)
    sx, sy, sz = (float(s) for s in spacing)
    face_area = (sy * sz, sx * sz, sx * sy)
    return float(sum(np.count_nonzero(np.diff(mask, axis=a)) * face_area[a] for a in range(3)))


def _axes_eigenvalues(mask: np.ndarray, spacing: Sequence[float], coords: np.ndarray | None = None) -> np.ndarray:
    """``coords``: ``np.argwhere(mask)`` when the caller has it."""
    coords = (np.argwhere(mask) if coords is None else coords).astype(np.float64) * np.asarray(spacing,
                                                                                               dtype=np.float64)
    if len(coords) < 2:
        return np.zeros(3)
    cov = np.cov(coords, rowvar=False)
    return np.clip(np.sort(np.linalg.eigvalsh(cov))[::-1], 0.0, None)  # major, minor, least


def _central_moments(values: np.ndarray) -> tuple[np.float64, np.float64, np.float64, np.float64]:
    """Mean and 2nd, 3rd and 4th central moments of 1D float64 ``values``, each computed with exactly the
    operations of :func:`scipy.stats.skew` / :func:`scipy.stats.kurtosis` (scipy's ``_moment``: the mean kept as
    a 1-element array, powers by squaring), so the features are bit for bit scipy's without importing
    ``scipy.stats`` (about half a second); ``tests/inference/test_features.py`` holds the two to each other."""
    mean = np.mean(values, keepdims=True)
    deviation = values - mean
    square = deviation ** 2
    return mean[0], np.mean(square), np.mean(square * deviation), np.mean(square ** 2)


def skewness_kurtosis(values: np.ndarray) -> tuple[float, float]:
    """``(scipy.stats.skew(values), scipy.stats.kurtosis(values))`` (biased, Fisher) of 1D float64 ``values``:
    NaN both where scipy finds no variance (``m2 <= (eps * mean)**2``)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    mean, m2, m3, m4 = _central_moments(values)
    with np.errstate(all="ignore"):
        if m2 <= (np.finfo(np.float64).eps * mean) ** 2:
            return float("nan"), float("nan")
        return float(m3 / m2 ** 1.5), float(m4 / m2 ** 2.0 - 3)


def patient_features(image: np.ndarray, breast_mask: np.ndarray, candidate: np.ndarray,
                     spacing: Sequence[float]) -> dict[str, float]:
    """Features of one patient (see the module docstring). Arrays share one grid; ``spacing`` in mm."""
    image = np.asarray(image)  # the voxels used are taken to float64 (exactly), not the whole volume
    if not np.issubdtype(image.dtype, np.number) or np.issubdtype(image.dtype, np.complexfloating):
        image = np.asarray(image, dtype=np.float64)
    breast, cand = np.asarray(breast_mask) > 0, np.asarray(candidate) > 0
    if not image.shape == breast.shape == cand.shape:
        raise ValueError(f"shapes differ: image {image.shape}, breast {breast.shape}, candidate {cand.shape}")
    voxel_mm3 = float(np.prod(np.asarray(spacing, dtype=np.float64)))
    out = dict.fromkeys(FEATURE_NAMES, float("nan"))
    n_breast = int(np.count_nonzero(breast))
    out["breast_volume_mm3"] = float(n_breast) * voxel_mm3
    box = bounding_box(cand)
    n = 0 if box is None else int(np.count_nonzero(cand[box]))
    out["tumor_volume_voxels"] = float(n)
    out["tumor_volume_mm3"] = n * voxel_mm3
    if n == 0:
        return out
    offset = np.array([b.start for b in box])
    coords = np.argwhere(cand[box]) + offset  # np.argwhere(cand): the same rows in the same (C) order
    values = image[tuple(coords.T)].astype(np.float64)
    out["tumor_mean_intensity"] = float(values.mean())
    out["tumor_max_intensity"] = float(values.max())
    out["tumor_std_intensity"] = float(values.std())
    if n > 2 and np.ptp(values) > 0:
        out["tumor_skewness"], out["tumor_kurtosis"] = skewness_kurtosis(values)
    breast_mean = float(image[breast].astype(np.float64).mean()) if n_breast else float("nan")
    out["tumor_to_breast_mean_ratio"] = out["tumor_mean_intensity"] / breast_mean if breast_mean else float("nan")
    area = surface_area_mm2(cand[box], spacing)
    volume = n * voxel_mm3
    out["tumor_surface_area_mm2"] = area
    out["tumor_sphericity"] = float(np.pi ** (1 / 3) * (6 * volume) ** (2 / 3) / area)
    lo, hi = coords.min(0), coords.max(0)
    out["tumor_extent"] = n / float(np.prod(hi - lo + 1))
    major, minor, least = _axes_eigenvalues(cand, spacing, coords)
    out["tumor_major_axis_mm"] = float(4 * np.sqrt(major))
    if major > 0:
        out["tumor_elongation"] = float(np.sqrt(minor / major))
        out["tumor_flatness"] = float(np.sqrt(least / major))
    return out


def features_table(rows: dict[str, dict[str, float]]) -> pd.DataFrame:
    """Patient-level table indexed by ``patient_id`` (sorted), columns in :data:`FEATURE_NAMES` order."""
    import pandas as pd
    df = pd.DataFrame.from_dict(rows, orient="index")
    df = df.reindex(columns=[c for c in FEATURE_NAMES if c in df.columns] +
                    [c for c in df.columns if c not in FEATURE_NAMES])
    df.index.name = "patient_id"
    return df.sort_index()
