"""A whole canonical case: determinism, masks, orientation cues, enhancement, what is bright and dark; unilateral
sagittal and Duke-like cases."""

import numpy as np
import pytest
from scipy import ndimage

from breastmri.phantom.anatomy import Style, make_case
from breastmri.phantom.kinetics import LesionKinetics
from breastmri.phantom.lesion import LesionSpec

SPEC = LesionSpec(22.0, 0.3, False, False, LesionKinetics(2.0, 60.0, "washout"))


@pytest.fixture(scope="module", params=[0, 1, 2, 3])
def case(request):
    return make_case(np.random.default_rng([21, request.param]), SPEC, n_phases=6, phases=range(6))


def test_same_rng_seed_gives_identical_arrays_and_another_seed_differs():
    a, b = (make_case(np.random.default_rng(9), SPEC, n_phases=6) for _ in range(2))
    np.testing.assert_array_equal(a.phases[0], b.phases[0])
    np.testing.assert_array_equal(a.lesion_mask, b.lesion_mask)
    other = make_case(np.random.default_rng(10), SPEC, n_phases=6)
    assert other.phases[0].shape != a.phases[0].shape or not np.array_equal(other.phases[0], a.phases[0])


def test_masks_are_binary_uint8_and_the_lesion_lies_in_the_breast(case):
    for mask in (case.breast_mask, case.lesion_mask):
        assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
    assert np.all(case.breast_mask[case.lesion_mask > 0] == 1)
    assert case.lesion_volume_mm3 == pytest.approx(case.lesion_mask.sum() * case.grid.voxel_volume)


def test_breast_at_high_axis0(case):
    rows = np.nonzero(case.breast_mask)[0]
    assert rows.mean() > 0.6 * case.grid.shape[0]


def test_lesion_washes_in_strongly_from_a_parenchyma_like_baseline(case):
    lesion, breast = case.lesion_mask > 0, case.breast_mask > 0
    curve = np.array([p[lesion].mean() for p in case.phases])
    assert curve[1] > 1.8 * curve[0] and curve[1:3].max() == curve.max()
    assert curve[5] < curve[1]  # wash-out
    pre = case.phases[0]
    assert np.percentile(pre[breast], 60) < curve[0] < 1.5 * np.percentile(pre[breast], 99)
    assert case.peak_enhancement > 1.0


def test_post_contrast_fat_is_dark_and_the_lesion_among_the_brightest(case):
    post, breast, lesion = case.phases[1], case.breast_mask > 0, case.lesion_mask > 0
    assert np.median(post[breast & ~lesion]) < 0.4 * np.median(post[lesion])
    assert np.median(post[lesion]) > np.percentile(post[breast], 98)
    air = post[-2:, :, :]  # in front of the nipples: noise only
    assert air.mean() < 0.1 * np.median(post[lesion])


def test_only_the_requested_phases_are_rendered_of_an_acquisition_of_any_length():
    case = make_case(np.random.default_rng(4), SPEC, n_phases=6, phases=(0, 3))
    assert len(case.phases) == 2 and len(case.times) == 6
    assert all(p.shape == case.grid.shape and p.dtype == np.float32 for p in case.phases)
    long = make_case(np.random.default_rng(4), SPEC, n_phases=11, phases=(0, 3, 10))
    assert len(long.phases) == 3 and len(long.times) == 11 and np.all(np.diff(long.times) > 0)
    np.testing.assert_array_equal(long.times[:6], case.times)  # the same protocol, longer
    np.testing.assert_array_equal(long.phases[1], case.phases[1])  # the same draw: phase 3 alike
    with pytest.raises(ValueError, match=r"phases \[0, 3\] are not phases of a 3-phase acquisition"):
        make_case(np.random.default_rng(4), SPEC, n_phases=3, phases=(0, 3))


@pytest.mark.parametrize("seed", range(3))
def test_a_unilateral_sagittal_case_keeps_one_whole_breast_with_the_whole_lesion(seed):
    style = Style(acquisition="sagittal", bilateral=False)
    both, one = (make_case(np.random.default_rng([22, seed]), SPEC, n_phases=6, style=s)
                 for s in (Style(acquisition="sagittal"), style))
    assert one.grid.spacing == both.grid.spacing and one.grid.spacing[0] == one.grid.spacing[2] < one.grid.spacing[1]
    assert one.grid.shape[0::2] == both.grid.shape[0::2] and one.grid.shape[1] < 0.75 * both.grid.shape[1]
    assert one.phases[0].shape == one.grid.shape == one.breast_mask.shape
    assert one.lesion_volume_mm3 == both.lesion_volume_mm3 > 0  # the lesion lies in the kept breast
    breast = one.breast_mask > 0
    labelled, _ = ndimage.label(breast)
    kept = labelled == np.bincount(labelled[one.lesion_mask > 0]).argmax()
    assert kept.sum() > 0.98 * breast.sum()  # one breast only
    whole = ndimage.label(both.breast_mask)[0]
    assert kept.sum() in set(np.bincount(whole.ravel())[1:])  # ... and all of it


@pytest.mark.parametrize("seed", range(3))
def test_a_breast_field_of_view_keeps_the_breast_and_lesion_and_cuts_the_thorax(seed):
    body_fov, breast_fov = (make_case(np.random.default_rng([23, seed]), SPEC, n_phases=6,
                                      style=Style(acquisition="sagittal", bilateral=False, fov=fov))
                            for fov in ("body", "breast"))
    assert breast_fov.grid.spacing == body_fov.grid.spacing
    assert breast_fov.grid.shape[1] == body_fov.grid.shape[1]  # left-right unchanged
    assert breast_fov.grid.shape[0] < 0.8 * body_fov.grid.shape[0] and breast_fov.grid.shape[2] <= body_fov.grid.shape[2]
    assert breast_fov.breast_mask.sum() == body_fov.breast_mask.sum()  # the whole breast stays in view
    assert breast_fov.lesion_volume_mm3 == body_fov.lesion_volume_mm3 > 0
    image = breast_fov.phases[0]
    assert image.shape == breast_fov.grid.shape
    # the thorax is cut: much of the posterior edge of the field of view is tissue, the anterior edge is air
    air = np.median(image[-1])
    assert (image[0] > 2.5 * air).mean() > 0.3 and (image[-1] > 2.5 * air).mean() < 0.05
    breast_rows = np.flatnonzero(breast_fov.breast_mask.any(axis=(1, 2)))
    assert breast_rows[0] * breast_fov.grid.spacing[0] >= 15.0 - breast_fov.grid.spacing[0]  # chest wall in view


@pytest.mark.parametrize("seed", range(3))
def test_a_slab_field_of_view_cuts_the_breast_at_both_sides_and_keeps_the_lesion(seed):
    """The breast field of view, then the slab: the same rows and slices, fewer columns; the breast reaches both
    left-right edges of the grid, 5-20% of its width cut at each (the lesion whole)."""
    breast_fov, slab = (make_case(np.random.default_rng([23, seed]), SPEC, n_phases=6,
                                  style=Style(acquisition="sagittal", bilateral=False, fov=fov))
                        for fov in ("breast", "slab"))
    assert slab.grid.shape[0::2] == breast_fov.grid.shape[0::2] and slab.grid.shape[1] < breast_fov.grid.shape[1]
    assert slab.lesion_volume_mm3 == breast_fov.lesion_volume_mm3 > 0
    columns = np.flatnonzero(breast_fov.breast_mask.any(axis=(0, 2)))
    kept = slab.breast_mask.any(axis=(0, 2))
    assert kept[0] and kept[-1]  # the breast at both edges
    cut = 1 - slab.grid.shape[1] / len(columns)
    assert 2 * 0.05 - 0.05 <= cut <= 2 * 0.2 + 0.05  # two cuts of 5-20% of the width (rounded to whole columns)
    assert slab.breast_mask.sum() < 0.97 * breast_fov.breast_mask.sum()
    image = slab.phases[0]
    assert image.shape == slab.grid.shape


def test_lesion_scale_multiplies_the_diameter():
    small, large = (make_case(np.random.default_rng(9), SPEC, n_phases=6, style=Style(lesion_scale=scale))
                    for scale in (1.0, 1.6))
    assert large.lesion_volume_mm3 == pytest.approx(1.6 ** 3 * small.lesion_volume_mm3, rel=0.35)


def test_a_duke_case_is_on_its_grid():
    case = make_case(np.random.default_rng(6), SPEC, n_phases=6,
                     style=Style(acquisition="duke", duke_matrix=96, symmetric=True))
    assert case.grid.shape[:2] == (96, 96) and case.grid.shape[2] >= 152 and 1.0 <= case.grid.spacing[2] <= 1.2
    assert case.phases[0].shape == case.grid.shape
