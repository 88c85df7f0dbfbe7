"""Intensity normalisation: percentile clipping + z-score, and the lesion task's case-level statistics."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

EPS = 1e-6


def clip_zscore(image: np.ndarray, low_pct: float = 1.0, high_pct: float = 99.0,
                eps: float = EPS) -> np.ndarray:
    """Clip to the ``[low_pct, high_pct]`` percentiles of ``image``, then z-score; float32 out
    (:class:`ClipZScore` fitted to ``image`` and applied to it).

    Safe on constant input: when the standard deviation after clipping is below ``eps`` the result
    is all zeros (not NaN/inf). The whole-breast task applies it to the whole 3D volume, so all slices
    of a patient share one scale.
    """
    x = np.asarray(image, dtype=np.float32)
    if x.size == 0:
        ClipZScore.check_percentiles(low_pct, high_pct)
        return x.copy()
    return ClipZScore.fit(x, low_pct, high_pct, eps)(x)


@dataclass(frozen=True)
class ClipZScore:
    """The whole-breast normalisation of one volume: clip to ``[lo, hi]`` (percentiles of the volume), subtract
    the clipped volume's ``mean`` and divide by its ``std``, in float64, to float32. Fitted once to the volume, it
    applies to the volume or to any part of it (a slice: the part's voxels get what the whole volume's would).

    The result is, bit for bit, ``((c - c.mean()) / c.std()).astype(float32)`` with ``c`` the float64 clipped
    volume (``numpy.clip`` promotes to the float64 percentiles), computed a chunk at a time so that no float64
    copy of the volume is made (:func:`_clipped_moments`): a 448 x 448 x 155 scan in a fresh process, 0.16 s
    instead of 0.6-1.0 s (most of that was the first touch of three 250 MB temporaries)."""

    lo: float
    hi: float
    mean: float
    std: float  # 0.0 where the clipped volume has (almost) no contrast: everything normalises to 0

    @staticmethod
    def check_percentiles(low_pct: float, high_pct: float) -> None:
        if not 0.0 <= low_pct < high_pct <= 100.0:
            raise ValueError(f"need 0 <= low_pct < high_pct <= 100, got {low_pct}, {high_pct}")

    @classmethod
    def fit(cls, image: np.ndarray, low_pct: float = 1.0, high_pct: float = 99.0, eps: float = EPS) -> ClipZScore:
        """The percentiles of a non-empty ``image`` and the moments of it clipped to them; a standard deviation
        below ``eps`` is stored as 0."""
        cls.check_percentiles(low_pct, high_pct)
        x = np.asarray(image, dtype=np.float32)
        if x.size == 0:
            raise ValueError("no voxels to normalise")
        lo, hi = percentiles(x, [low_pct, high_pct])
        mean, std = _clipped_moments(np.ravel(x, order="K"), lo, hi)  # numpy sums a volume in memory order
        return cls(lo, hi, mean, 0.0 if std < eps else std)  # NaN stays (NaN voxels give NaN, as numpy does)

    def __call__(self, part: np.ndarray) -> np.ndarray:
        """``part`` (of the fitted volume, any shape and layout) normalised, float32."""
        x = np.asarray(part, dtype=np.float32)
        if self.std == 0.0:
            return np.zeros(x.shape, np.float32)  # float32 like the z-scored path
        flat = np.ravel(x, order="K")
        out = np.empty_like(x, order="K")
        flat_out = np.ravel(out, order="K")  # a view: the same order as ``flat``
        for start in range(0, flat.size, _CHUNK):
            chunk = _clipped(flat, self.lo, self.hi, start, start + _CHUNK)
            np.subtract(chunk, self.mean, out=chunk)
            flat_out[start:start + chunk.size] = np.divide(chunk, self.std, out=chunk)  # float64 -> float32
        return out


def _clipped(flat: np.ndarray, lo, hi, start: int, stop: int) -> np.ndarray:
    """``flat[start:stop]`` in float64, clipped to ``[lo, hi]``."""
    chunk = flat[start:stop].astype(np.float64)
    return np.clip(chunk, lo, hi, out=chunk)


def _clipped_moments(flat: np.ndarray, lo, hi) -> tuple[float, float]:
    """The mean and the standard deviation (float64) of ``flat`` clipped to ``[lo, hi]``, bit for bit numpy's
    ``mean()`` and ``std()`` of the clipped array, without making it."""
    n = flat.size
    mean = float(_chunk_sums(lambda a, b: np.add.reduce(_clipped(flat, lo, hi, a, b)), n) / n)
    squares = _chunk_sums(lambda a, b: np.add.reduce(np.square(_clipped(flat, lo, hi, a, b) - mean)), n)
    return mean, float(np.sqrt(squares / n))


#: Elements per chunk of :class:`ClipZScore` (1 MB of float64: the cache, not the memory, holds it).
_CHUNK = 1 << 17


def _chunk_sums(chunk_sum, n: int, start: int = 0) -> np.float64:
    """``numpy.add.reduce`` of a float64 sequence of ``n`` elements from the sums of its chunks (``chunk_sum(start,
    stop)``, each at most :data:`_CHUNK` long), added in the tree of numpy's pairwise summation (halves, the first
    a multiple of 8 long): the same bits as summing the whole sequence at once, which numpy does by that tree."""
    if n <= _CHUNK:
        return chunk_sum(start, start + n)
    half = n // 2 - (n // 2) % 8
    return _chunk_sums(chunk_sum, half, start) + _chunk_sums(chunk_sum, n - half, start + half)


def percentiles(values: np.ndarray, q) -> np.ndarray:
    """``numpy.percentile(values, q)`` (method linear, every element), bit for bit, at a fraction of its cost on a
    large volume: the two order statistics each percentile interpolates are selected among the elements below
    (above) a bound drawn from a strided sample (about 2% of a volume for the 1st and 99th percentiles) instead
    of partitioning every element, and the interpolation is numpy's own (``numpy.quantile`` of those two values
    at the same fraction). Where the bound leaves too few elements, the values hold a NaN, a percentile is the
    maximum, or ``q`` or the values are of another kind than a list of float64 percentages and integer or float16-64
    values, every element is partitioned as numpy does (the same result). The one difference: where the values
    mix -0.0 and 0.0, a zero percentile may carry the other sign. A 448 x 448 x 155 float32 scan: 0.1 s instead of
    0.5 s."""
    flat = np.ravel(values, order="K")  # memory order: a view of any contiguous array (the order does not matter)
    fractions = np.asanyarray(np.true_divide(q, 100))  # as numpy.percentile computes them
    n = flat.size
    if (fractions.ndim != 1 or fractions.dtype != np.float64 or not np.all((fractions >= 0) & (fractions <= 1))
            or n < 2 or flat.dtype.kind not in "iuf" or flat.dtype.itemsize > 8
            or (flat.dtype.kind == "f" and np.isnan(flat.min()))):
        return np.percentile(flat, q)
    position = (n - 1) * fractions  # numpy's virtual index: interpolate between floor(position) and the next
    below = np.floor(position)
    picked = None if np.any(position >= n - 1) else _order_statistics(  # (the maximum: numpy's own rule)
        flat, np.unique(np.concatenate([below, below + 1]).astype(np.intp)))
    if picked is None:
        return np.percentile(flat, q)
    out = np.empty(fractions.shape, np.float64)
    for i, (pos, low) in enumerate(zip(position, below.astype(np.intp))):
        pair = np.array([picked[low], picked[low + 1]], dtype=flat.dtype)
        out[i] = np.quantile(pair, np.array([pos - low]))[0]  # numpy's interpolation of the two at this fraction
    return out


def _order_statistics(flat: np.ndarray, order: np.ndarray, sample_size: int = 65536) -> dict | None:
    """``{k: the k-th smallest element of flat}`` for each ``k`` in ``order``: those of the lower half found among
    the elements at or below a bound, those of the upper half among the elements at or above one, each bound
    taken from a strided sample at about twice the farthest rank's share; None where a bound leaves too few
    elements (the caller partitions everything)."""
    n = flat.size
    sample = np.sort(flat[::max(1, n // sample_size)])
    last = len(sample) - 1
    found = {}
    low = [int(k) for k in order if (k + 1) / n <= 0.5]
    high = [int(k) for k in order if (k + 1) / n > 0.5]
    if low:
        bound = sample[min(last, int(np.ceil((2 * (max(low) + 1) / n + 0.001) * last)))]
        subset = flat[flat <= bound]  # every element not in it is larger: its k-th smallest is flat's
        if subset.size <= max(low):
            return None
        found.update(zip(low, np.partition(subset, low)[low]))
    if high:
        bound = sample[max(0, int(np.floor((1 - 2 * (1 - (min(high) + 1) / n) - 0.001) * last)))]
        subset = flat[flat >= bound]  # every element not in it is smaller: n - subset.size of them
        ranks = [k - (n - subset.size) for k in high]
        if min(ranks) < 0:
            return None
        found.update(zip(high, np.partition(subset, ranks)[ranks]))
    return found


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
