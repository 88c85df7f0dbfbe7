"""Isotropic resampling with SimpleITK (lesion task): every phase and the mask onto one 1 mm grid.

The reference grid is built from the pre-contrast phase: same origin and direction, the requested
spacing, and ``round(size * old_spacing / spacing)`` voxels per axis (the same physical extent).
All phases (which may have their own grids) and the lesion mask are resampled onto that one grid in
world coordinates: linear interpolation for images, nearest neighbour for masks, zero outside.

Arrays are returned in the pipeline's convention, indexed as stored (``(i, j, k)``, axis 2 = slices),
i.e. SimpleITK's ``(z, y, x)`` array transposed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from breastmri.data.errors import DataError


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


def isotropic_reference(image: sitk.Image, spacing: float = 1.0) -> sitk.Image:
    """An empty image on the ``spacing`` mm grid covering ``image`` (same origin and direction)."""
    if spacing <= 0:
        raise ValueError(f"spacing must be positive, got {spacing}")
    old_size = np.array(image.GetSize(), dtype=np.float64)
    old_spacing = np.array(image.GetSpacing(), dtype=np.float64)
    new_size = [max(1, int(round(n))) for n in old_size * old_spacing / spacing]
    reference = sitk.Image(new_size, sitk.sitkUInt8)
    reference.SetOrigin(image.GetOrigin())
    reference.SetDirection(image.GetDirection())
    reference.SetSpacing([float(spacing)] * 3)
    return reference


def resample_onto(image: sitk.Image, reference: sitk.Image, is_mask: bool = False) -> sitk.Image:
    """Resample ``image`` onto ``reference``'s grid (identity transform, world coordinates)."""
    interpolator = sitk.sitkNearestNeighbor if is_mask else sitk.sitkLinear
    pixel = sitk.sitkUInt8 if is_mask else sitk.sitkFloat32
    return sitk.Resample(image, reference, sitk.Transform(), interpolator, 0.0, pixel)


def to_array(image: sitk.Image) -> np.ndarray:
    """Voxel array indexed like the NIfTI file (``(i, j, k)``), not SimpleITK's ``(k, j, i)``."""
    return np.ascontiguousarray(sitk.GetArrayFromImage(image).transpose(2, 1, 0))


def resample_case(phase_paths: list[Path | None], mask_path: Path | None,
                  spacing: float = 1.0) -> tuple[list[np.ndarray | None], np.ndarray | None, tuple[int, int, int]]:
    """Resample the phases (``None`` = missing) and the mask of one case onto one isotropic grid.

    Returns ``(phases, mask, shape)``: float32 arrays (``None`` kept for missing phases), the uint8
    binary mask (``None`` if no mask path) and the grid shape. The first phase must be present.
    """
    if not phase_paths or phase_paths[0] is None:
        raise DataError(None, "the pre-contrast phase (first phase) is required")
    first = read_image(phase_paths[0])
    reference = isotropic_reference(first, spacing)
    phases: list[np.ndarray | None] = []
    for path in phase_paths:
        if path is None:
            phases.append(None)
            continue
        image = first if path == phase_paths[0] else read_image(path)
        array = to_array(resample_onto(image, reference))
        if not np.all(np.isfinite(array)):
            raise DataError(path, "image holds NaN or infinite voxels")
        phases.append(array)
    mask = None
    if mask_path is not None:
        mask_image = read_image(mask_path, sitk.sitkUInt8)
        mask = (to_array(resample_onto(mask_image, reference, is_mask=True)) > 0).astype(np.uint8)
    shape = tuple(int(s) for s in phases[0].shape)
    return phases, mask, shape
