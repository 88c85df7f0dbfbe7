"""Acquisition geometry of one phantom case: matrix, voxel spacing and voxel-centre coordinates (mm).

Every grid is a working-frame grid (axis 0 posterior -> anterior, axis 1 the patient's right -> left, axis 2
inferior -> superior); the acquisitions differ in matrix, spacing and field of view:

* ``phantom``: a small non-square axial matrix (~2 mm pixels, 2-4 mm slices), shoulders to upper abdomen;
* ``duke``: as the Duke breast MRI exams: a square axial matrix over a 314-358 mm field of view (448 x 448
  pixels of 0.7-0.8 mm), about 160 slices of 1.0-1.2 mm from below the shoulders to past the heart; a smaller
  ``matrix`` keeps that field of view and the slices with coarser in-plane pixels;
* ``sagittal``: as sagittal (I-SPY1, NACT) exams: fine spacing in A and S, thick left-right "slices".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MATRIX_RANGE = (96, 160)      # rows (axis 0, posterior -> anterior) and columns (axis 1, left-right)
SLICE_RANGE = (36, 64)        # axial slices (axis 2, inferior -> superior)
FOV_LR_MM = (280.0, 320.0)    # left-right field of view
FOV_AP_MM = (230.0, 290.0)    # posterior-anterior field of view
EXTENT_SI_MM = (150.0, 200.0)
SLICE_SPACING_MM = (2.0, 4.0)
DUKE_MATRIX = 448             # the real Duke in-plane matrix
DUKE_PIXEL_MM = (0.7, 0.8)    # at DUKE_MATRIX
DUKE_SLICES = (152, 168)
DUKE_SLICE_MM = (1.0, 1.2)
SAGITTAL_PIXEL_MM = (1.3, 1.7)      # A and S
SAGITTAL_SLICE_MM = (2.0, 3.0)      # left-right
ACQUISITIONS = ("phantom", "duke", "sagittal")


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


def _exact(mm: float) -> float:
    """Multiples of 1/256 mm (like DICOM's 0.703125) are exact in the NIfTI header's float32 affine."""
    return round(mm * 256) / 256


def draw_grid(rng: np.random.Generator) -> Grid:
    """A non-square axial matrix with square in-plane pixels and thicker slices (anisotropic voxels)."""
    pixel = rng.uniform(1.9, 2.6)
    cols = int(np.clip(round(rng.uniform(*FOV_LR_MM) / pixel), *MATRIX_RANGE))
    rows = int(np.clip(round(rng.uniform(*FOV_AP_MM) / pixel), *MATRIX_RANGE))
    if rows == cols:
        rows += 7 if rows + 7 <= MATRIX_RANGE[1] else -7
    slices = int(rng.integers(SLICE_RANGE[0], SLICE_RANGE[1] + 1))
    slice_spacing = float(np.clip(rng.uniform(*EXTENT_SI_MM) / slices, *SLICE_SPACING_MM))
    pixel, slice_spacing = _exact(pixel), _exact(slice_spacing)
    return Grid((rows, cols, slices), (pixel, pixel, slice_spacing))


def draw_duke_grid(rng: np.random.Generator, matrix: int) -> Grid:
    """A square ``matrix`` x ``matrix`` axial grid over the Duke field of view, about 160 thin slices."""
    pixel = _exact(rng.uniform(*DUKE_PIXEL_MM) * DUKE_MATRIX / matrix)
    slices = int(rng.integers(DUKE_SLICES[0], DUKE_SLICES[1] + 1))
    return Grid((matrix, matrix, slices), (pixel, pixel, _exact(rng.uniform(*DUKE_SLICE_MM))))


def draw_sagittal_grid(rng: np.random.Generator) -> Grid:
    """The axial field of view sampled finely in A and S and coarsely left-right (the sagittal slices)."""
    pixel, thick = _exact(rng.uniform(*SAGITTAL_PIXEL_MM)), _exact(rng.uniform(*SAGITTAL_SLICE_MM))
    extent = (rng.uniform(*FOV_AP_MM), rng.uniform(*FOV_LR_MM), rng.uniform(*EXTENT_SI_MM))
    spacing = (pixel, thick, pixel)
    return Grid(tuple(int(round(e / s)) for e, s in zip(extent, spacing)), spacing)


def draw_acquisition(rng: np.random.Generator, acquisition: str, duke_matrix: int) -> Grid:
    """The grid of one of :data:`ACQUISITIONS`."""
    if acquisition == "phantom":
        return draw_grid(rng)
    if acquisition == "duke":
        return draw_duke_grid(rng, duke_matrix)
    if acquisition == "sagittal":
        return draw_sagittal_grid(rng)
    raise ValueError(f"unknown acquisition {acquisition!r} (expected one of {', '.join(ACQUISITIONS)})")
