"""The phantom's DICOM writer: deterministic files, the tags of a real MR series, oblique geometry, bad input."""

import numpy as np
import pydicom
import pytest
from scipy.spatial.transform import Rotation

from breastmri.data.dicom import RAS_LPS, load_dicom_phases
from breastmri.data.errors import DataError
from breastmri.phantom.dicom import write_dicom_series

SHAPE = (10, 7, 5)
OBLIQUE = np.eye(4)
OBLIQUE[:3, :3] = Rotation.from_euler("zyx", [20, -7, 4], degrees=True).as_matrix() @ np.diag([-0.9, -0.6, 3.0])
OBLIQUE[:3, 3] = (-31.5, 12.25, 80.0)


def _phases(n=2):
    base = np.random.default_rng(1).integers(-2000, 2000, SHAPE)
    return np.stack([base + 100 * p for p in range(n)], axis=3).astype(np.int16)


def _headers(files):
    return [pydicom.dcmread(f) for f in files]


def test_same_input_gives_byte_identical_files_and_the_seed_sets_the_uids(tmp_path):
    runs = {name: write_dicom_series(tmp_path / name, _phases(), OBLIQUE, seed=seed)
            for name, seed in (("a", "case-1"), ("b", "case-1"), ("c", "case-2"))}
    assert [f.name for f in runs["a"]] == [f"{k:04d}.dcm" for k in range(1, 2 * SHAPE[2] + 1)]
    assert [f.read_bytes() for f in runs["a"]] == [f.read_bytes() for f in runs["b"]]
    a, c = _headers(runs["a"]), _headers(runs["c"])
    for tag in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "SOPInstanceUID"):
        assert getattr(a[0], tag) != getattr(c[0], tag)
    assert len({ds.SOPInstanceUID for ds in a}) == len(a)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c"]  # no staging folder left


def test_nact_like_series_tells_phases_apart_by_instance_blocks_and_content_time(tmp_path):
    headers = _headers(write_dicom_series(tmp_path / "s", _phases(3), OBLIQUE, seed="x", phase_seconds=90))
    n = SHAPE[2]
    assert [int(ds.InstanceNumber) for ds in headers] == list(range(1, 3 * n + 1))
    assert [ds.ContentTime for ds in headers[::n]] == ["100000.000000", "100130.000000", "100300.000000"]
    assert all(ds.ContentTime == headers[p * n].ContentTime for p in range(3) for ds in headers[p * n:(p + 1) * n])
    for ds in headers:
        assert "TemporalPositionIdentifier" not in ds and "AcquisitionTime" not in ds
        assert ds.Modality == "MR" and ds.SeriesInstanceUID == headers[0].SeriesInstanceUID
        assert ds.StudyInstanceUID == headers[0].StudyInstanceUID
        assert ds.FrameOfReferenceUID == headers[0].FrameOfReferenceUID
    # the same slice positions in every phase
    assert [ds.ImagePositionPatient for ds in headers[:n]] == [ds.ImagePositionPatient for ds in headers[2 * n:]]


def test_temporal_position_tags(tmp_path):
    headers = _headers(write_dicom_series(tmp_path / "s", _phases(2), OBLIQUE, seed="x",
                                          phase_tags="temporal_position"))
    assert [int(ds.TemporalPositionIdentifier) for ds in headers] == [1] * SHAPE[2] + [2] * SHAPE[2]
    assert {int(ds.NumberOfTemporalPositions) for ds in headers} == {2}
    assert all(ds.AcquisitionTime == ds.ContentTime for ds in headers)


def test_oblique_geometry_is_written_in_lps_and_round_trips(tmp_path):
    phases = _phases()
    headers = _headers(write_dicom_series(tmp_path / "s", phases, OBLIQUE, seed="x"))
    lps = RAS_LPS @ OBLIQUE[:3]
    spacing = np.linalg.norm(lps[:, :3], axis=0)
    first = headers[0]
    np.testing.assert_allclose(np.array(first.ImageOrientationPatient, float),
                               np.concatenate([lps[:, 0] / spacing[0], lps[:, 1] / spacing[1]]), atol=1e-9)
    np.testing.assert_allclose([float(v) for v in first.PixelSpacing], [spacing[1], spacing[0]], atol=1e-9)
    assert float(first.SliceThickness) == float(first.SpacingBetweenSlices) == pytest.approx(spacing[2])
    for k, ds in enumerate(headers[:SHAPE[2]]):
        np.testing.assert_allclose(np.array(ds.ImagePositionPatient, float), lps[:, 3] + k * lps[:, 2], atol=1e-9)
    assert (int(first.Rows), int(first.Columns)) == (SHAPE[1], SHAPE[0])
    for p, vol in enumerate(load_dicom_phases(tmp_path / "s")):
        np.testing.assert_array_equal(vol.array, phases[..., p])
        np.testing.assert_allclose(vol.affine, OBLIQUE, atol=1e-4)


def test_bad_input_is_refused(tmp_path):
    volume = _phases(1)[..., 0]
    with pytest.raises(DataError, match="integers in the int16 range"):
        write_dicom_series(tmp_path / "a", volume + 0.5, OBLIQUE, seed="x")
    with pytest.raises(DataError, match="integers in the int16 range"):
        write_dicom_series(tmp_path / "a", volume.astype(np.int32) + 40000, OBLIQUE, seed="x")
    with pytest.raises(DataError, match="expected a 3D volume or a 4D array"):
        write_dicom_series(tmp_path / "a", volume[..., 0], OBLIQUE, seed="x")
    sheared = OBLIQUE.copy()
    sheared[0, 2] += 0.5
    left_handed = OBLIQUE.copy()
    left_handed[:3, 2] *= -1
    for affine in (sheared, left_handed):
        with pytest.raises(DataError, match="sheared or left-handed"):
            write_dicom_series(tmp_path / "a", volume, affine, seed="x")
    with pytest.raises(DataError, match="phase_tags must be one of"):
        write_dicom_series(tmp_path / "a", volume, OBLIQUE, seed="x", phase_tags="trigger_time")
    assert not (tmp_path / "a").exists()
    write_dicom_series(tmp_path / "a", volume, OBLIQUE, seed="x")
    with pytest.raises(DataError, match="a: folder is not empty"):
        write_dicom_series(tmp_path / "a", volume, OBLIQUE, seed="x")
