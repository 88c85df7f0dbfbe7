"""The stage end to end: outputs, record, metrics vs truth, parallel == serial, round trip, bad input."""

import json

import nibabel as nib
import numpy as np
import pytest

from breastmri.data.errors import DataError
from breastmri.data.io import load_volume
from breastmri.orientation.record import load_records, to_original_frame
from breastmri.orientation.stage import main, orient_dataset

from .synth import write_dataset

SPECS = [
    dict(pid=1, storage="diag"),
    dict(pid=2, scan_flip_ud=True, mask_flip_lr=True, storage="diag"),
    dict(pid=3, scan_flip_hf=True, mask_flip_ud=True, storage="lps"),
    dict(pid=4, scan_flip_ud=True, scan_flip_hf=True, mask_flip_ud=True, mask_flip_lr=True, storage="transposed"),
    dict(pid=5, mask_flip_lr=True, storage="lps"),
    dict(pid=6, split="inference", scan_flip_ud=True, storage="diag"),
    dict(pid=7, split="inference", scan_flip_hf=True, storage="transposed"),
]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("ds"), SPECS)


@pytest.fixture(scope="module")
def run(dataset, tmp_path_factory):
    seed_root, truth_dir = dataset
    out = tmp_path_factory.mktemp("out")
    summary = orient_dataset(seed_root, out / "oriented", metrics_path=out / "metrics.json",
                             truth_dir=truth_dir, workers=2, progress=False)
    return out, summary


def test_stage_detects_every_planted_defect_and_aligns_masks(run):
    out, summary = run
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics == summary["metrics"] and summary["errors"] == []
    assert all(v == 1.0 for v in metrics["accuracy"].values())
    assert metrics["counts"]["mask_flip_lr"] == {"n": 5, "correct": 5, "planted": 3, "detected": 3}
    assert metrics["counts"]["scan_flip_ud"]["n"] == 7
    assert metrics["mask_dice"] == {"n": 5, "min": 1.0, "mean": 1.0}
    assert metrics["n_patients"] == {"train": 5, "inference": 2}
    assert all(m > 0 for m in metrics["min_margin"].values())


def test_stage_outputs_and_round_trip_to_every_stored_file(run, dataset):
    out, summary = run
    seed_root, _ = dataset
    oriented = out / "oriented"
    records = load_records(oriented / "orientation_record.json")
    assert sorted(records) == [f"Breast_MRI_{i:03d}" for i in range(1, 8)]
    assert (oriented / "orientation_record.csv").is_file()
    for pid, record in records.items():
        split = record.split
        scan = load_volume(oriented / split / "scans" / f"{pid}.nii.gz")
        stored = load_volume(seed_root / split / "scans" / f"{pid}.nii.gz")
        assert np.allclose(scan.affine, np.diag([1.0, 1.2, 2.0, 1.0]))
        assert np.array_equal(to_original_frame(scan.array, record), stored.array)
        if split == "train":
            mask_img = nib.load(str(oriented / "train" / "masks" / f"{pid}.nii.gz"))
            assert mask_img.get_data_dtype() == np.uint8
            stored_mask = load_volume(seed_root / "train" / "masks" / f"{pid}.nii.gz", dtype=np.uint8)
            back = to_original_frame(np.asarray(mask_img.dataobj), record, kind="mask")
            assert np.array_equal(back, stored_mask.array)
        else:
            assert not (oriented / "inference" / "masks").exists()


def test_storage_variants_identical_after_the_stage(tmp_path):
    """Acceptance 3 through files: one anatomy stored as RAS, LPS and transposed gives identical outputs."""
    outs = []
    for storage in ("diag", "lps", "transposed", "transposed_201"):
        seed_root, _ = write_dataset(tmp_path / storage, [dict(pid=1, storage=storage, scan_flip_ud=True,
                                                               mask_flip_lr=True)])
        orient_dataset(seed_root, tmp_path / storage / "out", workers=1, progress=False)
        outs.append([nib.load(str(tmp_path / storage / "out" / "train" / kind / "Breast_MRI_001.nii.gz"))
                     for kind in ("scans", "masks")])
    for scan, mask in outs[1:]:
        assert np.array_equal(scan.get_fdata(), outs[0][0].get_fdata())
        assert np.array_equal(mask.get_fdata(), outs[0][1].get_fdata())
        assert np.array_equal(scan.affine, outs[0][0].affine)


def test_serial_equals_parallel_and_reruns_are_byte_identical(run, dataset, tmp_path):
    out, _ = run
    seed_root, truth_dir = dataset
    orient_dataset(seed_root, tmp_path / "o", metrics_path=tmp_path / "m.json", truth_dir=truth_dir,
                   workers=1, progress=False)
    assert (tmp_path / "o" / "orientation_record.json").read_text().replace(str(tmp_path / "o"), "") == \
        (out / "oriented" / "orientation_record.json").read_text().replace(str(out / "oriented"), "")
    assert (tmp_path / "m.json").read_bytes() == (out / "metrics.json").read_bytes()


def test_no_truth_no_metrics_and_stale_outputs_removed(dataset, tmp_path):
    seed_root, _ = dataset
    stale = tmp_path / "o" / "train" / "scans" / "Breast_MRI_999.nii.gz"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    summary = orient_dataset(seed_root, tmp_path / "o", metrics_path=tmp_path / "m.json", workers=1, progress=False)
    assert summary["metrics"] is None
    counts = json.loads((tmp_path / "m.json").read_text())
    assert counts["evaluated"] is False and counts["n_patients"] == {"train": 5, "inference": 2}
    assert counts["flipped"]["mask_flip_lr"] == 3
    assert not stale.exists()


def test_bad_input_names_the_file(tmp_path):
    seed_root, _ = write_dataset(tmp_path, [dict(pid=1), dict(pid=2)])
    bad = seed_root / "train" / "scans" / "Breast_MRI_002.nii.gz"
    bad.write_bytes(bad.read_bytes()[:100])
    with pytest.raises(DataError, match="Breast_MRI_002.nii.gz"):
        orient_dataset(seed_root, tmp_path / "o", workers=2, progress=False)
    bad.unlink()
    with pytest.raises(DataError, match="Breast_MRI_002.nii.gz: training mask has no scan"):
        orient_dataset(seed_root, tmp_path / "o", workers=1, progress=False)


def test_console_entry_point(dataset, tmp_path, capsys):
    seed_root, truth_dir = dataset
    rc = main(["--params", str(tmp_path / "none.yaml"), "--seed-root", str(seed_root), "--out-dir",
               str(tmp_path / "o"), "--truth-dir", str(truth_dir), "--metrics", str(tmp_path / "m.json"),
               "--workers", "1"])
    assert rc == 0 and (tmp_path / "m.json").is_file()
    assert "accuracy" in capsys.readouterr().out
    assert main(["--params", str(tmp_path / "none.yaml"), "--seed-root", str(tmp_path / "nope"),
                 "--out-dir", str(tmp_path / "o2")]) == 1


def test_oriented_scan_keeps_integer_type_unless_scaled(tmp_path):
    seed_root, _ = write_dataset(tmp_path, [dict(pid=1), dict(pid=2, split="inference")])
    path = seed_root / "train" / "scans" / "Breast_MRI_001.nii.gz"
    img = nib.load(str(path))
    nib.save(nib.Nifti1Image(np.rint(img.get_fdata()).astype(np.int16), img.affine), str(path))
    scaled = seed_root / "inference" / "scans" / "Breast_MRI_002.nii.gz"
    img = nib.load(str(scaled))
    out = nib.Nifti1Image(np.rint(img.get_fdata()).astype(np.int16), img.affine)
    out.header.set_slope_inter(0.5, 0.0)
    nib.save(out, str(scaled))
    orient_dataset(seed_root, tmp_path / "o", workers=1, progress=False)
    kept = nib.load(str(tmp_path / "o" / "train" / "scans" / "Breast_MRI_001.nii.gz"))
    assert kept.get_data_dtype() == np.int16
    floated = nib.load(str(tmp_path / "o" / "inference" / "scans" / "Breast_MRI_002.nii.gz"))
    assert floated.get_data_dtype() == np.float32
    assert np.array_equal(np.sort(floated.get_fdata().ravel()), np.sort(nib.load(str(scaled)).get_fdata().ravel()))
