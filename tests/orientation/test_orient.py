"""One patient in memory: planted defects are undone, storage variants agree, bad input is named."""

import itertools

import numpy as np
import pytest

from breastmri.data.errors import DataError
from breastmri.data.io import Volume
from breastmri.orientation.orient import HeuristicSettings, mask_alignment_steps, orient_pair, orient_scan
from breastmri.orientation.record import to_original_frame

from .synth import anatomy, diag_affine, plant, store

STORAGES = ["diag", "lps", "transposed", "transposed_201"]


def _volume(array, affine, name="Breast_MRI_001"):
    return Volume(array=array, affine=affine, patient_id=name, path=None)


@pytest.mark.parametrize("flips", list(itertools.product((False, True), repeat=4)))
def test_orient_pair_undoes_every_defect_combination(flips):
    scan, mask = anatomy(3)
    scan_d, mask_d = plant(scan, mask, *flips)
    oriented, oriented_mask, record = orient_pair(_volume(scan_d, diag_affine()), _volume(mask_d, diag_affine()))
    assert (record.scan_flip_ud, record.scan_flip_hf, record.mask_flip_ud, record.mask_flip_lr) == flips
    assert np.array_equal(oriented, scan) and np.array_equal(oriented_mask, mask)
    assert oriented_mask.dtype == np.uint8
    assert min(record.margins().values()) > 0.05
    # a prediction on the oriented scan maps back onto the stored scan file (the scan-following truth)
    truth_stored, _ = plant(mask, mask, flips[0], flips[1])
    assert np.array_equal(to_original_frame(oriented_mask, record), truth_stored)
    # and the mask kind restores the stored (defective) mask file exactly
    assert np.array_equal(to_original_frame(oriented_mask, record, kind="mask"), mask_d)


@pytest.mark.parametrize("storage", STORAGES)
@pytest.mark.parametrize("flips", [(False, False), (True, False), (False, True), (True, True)])
def test_orient_scan_storage_and_scan_defects(storage, flips):
    scan, _ = anatomy(4)
    scan_d, _ = plant(scan, scan, *flips)
    stored, affine = store(scan_d, diag_affine(), storage)
    oriented, record = orient_scan(_volume(stored, affine))
    assert (record.scan_flip_ud, record.scan_flip_hf) == flips
    assert not record.has_mask and record.mask_flip_lr is None
    assert np.array_equal(oriented, scan)
    assert np.array_equal(to_original_frame(oriented, record), stored)


def test_same_anatomy_in_every_storage_ends_up_identical():
    """Acceptance 3: RAS, LPS and transposed files of the same anatomy give identical arrays."""
    scan, mask = anatomy(5)
    scan_d, mask_d = plant(scan, mask, True, True, False, True)
    results = []
    for storage in STORAGES:
        s, a = store(scan_d, diag_affine(), storage)
        m, _ = store(mask_d, diag_affine(), storage)
        results.append(orient_pair(_volume(s, a), _volume(m, a)))
    for oriented, oriented_mask, record in results[1:]:
        assert np.array_equal(oriented, results[0][0]) and np.array_equal(oriented_mask, results[0][1])
        assert record.flips() == results[0][2].flips()
    assert np.array_equal(results[0][0], scan) and np.array_equal(results[0][1], mask)


def test_bare_array_is_taken_as_stored_with_identity_affine():
    scan, _ = anatomy(6)
    oriented, record = orient_scan(scan[::-1])
    assert record.scan_flip_ud and np.array_equal(oriented, scan)


def test_mask_alignment_steps_end_on_the_aligned_mask():
    scan, mask = anatomy(7)
    scan_d, mask_d = plant(scan, mask, True, False, True, True)
    s, m = _volume(scan_d, diag_affine()), _volume(mask_d, diag_affine())
    oriented, oriented_mask, record = orient_pair(s, m)
    steps = mask_alignment_steps(s, m, record)
    assert list(steps) == ["before any correction", "after up/down fix", "after left-right alignment"]
    assert np.array_equal(steps["before any correction"][1], mask_d > 0)
    assert np.array_equal(steps["after up/down fix"][1], mask[:, ::-1] > 0)
    assert np.array_equal(steps["after left-right alignment"][1], oriented_mask > 0)
    assert np.array_equal(steps["after left-right alignment"][0], oriented)


def test_bad_input_raises_data_error_naming_the_file(tmp_path):
    scan, mask = anatomy(8)
    path = tmp_path / "Breast_MRI_009.nii.gz"
    with pytest.raises(DataError, match="Breast_MRI_009.nii.gz: scan is constant"):
        orient_scan(Volume(np.ones((4, 4, 4), np.float32), diag_affine(), "x", path))
    mpath = tmp_path / "mask.nii.gz"
    with pytest.raises(DataError, match="mask.nii.gz: mask is empty"):
        orient_pair(_volume(scan, diag_affine()), Volume(np.zeros_like(mask), diag_affine(), "x", mpath))
    with pytest.raises(DataError, match="mask.nii.gz: mask shape"):
        orient_pair(_volume(scan, diag_affine()), Volume(mask[:, :, :-1], diag_affine(), "x", mpath))
    with pytest.raises(DataError, match="singular"):
        orient_scan(Volume(scan, np.zeros((4, 4)), "x", path))


def test_settings_are_validated():
    with pytest.raises(ValueError):
        HeuristicSettings(n_slices=0)
    with pytest.raises(ValueError):
        HeuristicSettings(central_span=(0.8, 0.2))
    with pytest.raises(ValueError):
        HeuristicSettings(end_fraction=0.7)
    assert HeuristicSettings(central_span=[0.2, 0.8]).to_dict()["central_span"] == [0.2, 0.8]
