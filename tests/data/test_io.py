"""Strict NIfTI reading and atomic writing."""

import gzip
import json

import nibabel as nib
import numpy as np
import pytest

from breastmri.data.errors import DataError
from breastmri.data.io import load_volume, save_nifti, write_json

AFFINE = np.diag([0.8, 0.7, 2.5, 1.0])


def test_save_then_load_round_trips_array_affine_and_spacing(tmp_path):
    array = np.random.default_rng(0).random((7, 9, 5)).astype(np.float32)
    path = save_nifti(array, AFFINE, tmp_path / "sub" / "Breast_MRI_007.nii.gz")
    vol = load_volume(path)
    np.testing.assert_array_equal(vol.array, array)
    np.testing.assert_allclose(vol.affine, AFFINE, rtol=1e-7)  # NIfTI stores the affine as float32
    assert vol.spacing == pytest.approx((0.8, 0.7, 2.5))
    again = load_volume(save_nifti(vol.array, vol.affine, tmp_path / "again.nii.gz"))
    np.testing.assert_array_equal(again.affine, vol.affine)  # a loaded affine re-saves exactly
    assert vol.patient_id == "Breast_MRI_007" and vol.shape == (7, 9, 5)
    assert sorted(p.name for p in tmp_path.rglob("*.gz")) == ["Breast_MRI_007.nii.gz", "again.nii.gz"]


def test_trailing_singleton_fourth_axis_is_accepted(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((4, 5, 6, 1), np.float32), AFFINE), tmp_path / "a.nii.gz")
    assert load_volume(tmp_path / "a.nii.gz").shape == (4, 5, 6)


@pytest.mark.parametrize("shape, message", [((4, 5), "expected a 3D volume, got 2D"),
                                            ((4, 5, 6, 2), "expected a 3D volume, got 4D")])
def test_wrong_dimensions_are_rejected(tmp_path, shape, message):
    nib.save(nib.Nifti1Image(np.zeros(shape, np.float32), AFFINE), tmp_path / "bad.nii.gz")
    with pytest.raises(DataError, match=message) as err:
        load_volume(tmp_path / "bad.nii.gz")
    assert "bad.nii.gz" in str(err.value)


def test_missing_empty_corrupt_truncated_and_nan_files_name_the_file(tmp_path):
    with pytest.raises(DataError, match="missing.nii.gz: file not found"):
        load_volume(tmp_path / "missing.nii.gz")
    (tmp_path / "empty.nii.gz").write_bytes(b"")
    with pytest.raises(DataError, match="empty.nii.gz: file is empty"):
        load_volume(tmp_path / "empty.nii.gz")
    (tmp_path / "noise.nii.gz").write_bytes(gzip.compress(np.random.default_rng(1).bytes(4000)))
    with pytest.raises(DataError, match="noise.nii.gz: cannot read as NIfTI"):
        load_volume(tmp_path / "noise.nii.gz")
    good = save_nifti(np.ones((16, 16, 16), np.float32), AFFINE, tmp_path / "good.nii.gz")
    (tmp_path / "cut.nii.gz").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(DataError, match="cut.nii.gz: cannot read as NIfTI"):
        load_volume(tmp_path / "cut.nii.gz")
    data = np.ones((4, 4, 4), np.float32)
    data[1, 2, 3] = np.nan
    data[0, 0, 0] = np.inf
    save_nifti(data, AFFINE, tmp_path / "nan.nii.gz")
    with pytest.raises(DataError, match="nan.nii.gz: 2 voxels are NaN or infinite"):
        load_volume(tmp_path / "nan.nii.gz")


def test_gz_images_are_read_by_isal_and_written_by_nibabels_own_gzip(tmp_path):
    from isal import igzip
    from nibabel.openers import ImageOpener, Opener

    array = np.random.default_rng(2).integers(0, 900, (20, 18, 12)).astype(np.int16)
    path = save_nifti(array, AFFINE, tmp_path / "a.nii.gz")
    with ImageOpener(str(path), "rb") as opened:
        assert isinstance(opened.fobj, igzip.IGzipFile)
    with ImageOpener(str(tmp_path / "w.nii.gz"), "wb") as ours, Opener(str(tmp_path / "n.nii.gz"), "wb") as theirs:
        assert type(ours.fobj) is type(theirs.fobj) and not isinstance(ours.fobj, igzip.IGzipFile)
    assert np.array_equal(load_volume(path, dtype=np.int16).array, array)


def test_damaged_compressed_data_or_checksum_is_one_error_naming_the_file(tmp_path):
    """igzip checks what zlib's reader never reached (the gzip trailer), and its own errors are read errors."""
    good = save_nifti(np.random.default_rng(3).random((16, 16, 16)).astype(np.float32), AFFINE,
                      tmp_path / "good.nii.gz").read_bytes()
    bad_crc = good[:-8] + bytes(b ^ 0xFF for b in good[-8:-4]) + good[-4:]
    (tmp_path / "crc.nii.gz").write_bytes(bad_crc)
    with pytest.raises(DataError, match="crc.nii.gz: cannot read as NIfTI"):
        load_volume(tmp_path / "crc.nii.gz")
    raised, read = [], 0
    for offset in range(200, len(good) - 8, 97):  # one bit flipped inside the compressed data
        flipped = bytearray(good)
        flipped[offset] ^= 1
        (tmp_path / "flip.nii.gz").write_bytes(bytes(flipped))
        try:  # any exception but the one-line DataError fails the test
            load_volume(tmp_path / "flip.nii.gz")
            read += 1  # a flip whose stream runs past the data: the trailer is never reached
        except DataError as err:
            assert "flip.nii.gz: " in str(err)  # unreadable, or read as NaN voxels
            raised.append(type(err.__cause__).__name__)
    assert "IsalError" in raised  # isal's own exception class is among the read errors
    assert len(raised) > 9 * read  # most damage is found


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(TypeError):
        write_json({"x": object()}, tmp_path / "m.json")
    assert list(tmp_path.iterdir()) == []


def test_write_json_is_sorted_and_converts_numpy(tmp_path):
    write_json({"b": np.float32(1.5), "a": np.arange(2)}, tmp_path / "m.json")
    assert (tmp_path / "m.json").read_text() == '{\n  "a": [\n    0,\n    1\n  ],\n  "b": 1.5\n}\n'


def test_write_json_is_strict_json_with_null_for_non_finite_values(tmp_path):
    write_json({"nan": float("nan"), "inf": [np.float32("inf"), 1.0], "nested": {"x": np.array([np.nan, 2.0])}},
               tmp_path / "m.json")
    strict = json.loads((tmp_path / "m.json").read_text(), parse_constant=lambda c: pytest.fail(f"bare {c}"))
    assert strict == {"nan": None, "inf": [None, 1.0], "nested": {"x": [None, 2.0]}}


@pytest.mark.parametrize("damage", ["zero sform", "nan sform"])
def test_an_affine_that_is_not_finite_or_not_invertible_is_refused(tmp_path, damage):
    """Headers nibabel reads without complaint: an all-zero sform, a NaN in the sform."""
    img = nib.Nifti1Image(np.ones((5, 5, 5), np.float32), np.eye(4))
    header = img.header
    for row in ("srow_x", "srow_y", "srow_z"):
        header[row] = 0.0
    if damage == "nan sform":
        header["srow_x"] = [np.nan, 0.0, 0.0, 0.0]
        header["srow_y"], header["srow_z"] = [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]
    header["sform_code"] = 1
    path = tmp_path / "bad_affine.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((5, 5, 5), np.float32), None, header), path)
    with pytest.raises(DataError, match="bad_affine.nii.gz.*the affine is not finite or not invertible"):
        load_volume(path)
