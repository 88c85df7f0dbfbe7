"""The orientation record: exact inverse pair for every flip combination and storage, JSON round trip."""

import itertools
import json

import numpy as np
import pytest

from breastmri.data.errors import DataError
from breastmri.orientation.canonical import canonical_ornt
from breastmri.orientation.record import (OrientationRecord, load_records, records_table, save_records,
                                          to_oriented_frame, to_original_frame)

from .synth import diag_affine, store

STORAGES = ["diag", "lps", "transposed", "transposed_201"]


def _record(affine, shape, flips, pid="Breast_MRI_001", mask=True):
    ud, hf, mud, mlr = flips
    ornt = canonical_ornt(affine)
    extra = dict(mask_canonical_ornt=ornt, mask_flip_ud=mud, mask_flip_lr=mlr, mask_ud_margin=0.25,
                 mask_lr_margin=0.125) if mask else {}
    return OrientationRecord(patient_id=pid, split="train" if mask else "inference", stored_shape=shape,
                             stored_affine=affine, canonical_ornt=ornt, scan_flip_ud=ud, scan_flip_hf=hf,
                             scan_ud_margin=0.5, scan_hf_margin=0.0625, **extra)


@pytest.mark.parametrize("storage", STORAGES)
@pytest.mark.parametrize("flips", list(itertools.product((False, True), repeat=4)))
def test_round_trip_is_exact_for_every_flip_combination(storage, flips):
    rng = np.random.default_rng(1)
    canonical = rng.integers(0, 1000, size=(5, 6, 7)).astype(np.int16)
    stored, affine = store(canonical, diag_affine(), storage)
    record = _record(affine, stored.shape, flips)
    for kind in ("scan", "mask"):
        oriented = to_oriented_frame(stored, record, kind)
        assert oriented.shape == (5, 6, 7) == record.oriented_shape
        assert np.array_equal(to_original_frame(oriented, record, kind), stored)
        assert np.array_equal(to_oriented_frame(to_original_frame(oriented, record, kind), record, kind), oriented)
    # the oriented frame is the canonical array with the recorded flips
    expected = canonical[::-1] if flips[0] else canonical
    expected = expected[:, :, ::-1] if flips[1] else expected
    assert np.array_equal(to_oriented_frame(stored, record), expected)


def test_shape_and_kind_errors():
    record = _record(diag_affine(), (5, 6, 7), (True, False, False, False), mask=False)
    with pytest.raises(ValueError, match="oriented frame"):
        to_original_frame(np.zeros((6, 5, 7)), record)
    with pytest.raises(ValueError, match="does not match"):
        to_oriented_frame(np.zeros((5, 6, 8)), record)
    with pytest.raises(ValueError, match="scan-only"):
        to_oriented_frame(np.zeros((5, 6, 7)), record, kind="mask")
    with pytest.raises(ValueError, match="kind"):
        to_oriented_frame(np.zeros((5, 6, 7)), record, kind="label")


def test_json_round_trip_and_deterministic_files(tmp_path):
    _, affine = store(np.zeros((5, 6, 7)), diag_affine(), "lps")
    records = [_record(affine, (5, 6, 7), (True, False, True, False), pid="Breast_MRI_002"),
               _record(diag_affine(), (5, 6, 7), (False, True, False, False), pid="Breast_MRI_010", mask=False)]
    for record in records:
        assert OrientationRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    path = save_records(records[::-1], tmp_path / "rec.json", settings={"n_slices": 7})
    first = path.read_bytes()
    save_records(records, tmp_path / "rec.json", settings={"n_slices": 7})
    assert path.read_bytes() == first
    loaded = load_records(path)
    assert list(loaded) == ["Breast_MRI_002", "Breast_MRI_010"]
    assert loaded["Breast_MRI_002"] == records[0] and loaded["Breast_MRI_010"] == records[1]
    csv = (tmp_path / "rec.csv").read_text().splitlines()
    assert csv[0].startswith("patient_id,split,canonical_ornt,scan_flip_ud")
    assert len(csv) == 3
    table = records_table(records)
    assert table["patient_id"].tolist() == ["Breast_MRI_002", "Breast_MRI_010"]
    assert table["mask_flip_ud"].tolist()[0] == True  # noqa: E712
    assert table["canonical_ornt"].tolist()[0] == "0- 1- 2+"


def test_duplicate_and_bad_record_files(tmp_path):
    record = _record(diag_affine(), (5, 6, 7), (False,) * 4)
    with pytest.raises(DataError, match="two orientation records"):
        save_records([record, record], tmp_path / "r.json")
    with pytest.raises(DataError, match="not found"):
        load_records(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"patients": {"x": {"nope": 1}}}')
    with pytest.raises(DataError, match="bad.json"):
        load_records(tmp_path / "bad.json")
