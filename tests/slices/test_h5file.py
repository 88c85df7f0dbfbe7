"""The one slice-HDF5 reader: metadata, splits, row reads, task and schema checks."""

import h5py
import numpy as np
import pytest

from breastmri.data.errors import DataError
from breastmri.slices.build import build_breast_h5, build_lesion_h5
from breastmri.slices.h5file import SliceFile

from .synth import LESION


def test_breast_file_metadata_splits_and_rows(seed_root, tmp_path):
    out = tmp_path / "breast.h5"
    summary = build_breast_h5(seed_root, out, size=16, val_fraction=0.4, seed=0, progress=False)
    source = SliceFile(out, "breast")
    assert (source.task, source.size, source.channels, source.n) == ("breast", 16, 1, 22)
    train, val = source.rows("train"), source.rows("validation")
    assert np.array_equal(np.sort(np.concatenate([train, val])), source.rows("all"))
    assert set(source.patient_ids[val]) == set(summary["split"]["validation"]) == set(source.validation_cases())
    assert source.geometry.shape == (22, 6) and source.phase_present is None
    assert source.preprocessing()["size"] == 16 and "low_pct" in source.preprocessing()
    rows = np.array([0, 1, 2, 7, 9, 10, 21])  # three runs of consecutive rows
    with h5py.File(out) as f:
        assert np.array_equal(source.read("images", rows), f["images"][rows])
        assert np.array_equal(source.read("masks", rows), f["masks"][rows])
    assert source.read("images", []).shape == (0, 1, 16, 16)
    with pytest.raises(ValueError, match="increasing"):
        source.read("images", [3, 2])
    with pytest.raises(ValueError, match="split"):
        source.rows("test")


def test_lesion_file_and_task_mismatch(mamamia_root, tmp_path):
    out = tmp_path / "lesion.h5"
    build_lesion_h5(mamamia_root, out, **LESION, size=16, min_lesion_px=5, neg_exclusion_slices=4,
                    progress=False)
    source = SliceFile(out)
    assert source.task == "lesion" and source.channels == 6 and source.phase_present.shape == (source.n, 6)
    assert source.geometry is None
    with pytest.raises(DataError, match="task 'lesion', not 'breast'"):
        SliceFile(out, "breast")


def test_a_lesion_file_reads_its_channel_phases(tmp_path):
    from breastmri.slices.writer import H5SliceWriter

    for params, phases in (({}, [0, 1, 2]), ({"phases": [0, 5, 2]}, [0, 5, 2])):  # none recorded: 0 .. C-1
        with H5SliceWriter(tmp_path / "a.h5", "lesion", 8, 3, seed=0, params=params):
            pass
        source = SliceFile(tmp_path / "a.h5", "lesion")
        assert source.phases == phases and source.preprocessing()["phases"] == phases
    with H5SliceWriter(tmp_path / "b.h5", "lesion", 8, 3, seed=0, params={"phases": [0, 1]}):
        pass
    with pytest.raises(DataError, match=r"b.h5: the file records 2 channel phases \[0, 1\] for 3 image channels"):
        SliceFile(tmp_path / "b.h5")


def test_missing_invalid_or_incomplete_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        SliceFile(tmp_path / "none.h5")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"junk")
    with pytest.raises(DataError, match="not a valid slice HDF5"):
        SliceFile(junk)
    partial = tmp_path / "partial.h5"
    with h5py.File(partial, "w") as f:
        f.attrs["task"], f.attrs["size"], f.attrs["params"] = "breast", 8, "{}"
        f.create_dataset("images", shape=(0, 1, 8, 8), dtype="f4")
    with pytest.raises(DataError, match="missing dataset.*masks"):
        SliceFile(partial)
    with h5py.File(partial, "a") as f:
        f.create_dataset("masks", shape=(0, 1, 8, 8), dtype="u1")
        f.create_dataset("patient_id", shape=(0,), dtype=h5py.string_dtype())
        f.create_dataset("slice_index", shape=(0,), dtype="i4")
        f.create_dataset("is_validation", shape=(0,), dtype="?")
    with pytest.raises(DataError, match="no split"):
        SliceFile(partial).validation_cases()
