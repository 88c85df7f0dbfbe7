"""Intensity and geometry heuristics for what the affine does not capture.

Each decision is one small function returning a :class:`Decision` ``(flip, margin)``:

* ``flip``: whether the array must be flipped to reach the canonical anatomy (see contracts: breast tissue
  at high axis-0 index, axis 2 towards the head, mask on its scan's breast);
* ``margin``: the confidence, ``|score|`` of a signed score in [-1, 1] whose sign gives the decision
  (positive = already canonical). 0 means no evidence either way, in which case nothing is flipped.

Every score is computed from several slices (the median of per-slice scores, or a count over the whole
mask), and is exactly antisymmetric: flipping the input negates the score, so the decision flips and the
margin is unchanged.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

DEFAULT_N_SLICES = 7
DEFAULT_CENTRAL_SPAN = (0.2, 0.8)
DEFAULT_END_FRACTION = 0.2
DEFAULT_BACKGROUND_FRACTION = 0.1
DEFAULT_BRIGHTNESS_PERCENTILE = 99.0


class Decision(NamedTuple):
    flip: bool
    margin: float

    @classmethod
    def from_score(cls, score: float) -> "Decision":
        score = float(score)
        return cls(flip=bool(score < 0), margin=abs(score))


def _relative_difference(a: float, b: float) -> float:
    """(a - b) / (|a| + |b|), 0 when both are 0: a scale-free score in [-1, 1]."""
    denominator = abs(a) + abs(b)
    return 0.0 if denominator <= 0 else float((a - b) / denominator)


def slice_positions(length: int, start: float, stop: float, n: int) -> np.ndarray:
    """``n`` distinct integer indices spread evenly over the fractions [start, stop] of ``length``."""
    idx = np.rint(np.linspace(start * (length - 1), stop * (length - 1), max(1, n))).astype(int)
    return np.unique(np.clip(idx, 0, length - 1))


def _halves(plane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upper (low axis-0 index) and lower halves of an axial plane; an odd middle row is left out."""
    half = plane.shape[0] // 2
    return plane[:half], plane[plane.shape[0] - half:]


def representative_axial_slices(scan: np.ndarray, n_slices: int = DEFAULT_N_SLICES,
                                span: tuple[float, float] = DEFAULT_CENTRAL_SPAN,
                                background_fraction: float = DEFAULT_BACKGROUND_FRACTION) -> np.ndarray:
    """The ``n_slices`` axial slices within ``span`` of axis 2 with the largest tissue (non-background)
    cross-section: the slices through the breasts, which add their area to the body's. The choice does not
    depend on the up/down orientation (area is flip-invariant). Returned sorted by index."""
    candidates = slice_positions(scan.shape[2], span[0], span[1], scan.shape[2])
    area = np.count_nonzero(~background(scan[:, :, candidates], background_fraction, reference=scan), axis=(0, 1))
    order = np.argsort(-area, kind="stable")[:max(1, n_slices)]
    return np.sort(candidates[order])


def scan_up_down(scan: np.ndarray, n_slices: int = DEFAULT_N_SLICES,
                 span: tuple[float, float] = DEFAULT_CENTRAL_SPAN,
                 background_fraction: float = DEFAULT_BACKGROUND_FRACTION) -> Decision:
    """Axial up/down: the breast (bright) half of an axial slice belongs at high axis-0 index.

    Per representative axial slice (:func:`representative_axial_slices`): score = relative difference of
    the lower-half mean and the upper-half mean; the decision uses the median over the slices. Flip axis 0
    if negative.
    """
    scan = np.asarray(scan, dtype=np.float64)
    scores = []
    for k in representative_axial_slices(scan, n_slices, span, background_fraction):
        upper, lower = _halves(scan[:, :, k])
        if upper.size == 0:
            continue
        scores.append(_relative_difference(lower.mean(), upper.mean()))
    return Decision.from_score(np.median(scores) if scores else 0.0)


def scan_head_foot(scan: np.ndarray, n_slices: int = DEFAULT_N_SLICES,
                   end_fraction: float = DEFAULT_END_FRACTION,
                   percentile: float = DEFAULT_BRIGHTNESS_PERCENTILE) -> Decision:
    """Head-foot order: superior axial slices are brighter than inferior ones (osseous structures).

    A slice's brightness is its ``percentile``-th intensity percentile (the bright tail where marrow of
    the shoulders and clavicles shows, insensitive to how much of the slice is air or dark lung). Compares
    ``n_slices`` pairs of axial slices mirrored about the middle of axis 2, taken within ``end_fraction``
    of each end: score = median over pairs of the relative difference (top minus bottom). Reverse axis 2
    if negative.
    """
    scan = np.asarray(scan, dtype=np.float32)
    depth = scan.shape[2]
    if depth < 2:
        return Decision(False, 0.0)
    stop = min(end_fraction, 0.5 - 0.5 / depth)
    bottom = [int(k) for k in slice_positions(depth, 0.0, stop, n_slices) if depth - 1 - k > k]
    if not bottom:
        return Decision(False, 0.0)
    top = [depth - 1 - k for k in bottom]
    bright = np.percentile(scan[:, :, bottom + top], percentile, axis=(0, 1))
    scores = [_relative_difference(bright[len(bottom) + i], bright[i]) for i in range(len(bottom))]
    return Decision.from_score(np.median(scores))


def mask_up_down(mask: np.ndarray) -> Decision:
    """Mask up/down from the mask alone: a breast mask lies in the lower half of every axial slice.

    Per axial slice holding mask voxels: score = offset of the mask's row centroid from the image centre,
    in units of the half height. Median over all such slices; flip axis 0 if negative.
    """
    mask = np.asarray(mask) > 0
    height = mask.shape[0]
    if height < 2:
        return Decision(False, 0.0)
    centre = (height - 1) / 2.0
    rows = np.arange(height, dtype=np.float64)
    per_row = mask.sum(axis=1).astype(np.float64)  # (rows, slices): mask voxels per row of each slice
    counts = per_row.sum(axis=0)
    present = counts > 0
    if not present.any():
        return Decision(False, 0.0)
    centroids = (rows @ per_row[:, present]) / counts[present]
    return Decision.from_score(np.median((centroids - centre) / centre))


def background(scan: np.ndarray, fraction: float = DEFAULT_BACKGROUND_FRACTION,
               reference: np.ndarray | None = None) -> np.ndarray:
    """Low-intensity background of ``scan``: voxels below ``low + fraction * (high - low)``, where low/high
    are the 0.5th/99th intensity percentiles of ``reference`` (default: ``scan`` itself)."""
    scan = np.asarray(scan, dtype=np.float32)
    low, high = np.percentile(scan if reference is None else reference, [0.5, 99.0])
    return scan < low + fraction * (high - low)


def mask_left_right(scan: np.ndarray, mask: np.ndarray,
                    background_fraction: float = DEFAULT_BACKGROUND_FRACTION) -> Decision:
    """Mask left-right: keep the mask or its axis-1 mirror, whichever overlaps the scan's background least.

    The two breasts differ in size, so the wrong side puts part of the larger breast's mask on air.
    score = (overlap of the mirrored mask - overlap of the mask) / mask voxels, summed over all slices;
    flip axis 1 if negative.
    """
    mask = np.asarray(mask) > 0
    total = int(mask.sum())
    if total == 0:
        return Decision(False, 0.0)
    bg = background(scan, background_fraction)
    as_is = int(np.count_nonzero(mask & bg))
    mirrored = int(np.count_nonzero(mask[:, ::-1, :] & bg))
    return Decision.from_score((mirrored - as_is) / total)
