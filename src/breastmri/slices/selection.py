"""Lesion task slice selection: positives, far-from-lesion tissue negatives, 1:1 balance, seeded.

Definitions (all thresholds are ``build_hdf5`` parameters; slice indices are along axis 2 of the
isotropic 1 mm volume):

* a **positive** slice has at least ``min_lesion_px`` lesion pixels in its *stored* (resized) mask;
* a **lesion slice** is any slice with at least one lesion voxel (slices with
  ``0 < area < min_lesion_px`` are lesion slices but neither positive nor negative);
* a **negative candidate** is
    - far from the lesion: ``|k - l| >= neg_exclusion_slices`` for every lesion slice ``l``;
    - rich in tissue: its area brighter than the case's Otsu threshold of the pre-contrast phase (fat
      and fibroglandular tissue) is at least ``neg_min_tissue_ratio`` times the largest such area of
      any slice of the case (a ratio to the case's own maximum: independent of the field of view);
    - in the breast block: inside the contiguous run of such tissue-rich slices that contains the
      lesion (anchored on its largest-area slice), which keeps out e.g. shoulder or abdominal slices
      separated from the breasts by a tissue-poor gap.
  The rule uses intensities only: no breast mask and no truth.
* **balance** (:func:`balance`): every positive is kept; each case first gets as many negatives as it
  has positives (or all its candidates if fewer); the shortfall is then drawn one slice at a time
  from cases with spare candidates (cases visited in a seeded random order); only if the whole data
  set has fewer candidates than positives are positives dropped (seeded) to match. So the file is
  exactly 1:1, and each case is 1:1 whenever its own candidates allow. Random choices use a generator
  seeded by the build seed (and the case id within a case), never by worker scheduling.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np
import SimpleITK as sitk


def case_rng(seed: int, case: str) -> np.random.Generator:
    """A generator that depends only on the build seed and the case id."""
    return np.random.default_rng([int(seed), zlib.crc32(case.encode("utf-8"))])


def otsu_threshold(volume: np.ndarray) -> float:
    """Otsu's threshold of a volume's intensities (SimpleITK, 128 bins)."""
    f = sitk.OtsuThresholdImageFilter()
    f.SetNumberOfHistogramBins(128)
    f.Execute(sitk.GetImageFromArray(np.ascontiguousarray(volume, dtype=np.float32)))
    return float(f.GetThreshold())


def tissue_fractions(volume: np.ndarray, threshold: float) -> np.ndarray:
    """Per slice (axis 2): the fraction of pixels above ``threshold``."""
    return (np.asarray(volume) > threshold).mean(axis=(0, 1))


def tissue_ratios(volume: np.ndarray) -> np.ndarray:
    """Per slice: above-Otsu area divided by the largest above-Otsu area of any slice of ``volume``."""
    fractions = tissue_fractions(volume, otsu_threshold(volume))
    peak = float(fractions.max())
    return fractions / peak if peak > 0 else np.zeros_like(fractions)


def distance_to_lesion(lesion_any: np.ndarray) -> np.ndarray:
    """Per slice: the distance in slices to the nearest lesion slice (``inf`` if the case has none)."""
    lesion_idx = np.flatnonzero(lesion_any)
    k = np.arange(len(lesion_any))
    if lesion_idx.size == 0:
        return np.full(len(lesion_any), np.inf)
    return np.abs(k[:, None] - lesion_idx[None, :]).min(axis=1).astype(np.float64)


def run_containing(flags: np.ndarray, anchor: int) -> np.ndarray:
    """Boolean mask of the contiguous run of ``True`` in ``flags`` that contains ``anchor`` (empty if False)."""
    flags = np.asarray(flags, dtype=bool)
    out = np.zeros_like(flags)
    if not flags[anchor]:
        return out
    lo = hi = anchor
    while lo > 0 and flags[lo - 1]:
        lo -= 1
    while hi < len(flags) - 1 and flags[hi + 1]:
        hi += 1
    out[lo:hi + 1] = True
    return out


def breast_block(tissue_ratio: np.ndarray, lesion_area: np.ndarray, min_ratio: float) -> np.ndarray:
    """Slices in the run of tissue-rich slices containing the lesion (see the module docstring).

    Anchored on the slice with the largest lesion area; if that slice is not tissue-rich, on the
    tissue-richest lesion slice; empty when no lesion slice is tissue-rich (or there is no lesion).
    """
    rich = np.asarray(tissue_ratio) >= min_ratio
    lesion_area = np.asarray(lesion_area)
    if not lesion_area.any():
        return np.zeros_like(rich)
    anchor = int(np.argmax(lesion_area))
    if not rich[anchor]:
        lesion_idx = np.flatnonzero(lesion_area)
        anchor = int(lesion_idx[np.argmax(np.asarray(tissue_ratio)[lesion_idx])])
    return run_containing(rich, anchor)


@dataclass(frozen=True)
class CaseCandidates:
    """Positive slices and negative candidates of one case (sorted slice indices)."""

    case: str
    positives: np.ndarray
    negatives: np.ndarray
    n_slices: int = 0
    info: dict = field(default_factory=dict)


def case_candidates(case: str, stored_areas: np.ndarray, lesion_area: np.ndarray, tissue_ratio: np.ndarray, *,
                    min_lesion_px: int, neg_exclusion_slices: int, neg_min_tissue_ratio: float) -> CaseCandidates:
    """Apply the positive and negative-candidate rules to one case's per-slice measurements.

    ``stored_areas``: lesion pixels of each stored (resized) mask slice; ``lesion_area``: lesion voxels
    of each slice of the 1 mm volume; ``tissue_ratio``: :func:`tissue_ratios` of the pre-contrast phase.
    """
    stored_areas, lesion_area = np.asarray(stored_areas), np.asarray(lesion_area)
    tissue_ratio = np.asarray(tissue_ratio, dtype=np.float64)
    if not (len(stored_areas) == len(lesion_area) == len(tissue_ratio)):
        raise ValueError("stored_areas, lesion_area and tissue_ratio must have one entry per slice")
    lesion_any = lesion_area > 0
    pos = np.flatnonzero(stored_areas >= min_lesion_px)
    far = distance_to_lesion(lesion_any) >= neg_exclusion_slices
    block = breast_block(tissue_ratio, lesion_area, neg_min_tissue_ratio)
    neg = np.flatnonzero(far & ~lesion_any & block)
    return CaseCandidates(case, pos.astype(np.int64), neg.astype(np.int64), len(stored_areas),
                          {"lesion_slices": int(lesion_any.sum()), "breast_block_slices": int(block.sum())})


@dataclass(frozen=True)
class CaseSelection:
    positives: np.ndarray   # sorted slice indices
    negatives: np.ndarray   # sorted slice indices

    @property
    def indices(self) -> np.ndarray:
        """All selected slice indices, ascending."""
        return np.sort(np.concatenate([self.positives, self.negatives])).astype(np.int64)


def balance(candidates: list[CaseCandidates], seed: int) -> dict[str, CaseSelection]:
    """Choose the slices of every case so the whole set is exactly 1:1 (see the module docstring)."""
    cases = sorted(candidates, key=lambda c: c.case)
    rng = np.random.default_rng([int(seed), 0x5E1EC7])
    # each case's candidates in a seeded random order: taking a prefix is a random draw
    neg_order = {c.case: case_rng(seed, c.case).permutation(c.negatives) for c in cases}
    pos_keep = {c.case: np.asarray(c.positives) for c in cases}
    quota = {c.case: min(len(c.positives), len(c.negatives)) for c in cases}
    total_pos = sum(len(p) for p in pos_keep.values())
    total_neg_available = sum(len(c.negatives) for c in cases)
    if total_neg_available < total_pos:  # globally short: drop positives at random to match
        owners = np.concatenate([[i] * len(c.positives) for i, c in enumerate(cases)]).astype(int) \
            if total_pos else np.empty(0, int)
        slots = np.concatenate([np.asarray(c.positives) for c in cases]) if total_pos else np.empty(0, int)
        keep = np.sort(rng.choice(total_pos, size=total_neg_available, replace=False))
        pos_keep = {c.case: np.sort(slots[keep][owners[keep] == i]) for i, c in enumerate(cases)}
        quota = {c.case: len(c.negatives) for c in cases}
    else:
        deficit = total_pos - sum(quota.values())
        order = [cases[i].case for i in rng.permutation(len(cases))]
        while deficit > 0:
            progressed = False
            for case in order:
                if deficit and quota[case] < len(neg_order[case]):
                    quota[case] += 1
                    deficit -= 1
                    progressed = True
            if not progressed:  # cannot happen (enough candidates), but never loop forever
                break
    return {c.case: CaseSelection(np.sort(pos_keep[c.case]).astype(np.int64),
                                  np.sort(neg_order[c.case][:quota[c.case]]).astype(np.int64)) for c in cases}
