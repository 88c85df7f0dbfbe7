"""The anatomical working frame shared by both tasks, and the exact map from any stored file into it and back.

Working frame (axis codes ``A, L, S``): axis 0 runs posterior -> anterior (the breasts at high index), axis 1
runs from the patient's right to the patient's left, axis 2 runs inferior -> superior. An axial slice
``array[:, :, k]`` shown with ``imshow`` therefore has the back at the top, the breasts at the bottom and the
patient's right on the image's left (the radiological convention), for every input orientation.

A file whose affine describes its anatomy (DICOM-derived LPS, RAS, transposed, slightly oblique, sagittal)
reaches the frame through the affine alone: :func:`working_ornt` is nibabel's ``io_orientation`` followed by
``ornt_transform`` to ``A, L, S``; only axis permutations and reversals, no resampling. :func:`to_working` /
:func:`from_working` apply it and its exact inverse voxel for voxel, and :func:`working_affine` is the affine
of the working-frame array (the same world positions, so the file still opens aligned in any viewer).
"""

from __future__ import annotations

import numpy as np
from nibabel.orientations import apply_orientation, axcodes2ornt, inv_ornt_aff, io_orientation, ornt_transform

from breastmri.data.errors import DataError
from breastmri.data.io import check_affine as io_check_affine

WORKING_AXCODES = ("A", "L", "S")
WORKING_ORNT = axcodes2ornt(WORKING_AXCODES)  # working axes in nibabel's RAS terms
IDENTITY = np.array([[0, 1], [1, 1], [2, 1]], dtype=float)


def check_affine(affine, path=None) -> np.ndarray:
    """:func:`breastmri.data.io.check_affine` (finite, invertible 4x4), and axes that each point closest to a
    distinct world axis; :class:`DataError` naming ``path`` otherwise."""
    affine = io_check_affine(affine, path)
    if np.isnan(io_orientation(affine)).any():
        raise DataError(path, "affine axes are degenerate: the stored orientation cannot be determined")
    return affine


def working_ornt(affine, path=None) -> np.ndarray:
    """The ornt transform (one ``[target_axis, +1|-1]`` row per stored axis) from a file's stored array to the
    working frame, read from its affine."""
    return ornt_transform(io_orientation(check_affine(affine, path)), WORKING_ORNT)


def spacing_of(affine) -> tuple[float, float, float]:
    """Voxel size (mm) along each stored axis: the affine's column norms."""
    return tuple(float(s) for s in np.linalg.norm(np.asarray(affine, dtype=np.float64)[:3, :3], axis=0))


def is_identity(ornt) -> bool:
    return bool(np.array_equal(np.asarray(ornt, dtype=float), IDENTITY))


def compose(first, then) -> np.ndarray:
    """The ornt of applying ``first`` and then ``then`` (both ``stored -> next`` transforms)."""
    first, then = np.asarray(first, dtype=float), np.asarray(then, dtype=float)
    out = first.copy()
    for axis, (target, flip) in enumerate(first):
        out[axis] = [then[int(target), 0], flip * then[int(target), 1]]
    return out


def inverse(ornt) -> np.ndarray:
    """The ornt that undoes ``ornt``."""
    return ornt_transform(IDENTITY, np.asarray(ornt, dtype=float)) if not is_identity(ornt) else IDENTITY.copy()


def to_working(array: np.ndarray, ornt) -> np.ndarray:
    """Apply a ``stored -> working`` ornt to an array (permutations and reversals only)."""
    ornt = np.asarray(ornt, dtype=float)
    if is_identity(ornt):
        return np.asarray(array)
    return np.ascontiguousarray(apply_orientation(np.asarray(array), ornt))


def working_view(array: np.ndarray, ornt) -> np.ndarray:
    """:func:`to_working` as a view of ``array`` (no copy): for reading a few planes of a large volume."""
    ornt = np.asarray(ornt, dtype=float)
    if is_identity(ornt):
        return np.asarray(array)
    return apply_orientation(np.asarray(array), ornt)


def from_working(array: np.ndarray, ornt) -> np.ndarray:
    """Exact inverse of :func:`to_working`: put a working-frame array back into the stored frame."""
    return to_working(array, inverse(ornt))


def working_shape(stored_shape, ornt) -> tuple[int, ...]:
    """Shape of the working-frame array of a stored array of ``stored_shape``."""
    shape = [0] * len(stored_shape)
    for axis, (target, _flip) in enumerate(np.asarray(ornt, dtype=float)):
        shape[int(target)] = int(stored_shape[axis])
    return tuple(shape)


def working_spacing(spacing, ornt) -> tuple[float, float, float]:
    """Voxel size (mm) along each working axis of a stored array with per-axis ``spacing``."""
    out = [0.0, 0.0, 0.0]
    for axis, (target, _flip) in enumerate(np.asarray(ornt, dtype=float)):
        out[int(target)] = float(spacing[axis])
    return tuple(out)


def working_affine(affine, stored_shape, ornt) -> np.ndarray:
    """The affine of the working-frame array: every voxel keeps its world position."""
    return np.asarray(affine, dtype=np.float64) @ inv_ornt_aff(np.asarray(ornt, dtype=float), tuple(stored_shape))


def frame_affine(spacing) -> np.ndarray:
    """An affine that says what the working frame is (axes A, L, S with the given spacing, origin 0): for arrays
    placed in the frame by the heuristics, whose own affine did not describe the anatomy."""
    affine = np.zeros((4, 4))
    affine[3, 3] = 1.0
    for axis, (target, flip) in enumerate(WORKING_ORNT):
        affine[int(target), axis] = flip * float(spacing[axis])
    return affine


def axcodes(affine) -> tuple[str, str, str]:
    """Axis codes of an affine (what each stored axis points towards), for reports."""
    from nibabel.orientations import aff2axcodes

    return tuple(aff2axcodes(check_affine(affine)))
