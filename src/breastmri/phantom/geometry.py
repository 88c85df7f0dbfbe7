"""Acquisition geometry of one phantom case: matrix, voxel spacing and voxel-centre coordinates (mm)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MATRIX_RANGE = (96, 160)      # rows (axis 0, posterior -> anterior) and columns (axis 1, left-right)
SLICE_RANGE = (36, 64)        # axial slices (axis 2, inferior -> superior)
FOV_LR_MM = (280.0, 320.0)    # left-right field of view
FOV_AP_MM = (230.0, 290.0)    # posterior-anterior field of view
EXTENT_SI_MM = (150.0, 200.0)
SLICE_SPACING_MM = (2.0, 4.0)


@dataclass(frozen=True)
class Grid:
    """Canonical voxel grid: ``shape`` (rows, cols, slices) and ``spacing`` (mm per axis)."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]

    @property
    def extent(self) -> tuple[float, float, float]:
        return tuple(n * s for n, s in zip(self.shape, self.spacing))

    def coords(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Voxel-centre coordinates in mm, broadcastable: y (n0,1,1) anterior-wards, x (1,n1,1), z (1,1,n2)
        superior-wards."""
        y, x, z = ((np.arange(n, dtype=np.float32) + 0.5) * np.float32(s) for n, s in zip(self.shape, self.spacing))
        return y[:, None, None], x[None, :, None], z[None, None, :]

    @property
    def voxel_volume(self) -> float:
        return float(np.prod(self.spacing))


def draw_grid(rng: np.random.Generator) -> Grid:
    """A non-square axial matrix with square in-plane pixels and thicker slices (anisotropic voxels)."""
    pixel = rng.uniform(1.9, 2.6)
    cols = int(np.clip(round(rng.uniform(*FOV_LR_MM) / pixel), *MATRIX_RANGE))
    rows = int(np.clip(round(rng.uniform(*FOV_AP_MM) / pixel), *MATRIX_RANGE))
    if rows == cols:
        rows += 7 if rows + 7 <= MATRIX_RANGE[1] else -7
    slices = int(rng.integers(SLICE_RANGE[0], SLICE_RANGE[1] + 1))
    slice_spacing = float(np.clip(rng.uniform(*EXTENT_SI_MM) / slices, *SLICE_SPACING_MM))
    # multiples of 1/256 mm (like DICOM's 0.703125) are exact in the NIfTI header's float32 affine
    pixel, slice_spacing = round(pixel * 256) / 256, round(slice_spacing * 256) / 256
    return Grid((rows, cols, slices), (pixel, pixel, slice_spacing))
