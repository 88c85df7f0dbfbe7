"""Affine canonicalisation (what ``nibabel.as_closest_canonical`` does) with its exact inverse.

A file's affine says how its array axes map to world (RAS+) axes. Reorienting the array to the closest
RAS+ frame makes files that hold the same anatomy in different stored orientations (RAS vs LPS,
transposed axes with a matching affine) agree. The transform is a nibabel "ornt" array (one
``[target_axis, +1|-1]`` row per stored axis); it is recorded so that an array in the canonical frame can
be put back into the stored frame (:func:`from_canonical`) voxel for voxel.
"""

from __future__ import annotations

import numpy as np
from nibabel.orientations import apply_orientation, inv_ornt_aff, io_orientation, ornt_transform

from breastmri.data.errors import DataError

RAS_ORNT = np.array([[0, 1], [1, 1], [2, 1]], dtype=float)


def canonical_ornt(affine: np.ndarray, path=None) -> np.ndarray:
    """The ornt transform from a file's stored frame to the closest canonical (RAS+) frame.

    Raises :class:`DataError` (naming ``path``) when the affine is not a finite, invertible 4x4 matrix.
    """
    affine = np.asarray(affine, dtype=np.float64)
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise DataError(path, f"affine must be a finite 4x4 matrix, got shape {affine.shape}")
    if abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise DataError(path, "affine is singular: the stored orientation cannot be determined")
    ornt = io_orientation(affine)
    if np.isnan(ornt).any():
        raise DataError(path, "affine axes are degenerate: the stored orientation cannot be determined")
    return ornt


def is_identity(ornt) -> bool:
    return bool(np.array_equal(np.asarray(ornt, dtype=float), RAS_ORNT))


def to_canonical(array: np.ndarray, ornt) -> np.ndarray:
    """Reorient a stored-frame array to the canonical frame (same as ``as_closest_canonical``)."""
    ornt = np.asarray(ornt, dtype=float)
    if is_identity(ornt):
        return np.asarray(array)
    return np.ascontiguousarray(apply_orientation(array, ornt))


def from_canonical(array: np.ndarray, ornt) -> np.ndarray:
    """Inverse of :func:`to_canonical`: put a canonical-frame array back into the stored frame."""
    ornt = np.asarray(ornt, dtype=float)
    if is_identity(ornt):
        return np.asarray(array)
    return np.ascontiguousarray(apply_orientation(array, ornt_transform(RAS_ORNT, ornt)))


def canonical_affine(affine: np.ndarray, stored_shape, ornt) -> np.ndarray:
    """The affine of the canonical-frame array (what ``as_closest_canonical`` would write)."""
    ornt = np.asarray(ornt, dtype=float)
    return np.asarray(affine, dtype=np.float64) @ inv_ornt_aff(ornt, tuple(stored_shape))


def canonical_shape(stored_shape, ornt) -> tuple[int, ...]:
    """Shape of the canonical-frame array of a stored array of ``stored_shape``."""
    ornt = np.asarray(ornt, dtype=float)
    shape = [0] * len(stored_shape)
    for axis, (target, _flip) in enumerate(ornt):
        shape[int(target)] = int(stored_shape[axis])
    return tuple(shape)
