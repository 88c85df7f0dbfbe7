"""Planted flips and storage variants: definitions, exact inverses, nibabel agreement, guaranteed counts."""

import nibabel as nib
import numpy as np
import pytest

from breastmri.phantom.defects import STORAGES, Defects, canonical_affine, draw_defects, from_storage, to_storage

SPACING = (0.8, 0.7, 2.5)
ARRAY = np.arange(4 * 5 * 3).reshape(4, 5, 3)


def test_scan_flips_follow_the_contract_and_mask_flips_come_on_top():
    d = Defects(scan_flip_ud=True, scan_flip_hf=True, mask_flip_lr=True)
    np.testing.assert_array_equal(d.scan(ARRAY), ARRAY[::-1, :, ::-1])
    np.testing.assert_array_equal(d.mask(ARRAY), ARRAY[::-1, ::-1, ::-1])
    both_ud = Defects(scan_flip_ud=True, mask_flip_ud=True)
    np.testing.assert_array_equal(both_ud.mask(ARRAY), ARRAY)  # the mask's own flip undoes the scan's


@pytest.mark.parametrize("flags", [(a, b, c, e) for a in (0, 1) for b in (0, 1) for c in (0, 1) for e in (0, 1)])
def test_every_defect_combination_is_undone_exactly(flags):
    d = Defects(*map(bool, flags))
    np.testing.assert_array_equal(d.undo_scan(d.scan(ARRAY)), ARRAY)
    np.testing.assert_array_equal(d.undo_mask(d.mask(ARRAY)), ARRAY)


@pytest.mark.parametrize("storage", STORAGES)
def test_storage_is_affine_consistent_and_undone_by_as_closest_canonical(storage):
    stored, affine = to_storage(ARRAY, SPACING, storage)
    np.testing.assert_array_equal(from_storage(stored, storage), ARRAY)
    canonical = nib.as_closest_canonical(nib.Nifti1Image(stored.astype(np.int16), affine))
    np.testing.assert_array_equal(np.asarray(canonical.dataobj), ARRAY)
    np.testing.assert_allclose(canonical.affine, canonical_affine(SPACING), atol=1e-6)
    assert tuple(np.linalg.norm(affine[:3, :3], axis=0)) == pytest.approx(stored_spacing(storage))
    if storage != "diag":
        assert stored.shape != ARRAY.shape or not np.array_equal(stored, ARRAY)


def stored_spacing(storage):
    return (SPACING[1], SPACING[0], SPACING[2]) if storage == "transposed" else SPACING


def test_unknown_storage_is_rejected():
    with pytest.raises(ValueError, match="unknown storage 'ras'"):
        to_storage(ARRAY, SPACING, "ras")


def test_drawn_defects_meet_the_minimum_per_split_and_masks_only_in_training():
    splits = ["train"] * 6 + ["inference"] * 8
    rates = {"scan_flip_ud": 0.0001, "scan_flip_hf": 0.5, "mask_flip_ud": 0.0001, "mask_flip_lr": 0.0}
    defects = draw_defects(np.random.default_rng(0), splits, rates, storage_rate=0.01)
    train, inference = defects[:6], defects[6:]
    assert sum(d.scan_flip_ud for d in train) >= 2 and sum(d.scan_flip_ud for d in inference) >= 2
    assert sum(d.mask_flip_ud for d in train) >= 2
    assert not any(d.mask_flip_lr for d in defects)  # a zero rate plants none
    assert not any(d.mask_flip_ud or d.mask_flip_lr for d in inference)
    for group in (train, inference):
        assert {"lps", "transposed"} <= {d.storage for d in group}
    again = draw_defects(np.random.default_rng(0), splits, rates, storage_rate=0.01)
    assert again == defects
