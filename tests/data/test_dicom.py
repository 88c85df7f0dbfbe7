"""DICOM series in: geometry as SimpleITK would convert it, phases of one series, every bad input a DataError."""

from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SegmentationStorage, generate_uid
from scipy.spatial.transform import Rotation

from breastmri.data.dicom import (DicomPhase, is_dicom_series, list_dicom_phases, load_dicom_phases,
                                  load_dicom_volume)
from breastmri.data.errors import DataError
from breastmri.data.io import load_volume, save_nifti
from breastmri.data.layouts import phase_paths_in
from breastmri.orientation.frame import WORKING_AXCODES, axcodes, to_working, working_affine, working_ornt
from breastmri.phantom.dicom import write_dicom_series

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "real" / "nact"
SHAPE = (11, 9, 6)  # all different: any transposition shows


def _affine(columns, origin):
    affine = np.eye(4)
    affine[:3, :3] = np.column_stack(columns)
    affine[:3, 3] = origin
    return affine


GEOMETRIES = {  # RAS+ affines a scanner's series can have
    "axial_lps": _affine([(-0.8, 0, 0), (0, -0.7, 0), (0, 0, 2.5)], (40.0, 30.5, -12.25)),    # L, P, S
    "sagittal": _affine([(0, -0.7, 0), (0, 0, -0.7), (2.0, 0, 0)], (-20.0, 60.0, 70.0)),      # P, I, R (NACT)
    "oblique": _affine(list((Rotation.from_euler("xyz", [5, -8, 12], degrees=True).as_matrix()
                             @ np.diag([-0.8, -0.7, 2.5])).T), (10.3, -20.1, 33.7)),
}


def _array(seed=0, shape=SHAPE):
    return np.random.default_rng(seed).integers(-1000, 3000, shape).astype(np.int16)


def _phases(n=3):
    """``n`` distinct phases on one grid (4D, phases on axis 3)."""
    base = _array()
    return np.stack([base + 500 * p for p in range(n)], axis=3).astype(np.int16)


def _edit(path, **tags):
    """Rewrite one file with tags set (``None`` deletes the tag)."""
    ds = pydicom.dcmread(path)
    for tag, value in tags.items():
        if value is None:
            delattr(ds, tag)
        else:
            setattr(ds, tag, value)
    ds.save_as(path)


def _shuffle_names(files, seed=0):
    """Rename the files in a random order: nothing may depend on the names."""
    order = np.random.default_rng(seed).permutation(len(files))
    for f, k in zip(files, order):
        f.rename(f.with_name(f"img{k:04d}"))


def _as_simpleitk_converts_it(folder: Path, out: Path) -> nib.Nifti1Image:
    """The reference: SimpleITK's (GDCM) series reader, written as NIfTI, read by nibabel."""
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    sitk.WriteImage(reader.Execute(), str(out))
    return nib.load(str(out))


@pytest.mark.parametrize("geometry", sorted(GEOMETRIES))
def test_series_reads_back_as_written_and_as_simpleitk_converts_it(tmp_path, geometry):
    affine, array = GEOMETRIES[geometry], _array()
    write_dicom_series(tmp_path / "series", array, affine, seed=geometry)
    _shuffle_names(sorted((tmp_path / "series").iterdir()))
    vol = load_dicom_volume(tmp_path / "series")
    assert vol.array.dtype == np.float32 and vol.patient_id == "series" and vol.path == tmp_path / "series"
    np.testing.assert_array_equal(vol.array, array)
    np.testing.assert_allclose(vol.affine, affine, atol=1e-4)
    assert vol.header_zooms == pytest.approx(vol.spacing)
    reference = _as_simpleitk_converts_it(tmp_path / "series", tmp_path / "sitk.nii.gz")
    np.testing.assert_array_equal(vol.array, np.asarray(reference.dataobj))
    np.testing.assert_allclose(vol.affine, reference.affine, atol=1e-4)


@pytest.mark.parametrize("geometry", sorted(GEOMETRIES))
def test_working_frame_of_the_series_equals_that_of_its_nifti_copy(tmp_path, geometry):
    write_dicom_series(tmp_path / "series", _array(), GEOMETRIES[geometry], seed=geometry)
    vol = load_volume(tmp_path / "series", "P1", dtype=np.int16)  # the one reader dispatches to DICOM
    assert vol.patient_id == "P1" and vol.array.dtype == np.int16
    copy = load_volume(save_nifti(vol.array, vol.affine, tmp_path / "copy.nii.gz"), dtype=np.int16)
    ornt = working_ornt(vol.affine)
    np.testing.assert_array_equal(ornt, working_ornt(copy.affine))
    np.testing.assert_array_equal(to_working(vol.array, ornt), to_working(copy.array, working_ornt(copy.affine)))
    assert axcodes(working_affine(vol.affine, vol.shape, ornt)) == WORKING_AXCODES


@pytest.mark.parametrize("phase_tags", ["content_time", "temporal_position", "instance_number"])
def test_phases_of_one_series_split_in_time_order(tmp_path, phase_tags):
    phases = _phases()
    files = write_dicom_series(tmp_path / "CASE", phases, GEOMETRIES["sagittal"], seed="x", phase_tags=phase_tags)
    _shuffle_names(files)
    volumes = load_dicom_phases(tmp_path / "CASE")
    assert len(volumes) == 3 and [v.patient_id for v in volumes] == ["CASE"] * 3
    for p, vol in enumerate(volumes):
        np.testing.assert_array_equal(vol.array, phases[..., p])
        np.testing.assert_allclose(vol.affine, GEOMETRIES["sagittal"], atol=1e-4)
    assert list_dicom_phases(tmp_path / "CASE") == [DicomPhase(tmp_path / "CASE", p) for p in range(3)]
    with pytest.raises(DataError, match="the series holds 3 phases") as err:
        load_dicom_volume(tmp_path / "CASE")
    assert err.value.path == tmp_path / "CASE"


def test_content_time_orders_the_phases_before_instance_numbers(tmp_path):
    phases = _phases()  # written in InstanceNumber blocks 0, 1, 2 but acquired in the order 2, 1, 0
    write_dicom_series(tmp_path / "CASE", phases, GEOMETRIES["axial_lps"], seed="x", phase_seconds=-300)
    for p, vol in enumerate(load_dicom_phases(tmp_path / "CASE")):
        np.testing.assert_array_equal(vol.array, phases[..., 2 - p])


def test_per_slice_times_fall_back_to_instance_blocks(tmp_path):
    phases = _phases(2)
    files = write_dicom_series(tmp_path / "CASE", phases, GEOMETRIES["axial_lps"], seed="x")
    for k, f in enumerate(files):  # every slice its own ContentTime: the times do not tell the phases apart
        _edit(f, ContentTime=f"10{k:02d}00")
    for p, vol in enumerate(load_dicom_phases(tmp_path / "CASE")):
        np.testing.assert_array_equal(vol.array, phases[..., p])


def test_a_dicom_phase_loads_like_a_phase_file(tmp_path):
    phases = _phases()
    write_dicom_series(tmp_path / "CASE", phases, GEOMETRIES["oblique"], seed="x")
    entries = phase_paths_in(tmp_path / "CASE")
    assert entries == [DicomPhase(tmp_path / "CASE", p) for p in range(3)]
    vol = load_volume(entries[2])
    np.testing.assert_array_equal(vol.array, phases[..., 2])
    assert vol.patient_id == "CASE" and vol.path == tmp_path / "CASE"
    assert Path(entries[1]) == tmp_path / "CASE" and entries[1].name == "CASE (DICOM phase 1)"


@pytest.mark.parametrize("damage", ["drop_a_slice", "move_a_slice"])
def test_a_series_that_cannot_be_split_is_one_line_error(tmp_path, damage):
    files = write_dicom_series(tmp_path / "CASE", _phases(), GEOMETRIES["axial_lps"], seed="x")
    if damage == "drop_a_slice":  # unequal numbers of slices per phase
        files[SHAPE[2] + 2].unlink()
    else:  # a position that does not repeat
        _edit(files[-1], ImagePositionPatient=[0.0, 0.0, 500.0])
    with pytest.raises(DataError, match="cannot split the series into phases") as err:
        load_dicom_phases(tmp_path / "CASE")
    assert err.value.path == tmp_path / "CASE" and "\n" not in str(err.value)


def test_temporal_position_groups_must_hold_every_position(tmp_path):
    files = write_dicom_series(tmp_path / "CASE", _phases(2), GEOMETRIES["axial_lps"], seed="x",
                               phase_tags="temporal_position")
    _edit(files[0], TemporalPositionIdentifier=2)
    with pytest.raises(DataError, match="by TemporalPositionIdentifier the phases hold"):
        load_dicom_phases(tmp_path / "CASE")


def _seg_file(path):
    """A (header-only) DICOM-SEG object."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SegmentationStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["seg"])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta, ds.SOPClassUID, ds.Modality = meta, SegmentationStorage, "SEG"
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.save_as(path, enforce_file_format=True)


def test_seg_and_non_dicom_files_are_ignored(tmp_path):
    write_dicom_series(tmp_path / "series", _array(), GEOMETRIES["axial_lps"], seed="x")
    _seg_file(tmp_path / "series" / "seg.dcm")
    (tmp_path / "series" / "README.txt").write_text("notes")
    (tmp_path / "series" / "sub").mkdir()
    np.testing.assert_array_equal(load_dicom_volume(tmp_path / "series").array, _array())
    assert is_dicom_series(tmp_path / "series")
    (tmp_path / "other").mkdir()
    _seg_file(tmp_path / "other" / "seg.dcm")
    (tmp_path / "other" / "a.nii.gz").write_bytes(b"x")
    assert not is_dicom_series(tmp_path / "other")
    assert not is_dicom_series(tmp_path / "series" / "README.txt") and not is_dicom_series(tmp_path / "nowhere")
    with pytest.raises(DataError, match="folder holds no DICOM image files") as err:
        load_dicom_volume(tmp_path / "other")
    assert err.value.path == tmp_path / "other"


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(DataError, match="nowhere: DICOM series folder is missing"):
        load_dicom_phases(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: folder holds no DICOM image files"):
        load_volume(tmp_path / "empty")


def _series(tmp_path, shape=SHAPE):
    return write_dicom_series(tmp_path / "series", _array(shape=shape), GEOMETRIES["axial_lps"], seed="x")


@pytest.mark.parametrize("cut, message", [(600, "missing DICOM tag"), (-10, "cannot read the pixel data")])
def test_a_truncated_file_is_named(tmp_path, cut, message):
    files = _series(tmp_path)
    files[3].write_bytes(files[3].read_bytes()[:cut])
    with pytest.raises(DataError, match=message) as err:
        load_dicom_volume(tmp_path / "series")
    assert err.value.path == files[3]


def test_missing_geometry_tag_is_named(tmp_path):
    files = _series(tmp_path)
    _edit(files[2], ImagePositionPatient=None)
    with pytest.raises(DataError, match="missing DICOM tag.s. ImagePositionPatient") as err:
        load_dicom_volume(tmp_path / "series")
    assert err.value.path == files[2]


def test_several_series_in_one_folder_are_listed(tmp_path):
    files = _series(tmp_path)
    other = write_dicom_series(tmp_path / "other", _array(), GEOMETRIES["axial_lps"], seed="y")
    other[0].rename(tmp_path / "series" / "extra.dcm")
    with pytest.raises(DataError, match="folder holds 2 DICOM series, expected one") as err:
        load_dicom_volume(tmp_path / "series")
    for f in (files[0], tmp_path / "series" / "extra.dcm"):
        assert pydicom.dcmread(f).SeriesInstanceUID in str(err.value)


def test_inconsistent_orientation_is_named(tmp_path):
    files = _series(tmp_path)
    _edit(files[4], ImageOrientationPatient=[1, 0, 0, 0, 0.8, 0.6])
    with pytest.raises(DataError, match="ImageOrientationPatient .* differs from") as err:
        load_dicom_volume(tmp_path / "series")
    assert err.value.path == files[4]


@pytest.mark.parametrize("damage, message", [("gap", "not evenly spaced"),
                                             ("tilt", "not stacked along the slice normal"),
                                             ("single", "not a 3D volume"),
                                             ("zero spacing", "affine is not finite or not invertible")])
def test_irregular_stacks_are_rejected(tmp_path, damage, message):
    files = _series(tmp_path, shape=(11, 9, 1) if damage == "single" else SHAPE)
    if damage == "gap":
        files[2].unlink()
    elif damage == "zero spacing":
        for f in files:
            _edit(f, PixelSpacing=[0.0, 0.7])
    elif damage == "tilt":
        for k, f in enumerate(files):
            position = pydicom.dcmread(f).ImagePositionPatient
            _edit(f, ImagePositionPatient=[position[0] + 0.5 * k, position[1], position[2]])
    with pytest.raises(DataError, match=message) as err:
        load_dicom_volume(tmp_path / "series")
    assert err.value.path == tmp_path / "series"


@pytest.mark.parametrize("case", ["UCSF-BR-06", "UCSF-BR-08"])
def test_real_nact_series_equal_their_simpleitk_nifti_copies(case):
    if not REAL.is_dir():
        pytest.skip(f"{REAL} is absent")
    folder = REAL / "dicom" / case / "dce"
    assert is_dicom_series(folder) and not is_dicom_series(REAL / "dicom" / case / "seg")
    assert phase_paths_in(folder) == [DicomPhase(folder, p) for p in range(3)]
    phases = load_dicom_phases(folder, case)
    assert len(phases) == 3
    for p, vol in enumerate(phases):
        copy = load_volume(REAL / "mamamia" / "images" / case / f"{case}_{p:04d}.nii.gz")
        ornt = working_ornt(vol.affine)
        np.testing.assert_array_equal(ornt, working_ornt(copy.affine))
        np.testing.assert_array_equal(to_working(vol.array, ornt), to_working(copy.array, working_ornt(copy.affine)))
        np.testing.assert_array_equal(vol.array, copy.array)
        np.testing.assert_allclose(vol.affine, copy.affine, atol=1e-4)
        assert vol.shape == (256, 256, 60) and vol.spacing == pytest.approx((0.703125, 0.703125, 2.0))
        # sagittal, stored P, I, R: the working frame has the phantom's sides (anterior, left, superior)
        assert axcodes(vol.affine) == ("P", "I", "R")
        assert axcodes(working_affine(vol.affine, vol.shape, ornt)) == WORKING_AXCODES
