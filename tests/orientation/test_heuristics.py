"""Each heuristic on constructed volumes: the canonical case, its flip, and no evidence at all."""

import numpy as np
import pytest

from breastmri.orientation import heuristics as h

from .synth import anatomy


def _ud_volume():
    vol = np.full((20, 12, 10), 10.0)
    vol[12:18] = 100.0  # bright breast tissue at high axis-0 index
    return vol


def test_decision_from_score_sign_and_margin():
    assert h.Decision.from_score(0.3) == (False, 0.3)
    assert h.Decision.from_score(-0.3) == (True, 0.3)
    assert h.Decision.from_score(0.0) == (False, 0.0)


def test_scan_up_down_positive_negative_and_no_evidence():
    vol = _ud_volume()
    keep, flip = h.scan_up_down(vol), h.scan_up_down(vol[::-1])
    assert keep.flip is False and keep.margin > 0.5
    assert flip.flip is True and flip.margin == pytest.approx(keep.margin)
    assert h.scan_up_down(np.ones((20, 12, 10))) == (False, 0.0)


def test_scan_up_down_uses_several_slices():
    vol = _ud_volume()
    vol[:6, :, 4] = 1000.0  # one artefact slice with a bright upper half does not decide alone
    assert h.scan_up_down(vol).flip is False
    assert h.scan_up_down(vol, n_slices=1, span=(0.5, 0.5)).flip is True


def test_scan_head_foot_positive_negative_and_no_evidence():
    vol = np.ones((8, 8, 30)) * np.linspace(10, 40, 30)  # superior (high z) brighter
    keep, flip = h.scan_head_foot(vol), h.scan_head_foot(vol[:, :, ::-1])
    assert keep.flip is False and keep.margin > 0.2
    assert flip.flip is True and flip.margin == pytest.approx(keep.margin)
    assert h.scan_head_foot(np.ones((8, 8, 30))) == (False, 0.0)
    assert h.scan_head_foot(np.ones((8, 8, 1))) == (False, 0.0)


def test_scan_head_foot_robust_to_one_bright_inferior_slice():
    vol = np.ones((8, 8, 30)) * np.linspace(10, 40, 30)
    vol[:, :, 0] = 500.0
    assert h.scan_head_foot(vol).flip is False


def test_mask_up_down_positive_negative_and_centred():
    mask = np.zeros((20, 12, 10), np.uint8)
    mask[13:18, 2:10, 2:8] = 1
    keep, flip = h.mask_up_down(mask), h.mask_up_down(mask[::-1])
    assert keep.flip is False and keep.margin > 0.3
    assert flip.flip is True and flip.margin == pytest.approx(keep.margin)
    centred = np.zeros((21, 12, 10), np.uint8)
    centred[8:13, 2:10, 2:8] = 1
    assert h.mask_up_down(centred) == (False, 0.0)
    assert h.mask_up_down(np.zeros((20, 12, 10))) == (False, 0.0)


def test_mask_left_right_positive_negative_and_symmetric():
    scan = np.zeros((20, 24, 6), np.float32)
    mask = np.zeros(scan.shape, np.uint8)
    mask[10:18, 2:10] = 1   # larger breast on one side
    mask[10:14, 16:20] = 1  # smaller one on the other
    scan[mask > 0] = 100.0
    keep, flip = h.mask_left_right(scan, mask), h.mask_left_right(scan, mask[:, ::-1])
    assert keep.flip is False and keep.margin > 0.1
    assert flip.flip is True and flip.margin == pytest.approx(keep.margin)
    sym = np.zeros(scan.shape, np.uint8)
    sym[10:14, 4:8] = sym[10:14, 16:20] = 1
    s_scan = np.where(sym > 0, 100.0, 0.0)
    assert h.mask_left_right(s_scan, sym) == (False, 0.0)
    assert h.mask_left_right(scan, np.zeros_like(mask)) == (False, 0.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_heuristic_is_antisymmetric_on_breast_like_volumes(seed):
    scan, mask = anatomy(seed)
    pairs = [
        (h.scan_up_down(scan), h.scan_up_down(scan[::-1])),
        (h.scan_head_foot(scan), h.scan_head_foot(scan[:, :, ::-1])),
        (h.mask_up_down(mask), h.mask_up_down(mask[::-1])),
        (h.mask_left_right(scan, mask), h.mask_left_right(scan, mask[:, ::-1])),
    ]
    for canonical, flipped in pairs:
        assert canonical.flip is False and flipped.flip is True
        assert canonical.margin > 0.05
        assert flipped.margin == pytest.approx(canonical.margin, abs=1e-12)


def test_slice_positions_are_distinct_and_in_range():
    idx = h.slice_positions(10, 0.0, 1.0, 50)
    assert idx.tolist() == list(range(10))
    assert h.slice_positions(1, 0.3, 0.7, 5).tolist() == [0]


def test_up_down_uses_the_slices_through_the_breasts():
    """Slices without breasts (only the body, upper half) must not outvote those through the breasts."""
    vol = np.zeros((20, 16, 20), np.float32)
    vol[2:10, 2:14, :] = 60.0        # body in every slice (upper half)
    vol[10:18, 1:15, 2:8] = 80.0     # breasts: lower half, only in slices 2..7 (a large cross-section)
    chosen = h.representative_axial_slices(vol, n_slices=5, span=(0.0, 1.0))
    assert set(chosen.tolist()) <= set(range(2, 8))
    keep, flip = h.scan_up_down(vol, 5, (0.0, 1.0)), h.scan_up_down(vol[::-1], 5, (0.0, 1.0))
    assert keep.flip is False and flip.flip is True
    assert keep.margin > 0 and keep.margin == pytest.approx(flip.margin)
    # the seed's plain central slice (no breasts there) would have decided the wrong way
    upper, lower = vol[:10, :, 12], vol[10:, :, 12]
    assert upper.mean() > lower.mean()


def test_head_foot_uses_the_bright_tail_not_the_slice_mean():
    """A few very bright osseous voxels at the top decide, even if inferior slices hold more tissue."""
    vol = np.zeros((20, 20, 30), np.float32)
    vol[2:18, 2:18, :8] = 100.0      # large inferior cross-section (abdomen): higher slice mean
    vol[5:15, 5:15, 8:] = 100.0
    vol[8:12, 2:5, 24:] = 400.0      # marrow of the shoulders in the superior slices
    assert vol[:, :, 2].mean() > vol[:, :, 27].mean()
    assert h.scan_head_foot(vol).flip is False and h.scan_head_foot(vol[:, :, ::-1]).flip is True
