"""How a canonical (working-frame) array is stored: the stored array, its affine and the exact map back.

Two conventions (docs/orientation.md):

* the seed's: an identical ``diag(spacing)`` affine that does not describe the anatomy, on an array that may
  have its in-plane axes swapped and its anterior-posterior and head-foot axes reversed (planted defects);
* a scanner's: the affine describes the anatomy, as DICOM converters write it: the array reoriented to
  stored axis codes such as ``LPS`` (SimpleITK's DICOM axials), ``RAS``, ``PLS`` or ``PIR`` (sagittal), the
  affine following it (nibabel's ``as_reoriented``), optionally slightly oblique (the affine rotated by a few
  degrees, the array unchanged).

``stored_to_working`` is the ornt with ``frame.to_working(stored, stored_to_working) == canonical``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from nibabel.orientations import axcodes2ornt, inv_ornt_aff, ornt_transform
from scipy.spatial.transform import Rotation

from breastmri.orientation.frame import WORKING_ORNT, frame_affine, from_working

AXIS_CODES = (("L", "R"), ("A", "P"), ("S", "I"))


@dataclass(frozen=True, eq=False)
class Storage:
    """One case's stored orientation: a ``name`` ('diag', 'LPS', 'oblique-LPS', ...), the ornt
    ``stored_to_working``, the ``affine`` of every file of the case and whether it describes the anatomy."""

    name: str
    stored_to_working: np.ndarray
    affine: np.ndarray
    matches_anatomy: bool

    def store(self, canonical: np.ndarray) -> np.ndarray:
        """The stored (C-contiguous) array of a canonical-frame array."""
        return np.ascontiguousarray(from_working(canonical, self.stored_to_working))

    def stored_shape(self, canonical_shape: Sequence[int]) -> tuple[int, int, int]:
        return tuple(int(canonical_shape[int(target)]) for target, _ in self.stored_to_working)

    def record(self) -> dict:
        """The truth.json keys of the storage."""
        return {"storage": self.name, "affine_matches_anatomy": self.matches_anatomy,
                "stored_to_working": [[int(a), int(f)] for a, f in self.stored_to_working]}


def seed_storage(spacing: Sequence[float], swap: bool, flip_ud: bool, flip_hf: bool) -> Storage:
    """The seed convention: the canonical array with its anterior-posterior axis reversed (``flip_ud``), its
    head-foot axis reversed (``flip_hf``), then its in-plane axes swapped (``swap``); ``diag(spacing)`` of the
    stored axes. Left-right is never reversed (it cannot be told from anatomy)."""
    ap_axis, lr_axis = (1, 0) if swap else (0, 1)
    ornt = np.zeros((3, 2))
    ornt[ap_axis] = (0, -1 if flip_ud else 1)
    ornt[lr_axis] = (1, 1)
    ornt[2] = (2, -1 if flip_hf else 1)
    stored_spacing = [float(spacing[int(target)]) for target, _ in ornt]
    return Storage("diag", ornt, np.diag([*stored_spacing, 1.0]), matches_anatomy=False)


def check_axis_codes(codes: str) -> str:
    """``codes`` when it names an orientation (one letter per stored axis, each world axis once)."""
    letters = [next((i for i, pair in enumerate(AXIS_CODES) if c in pair), None) for c in str(codes)]
    if len(letters) != 3 or None in letters or len(set(letters)) != 3:
        raise ValueError(f"{codes!r} is not an orientation: three axis codes out of L/R, A/P, S/I, one of each pair")
    return str(codes)


def scanner_storage(spacing: Sequence[float], shape: Sequence[int], codes: str,
                    rotation: Sequence[float] | None = None) -> Storage:
    """The canonical array of ``shape`` reoriented to the stored axis ``codes``, with an affine that describes
    the anatomy; ``rotation`` (a rotation vector, radians) tilts the affine about the volume centre (oblique)."""
    to_stored = ornt_transform(WORKING_ORNT, axcodes2ornt(tuple(check_axis_codes(codes))))
    canonical_affine = frame_affine(spacing)
    if rotation is not None:
        canonical_affine = _rotated(canonical_affine, shape, rotation)
    name = codes if rotation is None else f"oblique-{codes}"
    return Storage(name, ornt_transform(axcodes2ornt(tuple(codes)), WORKING_ORNT),
                   canonical_affine @ inv_ornt_aff(to_stored, tuple(shape)), matches_anatomy=True)


def _rotated(affine: np.ndarray, shape: Sequence[int], rotation: Sequence[float]) -> np.ndarray:
    """``affine`` rotated by ``rotation`` about the world position of the volume centre."""
    centre = affine[:3, :3] @ ((np.asarray(shape) - 1) / 2) + affine[:3, 3]
    turn = np.eye(4)
    turn[:3, :3] = Rotation.from_rotvec(rotation).as_matrix()
    turn[:3, 3] = centre - turn[:3, :3] @ centre
    return turn @ affine
