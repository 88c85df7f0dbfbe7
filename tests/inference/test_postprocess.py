import math

import numpy as np
import pytest
from scipy import ndimage

from breastmri.inference.postprocess import (_near_outside, erode_mm, largest_component, mm_ball, smooth_across_slices,
                                             without_skin)


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


def test_without_skin_takes_off_the_margin_only_where_the_breast_meets_the_air():
    """A breast on a chest wall (axis 0 posterior -> anterior): the margin goes at its anterior and side faces
    (air), not at its posterior face (against the body), so tissue there stays; no body = erode_mm."""
    breast = np.zeros((30, 30, 12), bool)
    breast[10:25, 5:25, 2:10] = True
    body = np.zeros_like(breast)
    body[:10, :, :] = True  # the chest wall behind it, across the whole field of view
    out = without_skin(breast, body, (1.0, 1.0, 2.0), 3.0)
    assert out.dtype == np.uint8 and not (out & ~breast).any()
    expected = np.zeros_like(breast)
    expected[10:22, 8:22, 3:9] = True  # posterior rows 10-12 kept: behind them lies the body, not the air
    np.testing.assert_array_equal(out.astype(bool), expected)
    np.testing.assert_array_equal(without_skin(breast, np.zeros_like(breast), (1.0, 1.0, 2.0), 3.0),
                                  erode_mm(breast, (1.0, 1.0, 2.0), 3.0))
    assert not without_skin(np.zeros_like(breast), body, (1.0, 1.0, 2.0), 3.0).any()


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


# --- on the bounding box: the same voxels as the whole-volume computation ------------------------------------------
def _reference_labels(mask, connectivity):
    mask = np.asarray(mask) > 0
    labels, n = ndimage.label(mask, structure=ndimage.generate_binary_structure(mask.ndim, connectivity))
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[0] = 0
    return mask, labels, n, sizes


def _reference_largest(mask, connectivity=1):
    mask, labels, n, sizes = _reference_labels(mask, connectivity)
    return mask.astype(np.uint8) if n <= 1 else (labels == int(np.argmax(sizes))).astype(np.uint8)


def _reference_keep(mask, min_fraction, connectivity=1):
    mask, labels, n, sizes = _reference_labels(mask, connectivity)
    if n <= 1:
        return mask.astype(np.uint8)
    keep = sizes >= min_fraction * sizes.max()
    keep[0] = False
    return keep[labels].astype(np.uint8)


def _random_masks():
    rng = np.random.default_rng(7)
    shape = (26, 22, 14)
    for i in range(12):
        mask = np.zeros(shape, bool)
        lo = rng.integers(0, 8, size=3)
        hi = np.minimum(lo + rng.integers(4, 20, size=3), shape)
        if i % 3 == 0:  # reaching the array's edges
            lo[i % 2], hi[2] = 0, shape[2]
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        mask[box] = ndimage.binary_opening(rng.random(mask[box].shape) > 0.35) if i % 2 else rng.random(
            mask[box].shape) > 0.6
        yield mask
    tie = np.zeros(shape, bool)  # two equal components: the first in C order wins
    tie[3:5, 3:5, 3:5] = tie[10:12, 10:12, 10:12] = True
    yield tie
    yield np.zeros(shape, bool)
    yield np.ones(shape, bool)


@pytest.mark.parametrize("connectivity", [1, 3])
def test_components_on_the_box_equal_the_whole_volume(connectivity):
    from breastmri.inference.postprocess import keep_large_components, largest_component

    for mask in _random_masks():
        expected = _reference_largest(mask, connectivity)
        got = largest_component(mask, connectivity)
        assert got.dtype == np.uint8 and np.array_equal(got, expected)
        for fraction in (0.0, 0.2, 0.5):
            got = keep_large_components(mask.astype(np.uint8), fraction, connectivity)
            assert got.dtype == np.uint8 and np.array_equal(got, _reference_keep(mask, fraction, connectivity))
    first = np.zeros((5, 5), np.uint8)
    first[0, 0] = 1  # 2D, face connectivity: five one-pixel components, the first in C order kept
    assert np.array_equal(largest_component(np.eye(5, dtype=bool)), first)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.7, 0.7, 1.2), (0.75, 0.8, 2.5), (2.0, 0.6, 1.0)])
def test_distance_on_the_grown_box_equals_the_whole_volume_bit_for_bit(spacing):
    from breastmri.inference.postprocess import distance_inside

    for mask in _random_masks():
        if not mask.any():
            continue
        expected = ndimage.distance_transform_edt(mask, sampling=spacing)
        got = distance_inside(mask, spacing)
        assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes()
        for margin in MARGINS if not mask.all() else ():  # (a full mask is returned as it is)
            assert np.array_equal(erode_mm(mask, spacing, margin), (expected > margin).astype(np.uint8))


#: Margins whose ball the erosion takes at every spacing above (up to 3 mm), and one past BALL_MAX_BOX (7 mm),
#: where the distance transform decides; among them radii that are exactly an offset's length (2.0 and 3.0 mm at
#: 1 mm, 2.5 mm at 2.5 mm slices): the ties.
MARGINS = (0.9, 2.0, 2.5, 3.0, 7.0)


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (0.7, 0.7, 1.2), (2.0, 0.6, 1.0)])
def test_erosion_by_the_ball_and_by_the_distance_decide_the_same_voxels(spacing, monkeypatch):
    from breastmri.inference import postprocess

    box = [math.prod(2 * r + 1 for r in postprocess._reach(spacing, m)) for m in MARGINS]
    assert max(box[:4]) <= postprocess.BALL_MAX_BOX < box[4]
    masks = list(_thick_masks())
    by_ball = [[erode_mm(m, spacing, margin) for margin in MARGINS] for m in masks]
    monkeypatch.setattr(postprocess, "BALL_MAX_BOX", -1)  # every margin by the distance transform
    by_distance = [[erode_mm(m, spacing, margin) for margin in MARGINS] for m in masks]
    assert all(np.array_equal(a, b) for ra, rb in zip(by_ball, by_distance) for a, b in zip(ra, rb))
    assert all(row[3].sum() > 0 for row in by_ball)  # (3 mm leaves voxels in every mask)


@pytest.mark.parametrize("spacing, axis, margin", [((3.0, 3.0, 9 / 14), 2, 4.5),
                                                   ((1.0, 1.0, 0.6666666666666667), 2, 2.0),
                                                   ((1.0, 1.3333333333333335, 1.0), 1, 4.0)])
def test_the_ball_holds_an_offset_whose_length_rounds_to_the_margin(spacing, axis, margin):
    """margin / spacing rounds below the whole number k (4.5 / (9/14) = 6.999...) while k * spacing rounds to the
    margin itself: the distance transform counts the voxel k offsets from an outside one as at the margin (eroded),
    so the ball must hold offset k."""
    k = round(margin / spacing[axis])
    assert margin / spacing[axis] < k and k * spacing[axis] == margin
    shape = [5, 5, 5]
    shape[axis] = 2 * k + 10
    mask = np.ones(shape, bool)
    hole = [2, 2, 2]
    hole[axis] = 3
    mask[tuple(hole)] = False
    expected = (ndimage.distance_transform_edt(mask, sampling=spacing) > margin).astype(np.uint8)
    at_margin, beyond = list(hole), list(hole)
    at_margin[axis], beyond[axis] = 3 + k, 3 + k + 1
    assert expected[tuple(at_margin)] == 0 and expected[tuple(beyond)] == 1
    assert np.array_equal(erode_mm(mask, spacing, margin), expected)


def _thick_masks():
    """Smooth random blobs thick enough to hold voxels 3-7 mm inside (the random masks above are at most about
    2 voxels thick), some cut by the array's edges; spacing (1, 1, 1) leaves distances of exactly 2 and 3."""
    rng = np.random.default_rng(3)
    for i in range(4):
        field = ndimage.gaussian_filter(rng.random((40, 36, 24)), 4.0)
        mask = field > np.quantile(field, 0.55)
        if i % 2:
            mask = mask[5:, :, 3:]  # cut open
        yield mask


@pytest.mark.parametrize("spacing, radius", [((1.0, 1.0, 1.0), 1.0), ((1.0, 1.0, 2.0), 3.0),
                                             ((0.72, 0.72, 1.18), 3.0), ((2.0, 0.6, 1.0), 2.5)])
def test_spreading_the_outside_by_the_ball_is_the_complement_of_the_erosion(spacing, radius):
    """Only the outside voxels that touch the mask are spread by the ball: the same bits as scipy's erosion of
    the whole array (nothing outside beyond its edge), for masks of many shapes, cut by the edges or not."""
    ball = mm_ball(spacing, radius)
    rng = np.random.default_rng(len(ball))
    masks = [*_thick_masks(), *(m for m in _random_masks() if m.ndim == 3)]
    for sigma in (1.0, 2.0):
        smooth = ndimage.gaussian_filter(rng.random((24, 20, 16)), sigma)
        masks.append(smooth > np.median(smooth))  # half the voxels: much surface, some voxels kept
    kept = 0
    for mask in masks:
        expected = ndimage.binary_erosion(mask, structure=ball, border_value=1)
        got = _near_outside(mask, ball)
        assert got.shape == mask.shape and np.array_equal(~got, expected)
        kept += int(0 < expected.sum() < mask.sum())
    assert kept >= 4  # the erosion kept some voxels and took others in several masks


@pytest.mark.parametrize("spacing, radius", [((1.0, 1.0, 2.0), 2.0), ((0.703125, 0.703125, 2.0), 2.0),
                                             ((0.72, 0.72, 1.18), 3.0)])
def test_mm_ball_holds_exactly_the_offsets_within_the_radius_in_millimetres(spacing, radius):
    ball = mm_ball(spacing, radius)
    centre = np.array(ball.shape) // 2
    assert all(n % 2 == 1 for n in ball.shape) and ball[tuple(centre)]
    grid = np.indices(ball.shape).reshape(3, -1).T - centre
    lengths = np.sqrt(((grid * np.array(spacing)) ** 2).sum(axis=1))
    np.testing.assert_array_equal(ball.reshape(-1), lengths <= radius)
    assert (lengths[ball.reshape(-1)] <= radius).all() and (np.abs(grid).max(axis=0) * spacing > radius).all()


def test_largest_component_by_counted_voxels_picks_the_component_holding_most_of_them():
    mask = np.zeros((12, 12, 12), bool)
    mask[0:2, :, :] = True             # 288 voxels, 2 of them counted
    mask[5:9, 5:9, 5:9] = True         # 64 voxels, 8 counted
    counted = np.zeros_like(mask)
    counted[0, 0, :2] = True
    counted[6:8, 6:8, 6:8] = True
    assert largest_component(mask).sum() == 288
    picked = largest_component(mask, counted=counted)
    assert picked.dtype == np.uint8 and picked.sum() == 64 and picked[5:9, 5:9, 5:9].all()
    counted[0, 0, :] = True            # 12 counted in the slab now: it wins again
    assert largest_component(mask, counted=counted).sum() == 288


def _breast_block() -> np.ndarray:
    prob = np.zeros((20, 20, 40), np.float32)
    prob[4:16, 4:16, 10:30] = 1.0  # a confident breast over slices 10-29
    return prob


def test_smoothing_across_slices_keeps_a_confident_outline_where_it_is():
    """A step along the slices stays at the same voxel (0.5 at the step), whatever the sigma; in-plane nothing moves."""
    prob = _breast_block()
    for slice_mm, sigma_mm in [(0.7, 2.0), (1.0, 2.0), (3.0, 2.0), (0.7, 5.0)]:
        smooth = smooth_across_slices(prob, slice_mm, sigma_mm)
        assert smooth.dtype == np.float32 and smooth.shape == prob.shape
        np.testing.assert_array_equal(smooth > 0.5, prob > 0.5)
    assert smooth_across_slices(prob, 0.7, 0.0) is prob


def test_smoothing_across_slices_fills_flickering_slices_and_drops_a_lone_one():
    """The 2D model's slice-to-slice flicker on real exams: a third of the breast's slices missed, and one slice of
    air called breast far from it. Smoothed by 2 mm at 0.7 mm slices, the breast is whole and the lone slice gone;
    unsmoothed, both stay."""
    truth = _breast_block() > 0.5
    prob = _breast_block()
    prob[:, :, 12:28:3] = 0.0  # every third inner slice missed
    prob[4:16, 4:16, 36] = 1.0  # one slice of air, 2 mm wide in-plane blocks apart
    assert ((prob > 0.5) != truth).sum() == 6 * 144 + 144
    smooth = smooth_across_slices(prob, 0.7, 2.0) > 0.5
    assert not (smooth & ~truth).any()  # nothing outside the breast: the lone slice is gone
    assert smooth[:, :, 11:29].sum() == truth[:, :, 11:29].sum()  # every inner slice whole, the missed ones filled
    assert truth.sum() - smooth.sum() <= 2 * 144  # the outline moves by at most the end slice beside a missed one
    # at 3 mm slices the same sigma is under a slice: the lone slice stays (the axial phantom's default spacing)
    assert (smooth_across_slices(prob, 3.0, 2.0) > 0.5)[:, :, 36].any()


def test_smoothing_rejects_a_negative_sigma():
    with pytest.raises(ValueError, match="sigma_mm must be >= 0"):
        smooth_across_slices(_breast_block(), 1.0, -1.0)
