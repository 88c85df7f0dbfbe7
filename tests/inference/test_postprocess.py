import numpy as np
import pytest
from scipy import ndimage

from breastmri.inference.postprocess import erode_mm


def test_erosion_takes_off_exactly_the_margin_in_millimetres_per_axis():
    mask = np.zeros((30, 30, 12), bool)
    mask[5:25, 5:25, 2:10] = True
    out = erode_mm(mask, (1.0, 1.0, 2.0), 3.0)
    assert out.dtype == np.uint8
    # centre-to-centre distances to the nearest outside voxel: in-plane (1 mm) the first 3 voxels are at 1-3 mm
    # and go; through-plane (2 mm) the first is at 2 mm and goes, the second at 4 mm stays
    expected = np.zeros_like(mask)
    expected[8:22, 8:22, 3:9] = True
    np.testing.assert_array_equal(out.astype(bool), expected)


def test_zero_margin_is_the_mask_and_an_edge_of_the_array_is_not_skin():
    mask = np.zeros((20, 20, 10), bool)
    mask[10:, 4:16, :] = True  # reaches the last rows and every slice: a cut field of view
    np.testing.assert_array_equal(erode_mm(mask, (1, 1, 1), 0.0), mask.astype(np.uint8))
    out = erode_mm(mask, (1, 1, 1), 2.0).astype(bool)
    assert out[19, 10, 5] and out[15, 10, 0]            # kept at the array's edges
    assert not out[10, 10, 5] and not out[15, 4, 5]      # taken off at the mask's own boundary
    assert erode_mm(np.zeros((4, 4, 4)), (1, 1, 1), 2.0).sum() == 0


def test_erosion_agrees_with_a_ball_structuring_element_and_rejects_negative_margins():
    rng = np.random.default_rng(0)
    mask = ndimage.binary_opening(rng.random((24, 24, 24)) > 0.3, iterations=2)
    mask = np.pad(mask, 1)
    z, y, x = np.mgrid[-2:3, -2:3, -2:3]
    ball = z ** 2 + y ** 2 + x ** 2 <= 4.0
    reference = ndimage.binary_erosion(mask, structure=ball, border_value=1)
    np.testing.assert_array_equal(erode_mm(mask, (1, 1, 1), 2.0).astype(bool), reference)
    with pytest.raises(ValueError, match="margin_mm"):
        erode_mm(mask, (1, 1, 1), -1.0)
