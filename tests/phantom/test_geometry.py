"""Acquisition grids: small non-square matrices, anisotropic voxels, plausible fields of view."""

import numpy as np

from breastmri.phantom.geometry import Grid, draw_grid


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
