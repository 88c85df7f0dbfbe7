"""Per-case shards: what their fingerprint covers, round trips, litter and stale files."""

import os

import numpy as np
import pytest

from breastmri.data.errors import DataError
from breastmri.slices import shards
from breastmri.slices.selection import CaseCandidates
from breastmri.slices.writer import PatientSlices


def _batch(k=3, pid="CASE_000"):
    rng = np.random.default_rng(0)
    return PatientSlices(pid, rng.random((k, 6, 8, 8), dtype=np.float32), (rng.random((k, 1, 8, 8)) > 0.5)
                         .astype(np.uint8), np.arange(k) * 2, phase_present=np.tile([1, 1, 0, 1, 1, 1], (k, 1))
                         .astype(bool), info={"slices": k})


def test_fingerprint_covers_case_inputs_settings_and_code(tmp_path):
    a, b = tmp_path / "a.nii.gz", tmp_path / "b.nii.gz"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    base = shards.fingerprint("lesion slices", "C", [a, None, b], {"size": 32}, "code1")
    assert base == shards.fingerprint("lesion slices", "C", [a, None, b], {"size": 32}, "code1")
    others = [shards.fingerprint("lesion candidates", "C", [a, None, b], {"size": 32}, "code1"),
              shards.fingerprint("lesion slices", "D", [a, None, b], {"size": 32}, "code1"),
              shards.fingerprint("lesion slices", "C", [a, b, None], {"size": 32}, "code1"),
              shards.fingerprint("lesion slices", "C", [a, None, b], {"size": 64}, "code1"),
              shards.fingerprint("lesion slices", "C", [a, None, b], {"size": 32}, "code2")]
    assert base not in others and len(set(others)) == len(others)
    st = a.stat()
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched: same bytes, new time
    assert shards.fingerprint("lesion slices", "C", [a, None, b], {"size": 32}, "code1") != base
    b.write_bytes(b"three")  # other content
    with pytest.raises(DataError, match="gone"):
        shards.fingerprint("x", "C", [tmp_path / "gone"], {}, "code1")
    # a DICOM folder counts every file in it
    folder = tmp_path / "dicom"
    folder.mkdir()
    (folder / "1.dcm").write_bytes(b"x")
    before = shards.fingerprint("x", "C", [folder], {}, "code1")
    (folder / "2.dcm").write_bytes(b"y")
    assert shards.fingerprint("x", "C", [folder], {}, "code1") != before
    assert len(shards.code_version()) == 64


def test_shard_round_trip_and_fingerprint_check(tmp_path):
    path = tmp_path / "s" / "CASE_000.h5"
    batch = _batch()
    shards.write_shard(path, batch, "fp1")
    assert shards.shard_fingerprint(path) == "fp1"
    back = shards.read_shard(path, "fp1")
    assert back.patient_id == "CASE_000" and back.info == {"slices": 3} and back.geometry is None
    for name in ("images", "masks", "slice_index", "phase_present"):
        assert np.array_equal(getattr(back, name), getattr(batch, name)), name
    assert back.images.dtype == np.float32 and back.slice_index.dtype == np.int32
    with pytest.raises(DataError, match="other inputs or settings"):
        shards.read_shard(path, "fp2")
    empty = shards.write_shard(tmp_path / "s" / "E.h5", _batch(0, "E"), "fp")  # a case with no chosen slice
    assert len(shards.read_shard(empty, "fp")) == 0
    (tmp_path / "s" / "bad.h5").write_bytes(b"not hdf5")
    assert shards.shard_fingerprint(tmp_path / "s" / "bad.h5") is None  # unreadable: recomputed, not reused
    assert shards.shard_fingerprint(tmp_path / "s" / "missing.h5") is None
    assert not list((tmp_path / "s").glob(".*"))  # written under temporary names, renamed


def test_candidates_round_trip(tmp_path):
    found = CaseCandidates("C", np.array([5, 6], np.int64), np.array([], np.int64), 40,
                           {"lesion_slices": 3, "resampled_shape": [24, 20, 40]})
    path = shards.write_candidates(tmp_path / "C.candidates.json", found, "fp1")
    back = shards.read_candidates(path, "fp1")
    assert back.case == "C" and back.n_slices == 40 and back.info == found.info
    assert back.positives.tolist() == [5, 6] and back.negatives.dtype == np.int64 and back.negatives.size == 0
    assert shards.read_candidates(path, "fp2") is None
    assert shards.read_candidates(tmp_path / "missing.json", "fp1") is None
    path.write_text("{truncated")
    assert shards.read_candidates(path, "fp1") is None


def test_store_names_litter_and_stale_cases(tmp_path):
    store = shards.ShardStore(tmp_path / "shards", "lesion")
    assert store.shard("CASE_1") == tmp_path / "shards" / "lesion" / "CASE_1.h5"
    assert store.candidates("CASE_1").name == "CASE_1.candidates.json"
    odd = store.shard("../x y")
    assert odd.parent == store.folder and odd.name.startswith("case-")  # never outside the folder
    assert store.clean_temps() == [] and store.prune(["CASE_1"]) == []  # no folder yet
    store.folder.mkdir(parents=True)
    for name in ("CASE_1.h5", "CASE_1.candidates.json", "CASE_2.h5", ".CASE_3.abc.tmp.h5", ".CASE_3.x.tmp.json"):
        (store.folder / name).write_bytes(b"")
    assert [p.name for p in store.clean_temps()] == [".CASE_3.abc.tmp.h5", ".CASE_3.x.tmp.json"]
    assert [p.name for p in store.prune(["CASE_1"])] == ["CASE_2.h5"]
    assert sorted(p.name for p in store.folder.iterdir()) == ["CASE_1.candidates.json", "CASE_1.h5"]
    (tmp_path / "shards" / "breast").mkdir()
    store.remove()
    assert not store.folder.exists() and (tmp_path / "shards").is_dir()  # the other task's folder stays
    shards.ShardStore(tmp_path / "shards", "breast").remove()
    assert not (tmp_path / "shards").exists()
