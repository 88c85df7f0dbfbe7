"""Intensity normalisation: percentile clipping + z-score, and the lesion task's case-level statistics."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

EPS = 1e-6


def clip_zscore(image: np.ndarray, low_pct: float = 1.0, high_pct: float = 99.0,
                eps: float = EPS) -> np.ndarray:
    """Clip to the ``[low_pct, high_pct]`` percentiles of ``image``, then z-score; float32 out.

    Safe on constant input: when the standard deviation after clipping is below ``eps`` the result
    is all zeros (not NaN/inf). The whole-breast task applies it to the whole 3D volume, so all slices
    of a patient share one scale.
    """
    if not 0.0 <= low_pct < high_pct <= 100.0:
        raise ValueError(f"need 0 <= low_pct < high_pct <= 100, got {low_pct}, {high_pct}")
    x = np.asarray(image, dtype=np.float32)
    if x.size == 0:
        return x.copy()
    lo, hi = np.percentile(x, [low_pct, high_pct])
    x = np.clip(x, lo, hi)
    mean = float(x.mean(dtype=np.float64))
    std = float(x.std(dtype=np.float64))
    if std < eps:
        return np.zeros(x.shape, np.float32)  # float32 like the z-scored path (np.clip promotes to float64)
    return ((x - mean) / std).astype(np.float32, copy=False)


@dataclass(frozen=True)
class CaseNormalizer:
    """Mean/std over all voxels of all present phases of one case (lesion task)."""

    mean: float
    std: float

    @classmethod
    def fit(cls, volumes: Iterable[np.ndarray]) -> CaseNormalizer:
        """Pooled mean and standard deviation of every voxel of ``volumes`` (computed in float64)."""
        count, total, total_sq = 0, 0.0, 0.0
        for vol in volumes:
            v = np.asarray(vol, dtype=np.float64)
            count += v.size
            total += float(v.sum())
            total_sq += float(np.square(v).sum())
        if count == 0:
            raise ValueError("no voxels to normalise")
        mean = total / count
        var = max(total_sq / count - mean * mean, 0.0)
        return cls(mean=mean, std=float(np.sqrt(var)))

    def __call__(self, volume: np.ndarray) -> np.ndarray:
        """``(volume - mean) / std`` as float32; all zeros when the case has (almost) no contrast."""
        v = np.asarray(volume, dtype=np.float32)
        if self.std < EPS:
            return np.zeros_like(v)
        return ((v - self.mean) / self.std).astype(np.float32, copy=False)
