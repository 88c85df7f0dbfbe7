"""Planted orientation defects and storage variants of the seed layout, each with its inverse.

A stored scan is ``to_storage(defects.scan(canonical))`` and a stored training mask is
``to_storage(defects.mask(canonical_mask))`` (contracts.md): scan flips act on the canonical array (affine
unchanged); mask flips act on top of the scan's own flips; storage variants are affine-consistent, so
``nibabel.as_closest_canonical`` undoes them exactly (``from_storage`` does the same on the array).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

STORAGES = ("diag", "lps", "transposed")
SCAN_DEFECTS = ("scan_flip_ud", "scan_flip_hf")
MASK_DEFECTS = ("mask_flip_ud", "mask_flip_lr")


@dataclass(frozen=True)
class Defects:
    """What was done to one seed patient's files (the fields are the truth.json keys)."""

    scan_flip_ud: bool = False
    scan_flip_hf: bool = False
    mask_flip_ud: bool = False
    mask_flip_lr: bool = False
    storage: str = "diag"

    def scan(self, canonical: np.ndarray) -> np.ndarray:
        """Scan defects: up/down flips axis 0, head-foot reversal flips axis 2."""
        return _flip(canonical, (0,) * self.scan_flip_ud + (2,) * self.scan_flip_hf)

    def mask(self, canonical: np.ndarray) -> np.ndarray:
        """The scan's flips, then the mask's own up/down (axis 0) and left-right (axis 1) flips."""
        return _flip(self.scan(canonical), (0,) * self.mask_flip_ud + (1,) * self.mask_flip_lr)

    def undo_scan(self, array: np.ndarray) -> np.ndarray:
        return self.scan(array)  # flips are involutions and commute

    def undo_mask(self, array: np.ndarray) -> np.ndarray:
        return self.mask(array)

    def record(self) -> dict:
        return asdict(self)


def _flip(array: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    return np.flip(array, axis=tuple(axes)) if axes else array


def canonical_affine(spacing: Sequence[float]) -> np.ndarray:
    """The seed convention: ``diag(spacing)``, origin 0."""
    return np.diag([*map(float, spacing), 1.0])


def to_storage(array: np.ndarray, spacing: Sequence[float], storage: str) -> tuple[np.ndarray, np.ndarray]:
    """(stored array, affine) of a canonical-frame array.

    ``diag``: as is with ``diag(spacing)``; ``lps``: axes 0 and 1 reversed, their affine columns negated and
    the origin moved to the far corner (as DICOM-derived LPS files); ``transposed``: axes 0 and 1 swapped
    with their affine columns swapped.
    """
    affine = canonical_affine(spacing)
    if storage == "diag":
        return np.ascontiguousarray(array), affine
    if storage == "lps":
        for axis in (0, 1):
            affine[axis, 3] = affine[axis, axis] * (array.shape[axis] - 1)
            affine[:3, axis] *= -1
        return np.ascontiguousarray(array[::-1, ::-1]), affine
    if storage == "transposed":
        return np.ascontiguousarray(array.transpose(1, 0, 2)), affine[:, [1, 0, 2, 3]]
    raise ValueError(f"unknown storage {storage!r} (expected one of {', '.join(STORAGES)})")


def from_storage(array: np.ndarray, storage: str) -> np.ndarray:
    """Inverse of :func:`to_storage` on the array (what ``nibabel.as_closest_canonical`` does)."""
    if storage == "diag":
        return array
    if storage == "lps":
        return array[::-1, ::-1]
    if storage == "transposed":
        return array.transpose(1, 0, 2)
    raise ValueError(f"unknown storage {storage!r} (expected one of {', '.join(STORAGES)})")


def draw_defects(rng: np.random.Generator, splits: Sequence[str], rates: dict[str, float],
                 storage_rate: float, minimum: int = 2) -> list[Defects]:
    """Per-patient defects drawn with ``rates`` (keys: the four defect names), then topped up so each defect
    with a positive rate occurs at least ``minimum`` times per split where it applies (scan defects: train
    and inference; mask defects: train only). A share ``storage_rate`` of patients is stored ``lps`` or
    ``transposed`` (with a positive rate, at least one of each per split that has two patients)."""
    splits = np.asarray(splits)
    n = len(splits)
    flags = {name: rng.random(n) < rates[name] for name in (*SCAN_DEFECTS, *MASK_DEFECTS)}
    for name, flag in flags.items():
        for split in ("train", "inference"):
            members = np.flatnonzero(splits == split)
            if split == "inference" and name in MASK_DEFECTS:
                flag[members] = False
                continue
            _top_up(rng, flag, members, minimum if rates[name] > 0 else 0)
    storage = np.full(n, "diag", dtype=object)
    for split in ("train", "inference"):
        members = np.flatnonzero(splits == split)
        alternative = np.zeros(n, bool)
        alternative[members] = rng.random(len(members)) < storage_rate
        _top_up(rng, alternative, members, 2 if storage_rate > 0 else 0)
        chosen = np.flatnonzero(alternative)
        storage[chosen] = rng.permutation(np.resize(["lps", "transposed"], len(chosen)))
    return [Defects(*(bool(flags[k][i]) for k in (*SCAN_DEFECTS, *MASK_DEFECTS)), storage=str(storage[i]))
            for i in range(n)]


def _top_up(rng: np.random.Generator, flag: np.ndarray, members: np.ndarray, minimum: int) -> None:
    """Set ``flag`` on random ``members`` until at least ``min(minimum, len(members))`` are set."""
    missing = min(minimum, len(members)) - int(flag[members].sum())
    if missing > 0:
        unset = members[~flag[members]]
        flag[rng.choice(unset, size=missing, replace=False)] = True
