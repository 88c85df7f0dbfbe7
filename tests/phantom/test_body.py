"""Body layout in the canonical frame: breasts anterior (high axis 0), asymmetric or mirror images, on the chest
wall; shoulders only where the field of view reaches them."""

import numpy as np
import pytest

from breastmri.phantom import body as tissue
from breastmri.phantom.body import build_body
from breastmri.phantom.geometry import draw_duke_grid, draw_grid


@pytest.fixture(scope="module", params=[0, 1, 2])
def body(request):
    rng = np.random.default_rng([11, request.param])
    return build_body(rng, draw_grid(rng))


def test_breasts_lie_at_high_axis0_in_front_of_the_thorax(body):
    rows = body.grid.shape[0]
    breast_rows = np.nonzero(body.breast_mask)[0]
    lung_rows = np.nonzero(body.labels == tissue.LUNG)[0]
    assert breast_rows.mean() > 0.6 * rows and breast_rows.mean() > lung_rows.mean() + 0.2 * rows
    assert body.breast_mask[-1].sum() == 0  # air in front of the nipples


def test_two_breasts_of_different_sizes_one_each_side(body):
    sizes = [np.count_nonzero(body.side == k) for k in (1, 2)]
    assert min(sizes) > 0 and max(sizes) / min(sizes) > 1.3
    columns = [np.nonzero(body.side == k)[1].mean() for k in (1, 2)]
    assert (columns[0] - body.grid.shape[1] / 2) * (columns[1] - body.grid.shape[1] / 2) < 0
    mirrored = body.breast_mask[:, ::-1]
    dice = 2 * np.count_nonzero(mirrored & body.breast_mask) / (2 * np.count_nonzero(body.breast_mask))
    assert dice < 0.9  # a left-right flipped mask is detectable


def test_labels_hold_every_structure_and_breast_coordinates_are_normalised(body):
    present = set(np.unique(body.labels))
    assert {tissue.AIR, tissue.SKIN, tissue.FAT, tissue.MUSCLE, tissue.LUNG, tissue.BLOOD, tissue.BREAST,
            tissue.MARROW} <= present
    inside = body.breast_mask
    assert body.radius[inside].max() <= 1.0 and np.isinf(body.radius[~inside]).all()
    assert 0 <= body.depth[inside].min() and 0.8 < body.depth[inside].max() < 1.4  # ~1 at the nipple


def test_osseous_structures_are_superior(body):
    slices = np.nonzero(body.labels == tissue.MARROW)[2]
    assert slices.size and np.median(slices) > 0.75 * body.grid.shape[2]


@pytest.mark.parametrize("seed", range(6))
def test_symmetric_breasts_are_mirror_images_within_three_percent(seed):
    rng = np.random.default_rng([12, seed])
    body = build_body(rng, draw_grid(rng), symmetric=True)
    volumes = [np.count_nonzero(body.side == k) for k in (1, 2)]
    assert (min(volumes) / max(volumes)) ** (1 / 3) > 0.97  # equivalent diameters within 3 %
    columns = [np.nonzero(body.side == k)[1].mean() for k in (1, 2)]
    assert (columns[0] - body.grid.shape[1] / 2) * (columns[1] - body.grid.shape[1] / 2) < 0


def test_a_field_of_view_below_the_shoulders_holds_no_marrow_and_keeps_the_heart_and_liver():
    rng = np.random.default_rng(4)
    body = build_body(rng, draw_duke_grid(rng, 96), shoulders=False)
    assert not np.any(body.labels == tissue.MARROW)
    for label in (tissue.MYOCARDIUM, tissue.LIVER):
        slices = np.nonzero(body.labels == label)[2]
        assert slices.size and np.median(slices) < 0.5 * body.grid.shape[2]  # at the inferior end


def test_crop_keeps_the_labels_and_moves_the_breast_centres_and_chest_wall(body):
    box = (slice(4, None), slice(10, body.grid.shape[1] - 5), slice(3, -2))
    cropped = body.crop(box)
    n0, n1, n2 = body.grid.shape
    assert cropped.grid.shape == (n0 - 4, n1 - 15, n2 - 5)
    np.testing.assert_array_equal(cropped.labels, body.labels[box])
    np.testing.assert_array_equal(cropped.side, body.side[box])
    dy, dx, dz = 4 * body.grid.spacing[0], 10 * body.grid.spacing[1], 3 * body.grid.spacing[2]
    assert [b.x for b in cropped.breasts] == pytest.approx([b.x - dx for b in body.breasts])
    assert [b.z for b in cropped.breasts] == pytest.approx([b.z - dz for b in body.breasts])
    assert cropped.chest_wall_y == pytest.approx(body.chest_wall_y - dy)
