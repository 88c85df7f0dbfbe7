"""Per-patient storage and planted defects: mask flips in the working frame, guaranteed counts per group,
scanner orientations in turn, oblique tilts of 2-8 degrees, determinism."""

import numpy as np
import pytest

from breastmri.orientation.frame import to_working, working_ornt
from breastmri.phantom.defects import Defects, draw_defects
from breastmri.phantom.geometry import Grid

ARRAY = np.arange(4 * 5 * 3).reshape(4, 5, 3)
GRID = Grid((4, 5, 3), (0.8, 0.8, 2.5))
SPLITS = ["train"] * 8 + ["inference"] * 8
SCANNER = [False, True] * 8
RATES = {"scan_swap": 0.0001, "scan_flip_ud": 0.5, "scan_flip_hf": 0.25, "mask_flip_ud": 0.0001, "mask_flip_lr": 0.0}
ORIENTATIONS = ["LPS", "RAS", "PLS", "ARS"]


def test_mask_flips_act_in_the_working_frame_on_top_of_the_storage():
    defects = Defects(scan_swap=True, scan_flip_ud=True, mask_flip_ud=True, mask_flip_lr=True)
    np.testing.assert_array_equal(defects.mask(ARRAY), ARRAY[::-1, ::-1])
    storage = defects.storage(GRID)
    stored_mask = storage.store(defects.mask(ARRAY))
    np.testing.assert_array_equal(to_working(stored_mask, storage.stored_to_working), ARRAY[::-1, ::-1])
    assert Defects().mask(ARRAY) is ARRAY
    assert defects.record() == {"mask_flip_ud": True, "mask_flip_lr": True}


def test_seed_convention_or_scanner_storage():
    seed = Defects(scan_flip_hf=True).storage(GRID)
    assert seed.name == "diag" and not seed.matches_anatomy
    np.testing.assert_array_equal(seed.store(ARRAY), ARRAY[:, :, ::-1])
    scanner = Defects("RAS", rotation=(0.0, 0.05, 0.0)).storage(GRID)
    assert scanner.name == "oblique-RAS" and scanner.matches_anatomy
    np.testing.assert_array_equal(working_ornt(scanner.affine), scanner.stored_to_working)


@pytest.fixture(scope="module")
def drawn():
    return draw_defects(np.random.default_rng(0), SPLITS, SCANNER, RATES, ORIENTATIONS, oblique_rate=0.01)


def test_defects_meet_the_minimum_per_group_and_apply_only_where_they_should(drawn):
    groups = {(s, k): [d for d, split, on in zip(drawn, SPLITS, SCANNER) if split == s and on == k]
              for s in ("train", "inference") for k in (False, True)}
    for split in ("train", "inference"):
        seed_group, scanner_group = groups[split, False], groups[split, True]
        for name in ("scan_swap", "scan_flip_ud", "scan_flip_hf"):
            assert sum(getattr(d, name) for d in seed_group) >= 2
            assert not any(getattr(d, name) for d in scanner_group)  # scanner files are not flipped
        assert all(d.orientation == "diag" and d.rotation is None for d in seed_group)
        assert sorted(d.orientation for d in scanner_group) == sorted(ORIENTATIONS)  # each in turn
        assert sum(d.rotation is not None for d in scanner_group) >= 2
    for group in (groups["train", False], groups["train", True]):
        assert sum(d.mask_flip_ud for d in group) >= 2
    assert not any(d.mask_flip_lr for d in drawn)  # a zero rate plants none
    assert not any(d.mask_flip_ud for d in groups["inference", False] + groups["inference", True])


def test_oblique_tilts_are_two_to_eight_degrees_and_the_draw_is_deterministic(drawn):
    angles = [np.degrees(np.linalg.norm(d.rotation)) for d in drawn if d.rotation is not None]
    assert angles and all(2.0 <= a <= 8.0 for a in angles)
    again = draw_defects(np.random.default_rng(0), SPLITS, SCANNER, RATES, ORIENTATIONS, oblique_rate=0.01)
    assert again == drawn


def test_small_groups_get_what_they_can():
    defects = draw_defects(np.random.default_rng(1), ["train", "inference"], [False, True],
                           {k: 1.0 for k in RATES}, ["LPS"], oblique_rate=1.0)
    assert defects[0].scan_swap and defects[0].mask_flip_lr and defects[1].rotation is not None
    assert not defects[1].mask_flip_ud and defects[1].orientation == "LPS"
