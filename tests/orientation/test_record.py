"""The orientation record (v2): the exact inverse pair for every decision combination and frame, what each
decision does to an array, JSON round trip, the record files and the table."""

import itertools
import json

import numpy as np
import pytest

from breastmri.data.errors import DataError
from breastmri.orientation.frame import IDENTITY, frame_affine, from_working, to_working, working_affine
from breastmri.orientation.record import (DECISIONS, RECORD_VERSION, OrientationRecord, correction_ornt,
                                          excluded_patients, load_records, records_table, save_records,
                                          to_oriented_frame, to_original_frame)

from .synth import ornt_of_codes, stored_affine, stored_shape_of

WORKING_SHAPE = (5, 6, 7)
FRAMES = ["ALS", "LPS", "RAS", "PIR", "SAR"]


def _record(frame_codes="ALS", swap=False, ud=False, hf=False, mask=None, pid="Breast_MRI_001",
            mask_codes=None, mode="verify", qc=None, problems=()):
    """A record whose stored scan is ``from_working(x, ornt(frame_codes))`` of a working array of WORKING_SHAPE
    (with the swap, its working shape has axes 0 and 1 exchanged)."""
    shape = (WORKING_SHAPE[1], WORKING_SHAPE[0], WORKING_SHAPE[2]) if swap else WORKING_SHAPE
    frame = ornt_of_codes(frame_codes)
    extra = {}
    if mask is not None:
        mud, mlr = mask
        extra = dict(mask_frame_ornt=ornt_of_codes(mask_codes or frame_codes), mask_flip_ud=mud, mask_flip_lr=mlr,
                     mask_cost=0.125)
    margins = {name: 0.5 for name in DECISIONS[:3]}
    if mask is not None:
        margins.update(mask_flip_ud=0.25, mask_flip_lr=0.0625)
    return OrientationRecord(patient_id=pid, split="train" if mask is not None else "inference", affine_mode=mode,
                             stored_shape=stored_shape_of(shape, frame), stored_affine=stored_affine(frame, shape),
                             frame_ornt=frame, scan_swap=swap, scan_flip_ud=ud, scan_flip_hf=hf, margins=margins,
                             solidity=0.93, problems=problems, qc=qc, source_scan=f"/data/{pid}.nii.gz", **extra)


def _expected_oriented(framed, swap, ud, hf, mask=None):
    """The documented meaning of the decisions, written out with plain numpy: on the frame array, exchange axes
    0 and 1, then reverse axis 0 (ud) and axis 2 (hf); a mask is then also reversed on axis 0 / axis 1."""
    out = framed.transpose(1, 0, 2) if swap else framed
    out = out[::-1] if ud else out
    out = out[:, :, ::-1] if hf else out
    if mask is not None:
        out = out[::-1] if mask[0] else out
        out = out[:, ::-1] if mask[1] else out
    return out


SCAN_COMBOS = list(itertools.product((False, True), repeat=3))
MASK_COMBOS = list(itertools.product((False, True), repeat=2))


@pytest.mark.parametrize("frame_codes", FRAMES)
@pytest.mark.parametrize("swap,ud,hf", SCAN_COMBOS)
def test_scan_and_mask_round_trip_is_exact_for_every_combination(frame_codes, swap, ud, hf):
    rng = np.random.default_rng(1)
    for mask in MASK_COMBOS:
        record = _record(frame_codes, swap, ud, hf, mask=mask)
        stored = rng.integers(0, 1000, size=record.stored_shape).astype(np.int16)
        framed = to_working(stored, record.frame_ornt)
        for kind, flips in (("scan", None), ("mask", mask)):
            oriented = to_oriented_frame(stored, record, kind)
            assert oriented.shape == record.oriented_shape
            assert np.array_equal(oriented, _expected_oriented(framed, swap, ud, hf, flips)), kind
            assert np.array_equal(to_original_frame(oriented, record, kind), stored)
            back = to_original_frame(oriented, record, kind)
            assert np.array_equal(to_oriented_frame(back, record, kind), oriented)


def test_the_oriented_shape_is_the_working_shape_after_the_swap():
    assert _record("PIR").oriented_shape == WORKING_SHAPE
    assert _record("PIR", swap=True).oriented_shape == WORKING_SHAPE  # swap of a (6, 5, 7) frame array
    assert _record("ALS", swap=True).stored_shape == (6, 5, 7)


def test_mask_kind_uses_the_masks_own_frame():
    """A mask file stored in another orientation than its scan reaches the same oriented grid."""
    record = _record("LPS", ud=True, mask=(True, False), mask_codes="PIR")
    assert record.ornt("mask").tolist() != record.ornt("scan").tolist()
    working = np.arange(np.prod(WORKING_SHAPE)).reshape(WORKING_SHAPE)
    stored_mask = from_working(working, ornt_of_codes("PIR"))
    # the scan's up/down correction and the mask's own up/down flip cancel on the mask's frame array
    assert np.array_equal(to_oriented_frame(stored_mask, record, "mask"), working)
    assert np.array_equal(to_original_frame(working, record, "mask"), stored_mask)


def test_correction_ornt_is_the_identity_only_without_corrections():
    assert np.array_equal(correction_ornt(_record()), IDENTITY)
    assert correction_ornt(_record(swap=True)).tolist() == [[1, 1], [0, 1], [2, 1]]
    assert correction_ornt(_record(swap=True, ud=True)).tolist() == [[1, 1], [0, -1], [2, 1]]
    assert correction_ornt(_record(ud=True, hf=True)).tolist() == [[0, -1], [1, 1], [2, -1]]


def test_shape_and_kind_errors():
    record = _record(mask=None)
    with pytest.raises(ValueError, match="oriented frame"):
        to_original_frame(np.zeros((6, 5, 7)), record)
    with pytest.raises(ValueError, match="does not match"):
        to_oriented_frame(np.zeros((5, 6, 8)), record)
    with pytest.raises(ValueError, match="scan-only"):
        to_oriented_frame(np.zeros(record.stored_shape), record, kind="mask")
    with pytest.raises(ValueError, match="kind"):
        to_oriented_frame(np.zeros(record.stored_shape), record, kind="label")


def test_affines_and_spacing():
    record = _record("PIR")
    assert record.working_spacing == (2.0, 2.0, 4.0)
    # trust/verify: the file's affine carried into the frame keeps world positions
    assert np.allclose(record.oriented_affine(), working_affine(record.affine, record.stored_shape, record.ornt()))
    ignore = _record("ALS", swap=True, mode="ignore").replace(frame_ornt=IDENTITY, stored_affine=np.diag([2, 3, 4, 1]))
    assert ignore.working_spacing == (3.0, 2.0, 4.0)
    assert np.allclose(ignore.oriented_affine(), frame_affine((3.0, 2.0, 4.0)))


def test_with_mask_and_flips():
    from breastmri.orientation.heuristics import Decision

    scan_only = _record()
    assert not scan_only.has_mask and scan_only.flips()["mask_flip_lr"] is None
    record = scan_only.with_mask(IDENTITY, Decision(True, 0.3), Decision(False, 0.1234567891), 0.05, "m.nii.gz")
    assert record.has_mask and record.mask_flip_ud is True and record.mask_flip_lr is False
    assert record.margins["mask_flip_ud"] == 0.3 and record.margins["mask_flip_lr"] == 0.123457
    assert record.source_mask == "m.nii.gz" and record.mask_cost == 0.05
    assert record.flips() == {"scan_swap": False, "scan_flip_ud": False, "scan_flip_hf": False,
                              "mask_flip_ud": True, "mask_flip_lr": False}


def test_dict_round_trip_and_unknown_fields():
    records = [_record("LPS", swap=True, ud=True, mask=(True, False), qc={"inside_body": 1.0, "front_covered": 0.95},
                       problems=("mask_flip_lr undecidable",)),
               _record("PIR", hf=True, pid="Breast_MRI_010")]
    for record in records:
        data = json.loads(json.dumps(record.to_dict()))
        assert OrientationRecord.from_dict(data) == record
        assert data["frame_ornt"] == [list(row) for row in record.frame_ornt]
    with pytest.raises(ValueError, match="unknown orientation record field.*canonical_ornt"):
        OrientationRecord.from_dict({**records[0].to_dict(), "canonical_ornt": [[0, 1]] * 3})


def test_save_load_round_trip_and_deterministic_files(tmp_path):
    records = [_record("LPS", swap=True, ud=True, mask=(True, False), pid="Breast_MRI_002",
                       qc={"inside_body": 1.0, "front_covered": 0.95, "body_share": 0.2}),
               _record("PIR", hf=True, pid="Breast_MRI_010")]
    excluded = {"Breast_MRI_099": ["mask_flip_lr undecidable"], "Breast_MRI_050": ["a", "b"]}
    path = save_records(records[::-1], tmp_path / "rec.json", settings={"n_slices": 7}, excluded=excluded)
    first = path.read_bytes()
    save_records(records, tmp_path / "rec.json", settings={"n_slices": 7}, excluded=dict(reversed(excluded.items())))
    assert path.read_bytes() == first
    doc = json.loads(first)
    assert doc["version"] == RECORD_VERSION == 2 and doc["settings"] == {"n_slices": 7}
    assert excluded_patients(path) == excluded and list(doc["excluded"]) == ["Breast_MRI_050", "Breast_MRI_099"]
    loaded = load_records(path)
    assert list(loaded) == ["Breast_MRI_002", "Breast_MRI_010"]
    assert loaded["Breast_MRI_002"] == records[0] and loaded["Breast_MRI_010"] == records[1]
    csv = (tmp_path / "rec.csv").read_text().splitlines()
    assert len(csv) == 3 and csv[0].startswith("patient_id,split,affine_mode,frame_ornt,scan_swap,")


def test_records_table_columns_and_values():
    records = [_record("PIR", hf=True, pid="Breast_MRI_010"),
               _record("LPS", swap=True, ud=True, mask=(True, False), pid="Breast_MRI_002",
                       qc={"inside_body": 1.0, "front_covered": 0.95, "body_share": 0.2}, problems=("a", "b"))]
    table = records_table(records)
    expected = ["patient_id", "split", "affine_mode", "frame_ornt"]
    for name in DECISIONS:
        expected += [name, f"{name}_margin"]
    expected += ["solidity", "qc_body_share", "qc_front_covered", "qc_inside_body", "problems"]
    assert list(table.columns) == expected
    assert table["patient_id"].tolist() == ["Breast_MRI_002", "Breast_MRI_010"]
    first = table.iloc[0]
    assert first["frame_ornt"] == " ".join(f"{a}{'+' if f > 0 else '-'}" for a, f in ornt_of_codes("LPS").astype(int))
    assert first["frame_ornt"] == "1+ 0- 2+"  # L: working axis 1 as is; P: working axis 0 reversed
    assert bool(first["scan_swap"]) and bool(first["mask_flip_ud"]) and not bool(first["mask_flip_lr"])
    assert first["mask_flip_lr_margin"] == 0.0625 and first["qc_front_covered"] == 0.95 and first["problems"] == "a; b"
    second = table.iloc[1]
    assert second["split"] == "inference" and second["mask_flip_ud"] is None and second["problems"] == ""


def test_duplicate_and_bad_record_files(tmp_path):
    record = _record(mask=(False, False))
    with pytest.raises(DataError, match="two orientation records"):
        save_records([record, record], tmp_path / "r.json")
    with pytest.raises(DataError, match="not found"):
        load_records(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"patients": {"x": {"nope": 1}}}')
    with pytest.raises(DataError, match="bad.json: not a valid orientation record"):
        load_records(tmp_path / "bad.json")
    (tmp_path / "garbage.json").write_text("{not json")
    with pytest.raises(DataError, match="garbage.json"):
        load_records(tmp_path / "garbage.json")
    with pytest.raises(DataError, match="garbage.json"):
        excluded_patients(tmp_path / "garbage.json")
    with pytest.raises(DataError, match="missing.json"):
        excluded_patients(tmp_path / "missing.json")
    assert excluded_patients(save_records([record], tmp_path / "none.json")) == {}
