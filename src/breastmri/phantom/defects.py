"""What is done to each seed-layout patient's files: the stored orientation and the planted defects.

Seed-convention cohorts (``affine: seed``) store the canonical scan under ``diag(spacing)`` with planted scan
defects: the anterior-posterior axis reversed (``scan_flip_ud``), the head-foot axis reversed
(``scan_flip_hf``), the in-plane axes swapped (``scan_swap``). Scanner cohorts (``affine: scanner``) store it
in an orientation drawn from a list, with an affine that describes the anatomy, a share slightly oblique.
Training masks of every cohort may be flipped relative to their scan in the working frame (``mask_flip_ud``:
axis 0, ``mask_flip_lr``: axis 1): ``stored_mask == storage.store(defects.mask(canonical_mask))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from breastmri.phantom.geometry import Grid
from breastmri.phantom.storage import Storage, scanner_storage, seed_storage

SEED_CONVENTION = "diag"
SCAN_DEFECTS = ("scan_swap", "scan_flip_ud", "scan_flip_hf")
MASK_DEFECTS = ("mask_flip_ud", "mask_flip_lr")
SPLITS = ("train", "inference")
OBLIQUE_DEGREES = (2.0, 8.0)


@dataclass(frozen=True)
class Defects:
    """One seed patient's storage: ``orientation`` (:data:`SEED_CONVENTION` or scanner axis codes such as
    'LPS'), the oblique tilt of a scanner affine (a rotation vector, radians), the planted scan defects of the
    seed convention and the training mask's flips."""

    orientation: str = SEED_CONVENTION
    rotation: tuple[float, float, float] | None = None
    scan_swap: bool = False
    scan_flip_ud: bool = False
    scan_flip_hf: bool = False
    mask_flip_ud: bool = False
    mask_flip_lr: bool = False

    def storage(self, grid: Grid) -> Storage:
        """How every file of the patient is stored."""
        if self.orientation == SEED_CONVENTION:
            return seed_storage(grid.spacing, self.scan_swap, self.scan_flip_ud, self.scan_flip_hf)
        return scanner_storage(grid.spacing, grid.shape, self.orientation, self.rotation)

    def mask(self, canonical: np.ndarray) -> np.ndarray:
        """The training mask's own flips, in the working frame (before storage)."""
        axes = (0,) * self.mask_flip_ud + (1,) * self.mask_flip_lr
        return np.flip(canonical, axis=axes) if axes else canonical

    def record(self) -> dict:
        return {"mask_flip_ud": self.mask_flip_ud, "mask_flip_lr": self.mask_flip_lr}


def draw_defects(rng: np.random.Generator, splits: Sequence[str], scanner: Sequence[bool], rates: dict[str, float],
                 orientations: Sequence[str], oblique_rate: float, minimum: int = 2) -> list[Defects]:
    """Per-patient storage and defects. ``scanner``: whether the patient's cohort writes scanner affines.

    Scan defects (``rates`` keys :data:`SCAN_DEFECTS`) are planted on seed-convention patients, mask defects
    (:data:`MASK_DEFECTS`) on training patients of both conventions; scanner patients take the
    ``orientations`` in turn (a shuffled cycle per split) and a share ``oblique_rate`` is oblique. Each with a
    positive rate occurs at least ``minimum`` times in every group it applies to (per split; mask defects
    per convention of the training split) that is large enough.
    """
    splits, scanner = np.asarray(splits), np.asarray(scanner, bool)
    groups = {(split, on_scanner): np.flatnonzero((splits == split) & (scanner == on_scanner))
              for split in SPLITS for on_scanner in (False, True)}
    n = len(splits)
    planted = {name: _planted(rng, n, rates[name], [groups[s, False] for s in SPLITS], minimum)
               for name in SCAN_DEFECTS}
    for name in MASK_DEFECTS:
        planted[name] = _planted(rng, n, rates[name], [groups["train", False], groups["train", True]], minimum)
    oblique = _planted(rng, n, oblique_rate, [groups[s, True] for s in SPLITS], minimum)
    orientation = np.full(n, SEED_CONVENTION, dtype=object)
    for split in SPLITS:
        members = groups[split, True]
        orientation[members] = rng.permutation(np.resize(np.asarray(orientations, dtype=object), len(members)))
    return [Defects(str(orientation[i]), _tilt(rng) if oblique[i] else None,
                    **{name: bool(flag[i]) for name, flag in planted.items()}) for i in range(n)]


def _planted(rng: np.random.Generator, n: int, rate: float, groups: list[np.ndarray], minimum: int) -> np.ndarray:
    """``n`` flags drawn at ``rate`` on the members of ``groups`` (False elsewhere), each group topped up to
    ``minimum`` when the rate is positive."""
    flag = np.zeros(n, bool)
    for members in groups:
        flag[members] = rng.random(len(members)) < rate
        _top_up(rng, flag, members, minimum if rate > 0 else 0)
    return flag


def _tilt(rng: np.random.Generator) -> tuple[float, float, float]:
    """A rotation of 2-8 degrees about a random axis (rotation vector, radians)."""
    axis = rng.standard_normal(3)
    angle = np.deg2rad(rng.uniform(*OBLIQUE_DEGREES))
    return tuple(float(v) for v in axis / np.linalg.norm(axis) * angle)


def _top_up(rng: np.random.Generator, flag: np.ndarray, members: np.ndarray, minimum: int) -> None:
    """Set ``flag`` on random ``members`` until at least ``min(minimum, len(members))`` are set."""
    missing = min(minimum, len(members)) - int(flag[members].sum())
    if missing > 0:
        unset = members[~flag[members]]
        flag[rng.choice(unset, size=missing, replace=False)] = True
