"""Acquisition grids: small non-square matrices, anisotropic voxels, plausible fields of view; Duke-like and
sagittal grids."""

import numpy as np
import pytest

from breastmri.phantom.geometry import Grid, draw_acquisition, draw_duke_grid, draw_grid, draw_sagittal_grid


def test_grids_are_non_square_anisotropic_and_plausible():
    for seed in range(30):
        grid = draw_grid(np.random.default_rng(seed))
        rows, cols, slices = grid.shape
        assert rows != cols and 96 <= rows <= 160 and 96 <= cols <= 160 and 36 <= slices <= 64
        assert grid.spacing[0] == grid.spacing[1] != grid.spacing[2]
        assert 2.0 <= grid.spacing[2] <= 4.0
        assert 200 <= grid.extent[1] <= 340 and 200 <= grid.extent[0] <= 320  # axial field of view (mm)


def test_coordinates_are_voxel_centres_in_mm():
    grid = Grid((4, 5, 3), (2.0, 2.0, 3.0))
    y, x, z = grid.coords()
    assert y.shape == (4, 1, 1) and x.shape == (1, 5, 1) and z.shape == (1, 1, 3)
    np.testing.assert_allclose(z.ravel(), [1.5, 4.5, 7.5])
    assert grid.voxel_volume == 12.0


def test_duke_grid_is_the_real_duke_matrix_spacing_and_slices():
    for seed in range(10):
        grid = draw_duke_grid(np.random.default_rng(seed), 448)
        assert grid.shape[:2] == (448, 448) and 152 <= grid.shape[2] <= 168
        assert 0.7 <= grid.spacing[0] == grid.spacing[1] <= 0.8 and 1.0 <= grid.spacing[2] <= 1.2
        assert all(s * 256 == int(s * 256) for s in grid.spacing)  # exact in float32


def test_a_smaller_duke_matrix_keeps_the_field_of_view_and_the_slices():
    full, small = (draw_duke_grid(np.random.default_rng(3), m) for m in (448, 192))
    assert small.shape == (192, 192, full.shape[2]) and small.spacing[2] == full.spacing[2]
    assert small.extent[0] == pytest.approx(full.extent[0], rel=0.01)


def test_sagittal_grid_is_fine_in_a_and_s_and_thick_left_right():
    for seed in range(10):
        grid = draw_sagittal_grid(np.random.default_rng(seed))
        assert grid.spacing[0] == grid.spacing[2] < grid.spacing[1]
        assert 1.3 <= grid.spacing[0] <= 1.7 and 2.0 <= grid.spacing[1] <= 3.0
        assert 200 <= grid.extent[1] <= 340 and 200 <= grid.extent[0] <= 320


def test_acquisitions_are_named():
    rng = np.random.default_rng(0)
    assert draw_acquisition(rng, "duke", 128).shape[:2] == (128, 128)
    with pytest.raises(ValueError, match="unknown acquisition 'coronal'"):
        draw_acquisition(rng, "coronal", 448)
