"""Isotropic resampling with SimpleITK (lesion task): every phase and the mask onto one 1 mm grid.

The reference grid is built from the pre-contrast phase: the working frame's axes, the requested spacing,
covering the same physical extent.
All phases (which may have their own grids) and the lesion mask are resampled onto that one grid in
world coordinates: linear interpolation for images, nearest neighbour for masks, zero outside.

The reference grid lies in the working frame (axes A, L, S), so the resampled arrays of every acquisition
(axial, sagittal, oblique) are working-frame arrays: ``(i, j, k)`` = (posterior -> anterior, right -> left,
inferior -> superior), SimpleITK's ``(z, y, x)`` array transposed.

A phase is an image file (read by SimpleITK), or a :class:`~breastmri.data.io.Volume`, a DICOM series folder or
one phase of a multi-phase series (:class:`~breastmri.data.dicom.DicomPhase`), read through its ``Volume``
(:func:`volume_to_image`).

With a case's breast box (:class:`~breastmri.data.layouts.BreastBox`) every image is first cropped to it or has the
voxels outside it set to zero (:func:`within_box`), on its own voxel grid, before the reference grid is built.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from breastmri.data.dicom import RAS_LPS
from breastmri.data.errors import DataError
from breastmri.data.io import Volume, load_volume
from breastmri.data.layouts import BREAST_BOX_MODES, BreastBox


def read_image(path: str | Path, pixel_type=sitk.sitkFloat32) -> sitk.Image:
    """Read a 3D image with SimpleITK, raising :class:`DataError` naming the file on any problem."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        image = sitk.ReadImage(str(path), pixel_type)
    except RuntimeError as exc:
        raise DataError(path, f"cannot read image (corrupt or truncated): {str(exc).strip().splitlines()[-1]}") from exc
    if image.GetDimension() != 3:
        raise DataError(path, f"expected a 3D image, got {image.GetDimension()}D")
    return image


def volume_to_image(volume: Volume) -> sitk.Image:
    """A :class:`Volume` as a float32 SimpleITK image on the same world grid: nibabel's RAS+ affine as ITK's LPS
    origin, direction and spacing, the array transposed to SimpleITK's ``(k, j, i)`` order."""
    lps = RAS_LPS @ np.asarray(volume.affine, dtype=np.float64)[:3]
    spacing = np.linalg.norm(lps[:, :3], axis=0)
    image = sitk.GetImageFromArray(np.ascontiguousarray(volume.array.transpose(2, 1, 0), dtype=np.float32))
    image.SetOrigin(lps[:, 3].tolist())
    image.SetSpacing(spacing.tolist())
    image.SetDirection((lps[:, :3] / spacing).ravel().tolist())
    return image


def phase_image(source) -> sitk.Image:
    """One phase as a float32 SimpleITK image: an image file as read by :func:`read_image`; a :class:`Volume`, a
    DICOM series folder or a ``DicomPhase`` through its ``Volume``."""
    if isinstance(source, (str, Path)) and not Path(source).is_dir():
        return read_image(source)
    return volume_to_image(source if isinstance(source, Volume) else load_volume(source))


#: The working frame's axes (A, L, S; :mod:`breastmri.orientation.frame`) in ITK's LPS world, one column each.
WORKING_DIRECTION_LPS = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def isotropic_reference(image: sitk.Image, spacing: float = 1.0) -> sitk.Image:
    """An empty image on a ``spacing`` mm grid in the working frame (axes A, L, S) covering ``image``'s
    physical extent: whatever the acquisition plane (axial, sagittal, oblique), axis 2 of the resampled
    arrays runs inferior -> superior, so ``[:, :, k]`` is an axial slice with the breasts at high axis-0 index.
    Resampling back onto the original image (world coordinates) is the inverse."""
    if spacing <= 0:
        raise ValueError(f"spacing must be positive, got {spacing}")
    size = np.array(image.GetSize())
    corners = np.array([image.TransformContinuousIndexToPhysicalPoint([float(c) for c in corner])
                        for corner in np.array(np.meshgrid(*[(-0.5, n - 0.5) for n in size], indexing="ij")).reshape(3, -1).T])
    along = corners @ WORKING_DIRECTION_LPS  # corner coordinates along each working axis (mm)
    low, high = along.min(axis=0), along.max(axis=0)
    new_size = [max(1, int(round(n))) for n in (high - low) / spacing]
    reference = sitk.Image(new_size, sitk.sitkUInt8)
    reference.SetDirection(WORKING_DIRECTION_LPS.flatten().tolist())
    reference.SetSpacing([float(spacing)] * 3)
    reference.SetOrigin((WORKING_DIRECTION_LPS @ (low + spacing / 2.0)).tolist())
    return reference


def resample_onto(image: sitk.Image, reference: sitk.Image, is_mask: bool = False) -> sitk.Image:
    """Resample ``image`` onto ``reference``'s grid (identity transform, world coordinates)."""
    interpolator = sitk.sitkNearestNeighbor if is_mask else sitk.sitkLinear
    pixel = sitk.sitkUInt8 if is_mask else sitk.sitkFloat32
    return sitk.Resample(image, reference, sitk.Transform(), interpolator, 0.0, pixel)


def to_array(image: sitk.Image) -> np.ndarray:
    """Voxel array indexed like the NIfTI file (``(i, j, k)``), not SimpleITK's ``(k, j, i)``."""
    return np.ascontiguousarray(sitk.GetArrayFromImage(image).transpose(2, 1, 0))


def within_box(image: sitk.Image, box: BreastBox | None, mode: str) -> sitk.Image:
    """``image`` restricted to ``box`` (its voxel ranges along the index axes i, j, k): ``crop`` keeps the box's
    voxels at their world positions, ``mask`` keeps the grid and sets every voxel outside the box to 0; ``ignore``
    (or no box) keeps the image as it is."""
    if mode not in BREAST_BOX_MODES:
        raise ValueError(f"mode must be one of {BREAST_BOX_MODES}, got {mode!r}")
    if box is None or mode == "ignore":
        return image
    i, j, k = box.slices(image.GetSize())
    if mode == "crop":
        return image[i, j, k]
    array = sitk.GetArrayFromImage(image)  # axes k, j, i
    kept = np.zeros_like(array)
    kept[k, j, i] = array[k, j, i]
    masked = sitk.GetImageFromArray(kept)
    masked.CopyInformation(image)
    return masked


def resample_case(phase_paths: list, mask_path: Path | None, spacing: float = 1.0, box: BreastBox | None = None,
                  box_mode: str = "ignore") -> tuple[list[np.ndarray | None], np.ndarray | None, tuple[int, int, int]]:
    """Resample the phases (``None`` = missing; each as :func:`phase_image` takes it) and the mask of one case
    onto one isotropic grid; with a ``box`` and a ``box_mode`` other than ``ignore``, each image restricted to it
    first (:func:`within_box`).

    Returns ``(phases, mask, shape)``: float32 arrays (``None`` kept for missing phases), the uint8
    binary mask (``None`` if no mask path) and the grid shape. The first phase must be present.
    """
    if not phase_paths or phase_paths[0] is None:
        raise DataError(None, "the pre-contrast phase (first phase) is required")
    first = within_box(phase_image(phase_paths[0]), box, box_mode)
    reference = isotropic_reference(first, spacing)
    phases: list[np.ndarray | None] = []
    for path in phase_paths:
        if path is None:
            phases.append(None)
            continue
        image = first if path == phase_paths[0] else within_box(phase_image(path), box, box_mode)
        array = to_array(resample_onto(image, reference))
        if not np.all(np.isfinite(array)):
            raise DataError(path.path if isinstance(path, Volume) else path, "image holds NaN or infinite voxels")
        phases.append(array)
    mask = None
    if mask_path is not None:
        mask_image = within_box(read_image(mask_path, sitk.sitkUInt8), box, box_mode)
        mask = (to_array(resample_onto(mask_image, reference, is_mask=True)) > 0).astype(np.uint8)
    shape = tuple(int(s) for s in phases[0].shape)
    return phases, mask, shape
