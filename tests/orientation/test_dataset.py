"""The stage end to end on small synthetic seed layouts: outputs, record, metrics by cohort vs truth, the QC
(error: nothing written, every patient listed; exclude: left out and listed), bad input, the console entry."""

import json
import signal

import nibabel as nib
import numpy as np
import pytest

from breastmri.data.errors import DataError
from breastmri.data.io import load_volume
from breastmri.orientation.frame import frame_affine
from breastmri.orientation.record import DECISIONS, excluded_patients, load_records, to_original_frame
from breastmri.cli import main as cli
from breastmri.orientation.dataset import orient_dataset

from .synth import SPACING, anatomy, ornt_of_codes, save, scan_aligned, write_dataset

COHORT_SPECS = [
    dict(pid=1, cohort="fatsup", contrast="fat_suppressed", swap=True, mask_flip_lr=True),
    dict(pid=2, cohort="fatsup", contrast="fat_suppressed", flip_ud=True, flip_hf=True, mirror_lr=True,
         mask_flip_ud=True),
    dict(pid=3, cohort="fatsup", contrast="fat_suppressed", split="inference", swap=True, flip_ud=True),
    dict(pid=4, cohort="t1", contrast="t1", flip_hf=True, mask_flip_ud=True, mask_flip_lr=True),
    dict(pid=5, cohort="t1", contrast="t1", symmetric=True, swap=True, flip_ud=True, mirror_lr=True),
    dict(pid=6, cohort="t1", contrast="t1", split="inference", flip_hf=True, mirror_lr=True),
    dict(pid=7, cohort="inverted", contrast="inverted", symmetric=True, swap=True, flip_hf=True,
         mask_flip_lr=True),
    dict(pid=8, cohort="inverted", contrast="inverted", split="inference", flip_ud=True),
]
TRAIN = [s for s in COHORT_SPECS if s.get("split", "train") == "train"]
UNDECIDABLE = dict(pid=9, cohort="t1", contrast="t1", symmetric=True, offset=0)  # mask_flip_lr margin 0


def _pid(spec):
    return f"Breast_MRI_{spec['pid']:03d}"


def _anatomy(spec):
    keys = ("contrast", "symmetric", "left_bigger", "offset", "open_outline")
    return anatomy(spec.get("seed", spec["pid"]), **{k: spec[k] for k in keys if k in spec})


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("ds"), COHORT_SPECS)


@pytest.fixture(scope="module")
def run(dataset, tmp_path_factory):
    seed_root, truth_dir = dataset
    out = tmp_path_factory.mktemp("out")
    summary = orient_dataset(seed_root, out / "oriented", metrics_path=out / "metrics.json",
                             truth_dir=truth_dir, workers=2, progress=False)
    return out, summary


def test_metrics_by_cohort_are_exact(run):
    out, summary = run
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics == json.loads(json.dumps(summary["metrics"])) and summary["errors"] == []
    assert sorted(metrics["by_cohort"]) == ["fatsup", "inverted", "t1"]
    for cohort, values in metrics["by_cohort"].items():
        assert values["accuracy"] == {**{name: 1.0 for name in DECISIONS}, "all": 1.0}, cohort
        assert all(m > 0.05 for m in values["min_margin"].values()), (cohort, values["min_margin"])
    assert metrics["accuracy"] == {**{name: 1.0 for name in DECISIONS}, "all": 1.0}
    assert metrics["mask_dice"] == {"n": 5, "min": 1.0, "mean": 1.0}
    assert metrics["n_patients"] == {"train": 5, "inference": 3} and metrics["n_errors"] == 0
    planted = {name: sum(bool(s.get(key, False)) for s in (TRAIN if name.startswith("mask") else COHORT_SPECS))
               for name, key in (("scan_swap", "swap"), ("scan_flip_ud", "flip_ud"), ("scan_flip_hf", "flip_hf"),
                                 ("mask_flip_ud", "mask_flip_ud"), ("mask_flip_lr", "mask_flip_lr"))}
    assert {name: metrics["counts"][name]["planted"] for name in DECISIONS} == planted
    assert all(planted[name] >= 2 for name in DECISIONS)
    assert metrics["counts"]["scan_swap"]["n"] == 8 and metrics["counts"]["mask_flip_lr"]["n"] == 5
    assert metrics["left_right_as_stored_mirrored"] == sum(bool(s.get("mirror_lr")) for s in COHORT_SPECS)
    assert metrics["excluded"] == {} and summary["excluded"] == {}
    assert summary["flipped"] == planted


def test_outputs_are_the_working_frame_and_map_back_to_every_stored_file(run, dataset):
    out, _ = run
    seed_root, _ = dataset
    oriented = out / "oriented"
    records = load_records(oriented / "orientation_record.json")
    assert sorted(records) == sorted(_pid(s) for s in COHORT_SPECS)
    assert (oriented / "orientation_record.csv").is_file()
    for spec in COHORT_SPECS:
        pid, split = _pid(spec), spec.get("split", "train")
        record = records[pid]
        assert record.split == split and record.affine_mode == "ignore" and record.problems == ()
        scan_img = nib.load(str(oriented / split / "scans" / f"{pid}.nii.gz"))
        assert np.allclose(scan_img.affine, frame_affine(SPACING))
        truth_scan, truth_mask = _anatomy(spec)
        mirror = bool(spec.get("mirror_lr"))
        assert np.array_equal(np.asarray(scan_img.dataobj), scan_aligned(truth_scan, mirror))
        stored = load_volume(seed_root / split / "scans" / f"{pid}.nii.gz")
        assert np.array_equal(to_original_frame(np.asarray(scan_img.dataobj), record), stored.array)
        if split == "train":
            mask_img = nib.load(str(oriented / "train" / "masks" / f"{pid}.nii.gz"))
            assert mask_img.get_data_dtype() == np.uint8 and np.allclose(mask_img.affine, scan_img.affine)
            mask = np.asarray(mask_img.dataobj)
            assert np.array_equal(mask, scan_aligned(truth_mask, mirror))
            stored_mask = load_volume(seed_root / "train" / "masks" / f"{pid}.nii.gz", dtype=np.uint8)
            assert np.array_equal(to_original_frame(mask, record, kind="mask"), stored_mask.array)
        else:
            assert not record.has_mask
    assert not (oriented / "inference" / "masks").exists()


def test_serial_equals_parallel_and_reruns_are_byte_identical(run, dataset, tmp_path):
    out, _ = run
    seed_root, truth_dir = dataset
    orient_dataset(seed_root, tmp_path / "o", metrics_path=tmp_path / "m.json", truth_dir=truth_dir,
                   workers=1, progress=False)
    assert (tmp_path / "o" / "orientation_record.json").read_bytes() == \
        (out / "oriented" / "orientation_record.json").read_bytes()
    assert (tmp_path / "m.json").read_bytes() == (out / "metrics.json").read_bytes()
    for path in sorted((out / "oriented").rglob("*.nii.gz")):
        twin = tmp_path / "o" / path.relative_to(out / "oriented")
        assert twin.read_bytes() == path.read_bytes()


@pytest.mark.parametrize("mode", ["trust", "verify"])
def test_truthful_affines_trust_and_verify(tmp_path, mode):
    """Files whose affines describe the anatomy (LPS, sagittal, RAS): the affine alone places them; only the
    mask flips are decided; accuracy 1.0 against stored_to_working."""
    specs = [dict(pid=1, codes="LPS", cohort="scanner", mask_flip_ud=True),
             dict(pid=2, codes="PIR", cohort="scanner", contrast="t1", mask_flip_lr=True),
             dict(pid=3, codes="RAS", cohort="scanner", split="inference", contrast="inverted")]
    seed_root, truth_dir = write_dataset(tmp_path, specs)
    summary = orient_dataset(seed_root, tmp_path / "o", truth_dir=truth_dir, workers=1, progress=False,
                             affine_mode=mode)
    metrics = summary["metrics"]
    assert metrics["by_cohort"]["scanner"]["accuracy"]["all"] == 1.0 and summary["errors"] == []
    assert metrics["mask_dice"] == {"n": 2, "min": 1.0, "mean": 1.0}
    records = load_records(tmp_path / "o" / "orientation_record.json")
    for spec in specs:
        record = records[_pid(spec)]
        assert np.array_equal(record.frame_ornt, ornt_of_codes(spec["codes"])) and record.affine_mode == mode
        assert (record.scan_swap, record.scan_flip_ud, record.scan_flip_hf) == (False, False, False)
        scan = load_volume(tmp_path / "o" / record.split / "scans" / f"{_pid(spec)}.nii.gz")
        assert np.array_equal(scan.array, _anatomy(spec)[0])
    assert summary["flipped"]["mask_flip_ud"] == 1 and summary["flipped"]["mask_flip_lr"] == 1


# ------------------------------------------------------------------------------------------------- QC
def _error_lines(message):
    return [line for line in str(message).splitlines() if line.startswith("error: ")]


def _assert_nothing_written(out_dir, *paths):
    assert not out_dir.exists()
    assert not any(p.name.startswith(f".{out_dir.name}.") for p in out_dir.parent.iterdir())  # no staging folder
    for path in paths:
        assert not path.exists()


def test_undecidable_patient_stops_the_stage_and_nothing_is_written(tmp_path):
    seed_root, truth_dir = write_dataset(tmp_path, [COHORT_SPECS[0], UNDECIDABLE, COHORT_SPECS[2]])
    out = tmp_path / "out" / "oriented"
    out.parent.mkdir()
    with pytest.raises(DataError) as info:
        orient_dataset(seed_root, out, metrics_path=tmp_path / "out" / "m.json", truth_dir=truth_dir,
                       workers=2, progress=False)
    lines = _error_lines(info.value)
    assert len(lines) == 1, str(info.value)
    mask_path = seed_root / "train" / "masks" / "Breast_MRI_009.nii.gz"
    assert lines[0].startswith(f"error: {mask_path}: mask_flip_lr undecidable")
    assert "Breast_MRI_001" not in str(info.value) and "Breast_MRI_003" not in str(info.value)
    assert "on_failure" in str(info.value)
    _assert_nothing_written(out, tmp_path / "out" / "m.json")


def test_every_failing_patient_is_listed(tmp_path):
    specs = [COHORT_SPECS[0], UNDECIDABLE, dict(pid=10, open_outline=True, split="inference")]
    seed_root, _ = write_dataset(tmp_path, specs)
    out = tmp_path / "oriented"
    with pytest.raises(DataError, match=r"QC failed for 2 patient") as info:
        orient_dataset(seed_root, out, workers=1, progress=False)
    lines = _error_lines(info.value)
    assert [line.split(": ")[1] for line in lines] == [
        str(seed_root / "train" / "masks" / "Breast_MRI_009.nii.gz"),
        str(seed_root / "inference" / "scans" / "Breast_MRI_010.nii.gz")]
    assert "body outline not closed" in lines[1]
    _assert_nothing_written(out)


def test_exclude_leaves_the_patient_out_and_lists_it(tmp_path):
    seed_root, truth_dir = write_dataset(tmp_path, [COHORT_SPECS[0], UNDECIDABLE, COHORT_SPECS[2]])
    out = tmp_path / "oriented"
    summary = orient_dataset(seed_root, out, metrics_path=tmp_path / "m.json", truth_dir=truth_dir, workers=2,
                             progress=False, on_failure="exclude")
    excluded = "Breast_MRI_009"
    assert list(summary["excluded"]) == [excluded]
    assert summary["excluded"][excluded][0].startswith("mask_flip_lr undecidable")
    assert summary["n_patients"] == {"train": 1, "inference": 1}
    assert not list(out.rglob(f"{excluded}*")) and len(list(out.rglob("*.nii.gz"))) == 3
    assert excluded not in load_records(out / "orientation_record.json")
    assert excluded_patients(out / "orientation_record.json") == summary["excluded"]
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["excluded"] == summary["excluded"]
    assert metrics["accuracy"]["all"] == 1.0 and metrics["n_patients"] == {"train": 1, "inference": 1}
    assert metrics["mask_dice"]["n"] == 1
    assert not any(p.name.startswith(".oriented.") for p in tmp_path.iterdir())  # no staging folder


def test_non_binary_mask_names_the_mask_file(tmp_path):
    seed_root, _ = write_dataset(tmp_path, [COHORT_SPECS[0], COHORT_SPECS[3]])
    path = seed_root / "train" / "masks" / "Breast_MRI_004.nii.gz"
    img = nib.load(str(path))
    save(np.asarray(img.dataobj).astype(np.float32) * 0.5, img.affine, path)
    out = tmp_path / "oriented"
    with pytest.raises(DataError, match=f"{path}: mask is not binary"):
        orient_dataset(seed_root, out, workers=2, progress=False)
    _assert_nothing_written(out)


def test_constant_scan_names_the_scan_file(tmp_path):
    seed_root, _ = write_dataset(tmp_path, [COHORT_SPECS[0], COHORT_SPECS[2]])
    path = seed_root / "inference" / "scans" / "Breast_MRI_003.nii.gz"
    save(np.full((48, 44, 20), 7.0, np.float32), np.diag([*SPACING, 1.0]), path)
    out = tmp_path / "oriented"
    with pytest.raises(DataError, match=f"{path}: scan is constant"):
        orient_dataset(seed_root, out, workers=1, progress=False, on_failure="exclude")
    _assert_nothing_written(out)


def test_bad_input_names_the_file(tmp_path):
    seed_root, _ = write_dataset(tmp_path, [COHORT_SPECS[0], COHORT_SPECS[3]])
    bad = seed_root / "train" / "scans" / "Breast_MRI_004.nii.gz"
    bad.write_bytes(bad.read_bytes()[:100])
    with pytest.raises(DataError, match="Breast_MRI_004.nii.gz"):
        orient_dataset(seed_root, tmp_path / "o", workers=2, progress=False)
    bad.unlink()
    with pytest.raises(DataError, match="Breast_MRI_004.nii.gz: training mask has no scan"):
        orient_dataset(seed_root, tmp_path / "o", workers=1, progress=False)
    with pytest.raises(DataError, match="affine mode"):
        orient_dataset(seed_root, tmp_path / "o", affine_mode="maybe")
    with pytest.raises(DataError, match="on_failure"):
        orient_dataset(seed_root, tmp_path / "o", on_failure="ignore")


def test_no_truth_no_accuracy_and_stale_outputs_removed(dataset, tmp_path):
    seed_root, _ = dataset
    stale = tmp_path / "o" / "train" / "scans" / "Breast_MRI_999.nii.gz"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    killed = tmp_path / ".o.k3j2_x.tmp" / "train" / "scans"  # the staging folder a killed run left
    killed.mkdir(parents=True)
    summary = orient_dataset(seed_root, tmp_path / "o", metrics_path=tmp_path / "m.json", workers=1, progress=False)
    assert summary["metrics"] is None
    counts = json.loads((tmp_path / "m.json").read_text())
    assert counts["evaluated"] is False and counts["n_patients"] == {"train": 5, "inference": 3}
    assert counts["flipped"]["mask_flip_lr"] == sum(bool(s.get("mask_flip_lr")) for s in TRAIN) == 3
    assert counts["excluded"] == {} and excluded_patients(tmp_path / "o" / "orientation_record.json") == {}
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "o"]


def test_oriented_scan_keeps_integer_type_unless_scaled(tmp_path):
    seed_root, _ = write_dataset(tmp_path, [COHORT_SPECS[0], COHORT_SPECS[2]])
    path = seed_root / "train" / "scans" / "Breast_MRI_001.nii.gz"
    img = nib.load(str(path))
    nib.save(nib.Nifti1Image(np.rint(img.get_fdata()).astype(np.int16), img.affine), str(path))
    scaled = seed_root / "inference" / "scans" / "Breast_MRI_003.nii.gz"
    img = nib.load(str(scaled))
    out = nib.Nifti1Image(np.rint(img.get_fdata()).astype(np.int16), img.affine)
    out.header.set_slope_inter(0.5, 0.0)
    nib.save(out, str(scaled))
    orient_dataset(seed_root, tmp_path / "o", workers=1, progress=False)
    kept = nib.load(str(tmp_path / "o" / "train" / "scans" / "Breast_MRI_001.nii.gz"))
    assert kept.get_data_dtype() == np.int16
    floated = nib.load(str(tmp_path / "o" / "inference" / "scans" / "Breast_MRI_003.nii.gz"))
    assert floated.get_data_dtype() == np.float32
    assert np.array_equal(np.sort(floated.get_fdata().ravel()), np.sort(nib.load(str(scaled)).get_fdata().ravel()))


# ---------------------------------------------------------------------------------------- `breastmri orient`
def _orient(params_file, seed_root, out, truth_dir="", seed_affine="ignore", on_failure="error", workers=1,
            **anatomy) -> int:
    params = params_file(data={"seed_root": str(seed_root), "truth_dir": str(truth_dir), "seed_affine": seed_affine},
                         orient={"out_dir": str(out), "record_path": str(out / "orientation_record.json"),
                                 "metrics_path": str(out.parent / "m.json"), "workers": workers,
                                 "on_failure": on_failure}, anatomy=anatomy)
    return cli(["orient", "--params", str(params)])


def test_command(dataset, tmp_path, capsys, params_file):
    seed_root, truth_dir = dataset
    assert _orient(params_file, seed_root, tmp_path / "o", truth_dir) == 0
    assert json.loads((tmp_path / "m.json").read_text())["accuracy"]["all"] == 1.0
    assert "accuracy" in capsys.readouterr().out
    assert _orient(params_file, tmp_path / "nope", tmp_path / "o2") == 1
    assert capsys.readouterr().err.startswith("error: ")


def test_command_qc_failure_prints_errors_without_a_traceback(tmp_path, capsys, params_file):
    seed_root, _ = write_dataset(tmp_path, [COHORT_SPECS[0], UNDECIDABLE])
    out = tmp_path / "o"
    assert _orient(params_file, seed_root, out) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    lines = _error_lines(captured.err)
    assert lines[0].startswith("error: orientation QC failed for 1 patient")
    assert lines[1].startswith(f"error: {seed_root / 'train' / 'masks' / 'Breast_MRI_009.nii.gz'}: mask_flip_lr")
    assert len(lines) == 2 and not out.exists()


def test_command_reads_the_affine_mode_and_orient_section_from_params(tmp_path, params_file):
    seed_root, truth_dir = write_dataset(tmp_path, [COHORT_SPECS[0], UNDECIDABLE])
    assert _orient(params_file, seed_root, tmp_path / "o", truth_dir, seed_affine="trust", on_failure="exclude",
                   min_margin={"scan_swap": 0.05, "scan_flip_ud": 0.1, "scan_flip_hf": 0.1, "mask_flip_ud": 0.1,
                               "mask_flip_lr": 0.05}) == 0
    records = load_records(tmp_path / "o" / "orientation_record.json")
    assert list(records) == ["Breast_MRI_001"] and records["Breast_MRI_001"].affine_mode == "trust"
    doc = json.loads((tmp_path / "o" / "orientation_record.json").read_text())
    assert doc["settings"]["affine_mode"] == "trust" and doc["settings"]["min_margin"]["scan_flip_ud"] == 0.1


def test_command_one_bad_patient_leaves_no_other_patients_outputs(tmp_path, capsys, params_file):
    """A non-binary training mask in one of three patients (two workers): the orient stage refuses it with ONE
    line naming the mask file, exit 1, and the other patients' oriented volumes are not left under final names
    (nor the staging folder, the record or the metrics file)."""
    seed_root, _ = write_dataset(tmp_path, [COHORT_SPECS[0], COHORT_SPECS[3], COHORT_SPECS[2]])
    path = seed_root / "train" / "masks" / "Breast_MRI_004.nii.gz"
    img = nib.load(str(path))
    save(np.asarray(img.dataobj).astype(np.float32) * 255, img.affine, path)
    out = tmp_path / "out" / "o"
    out.parent.mkdir()
    capsys.readouterr()
    assert _orient(params_file, seed_root, out, workers=2) == 1
    err = capsys.readouterr().err  # the progress bar, then the error
    assert "Traceback" not in err and len(_error_lines(err)) == 1, err
    assert err.splitlines()[-1].startswith(f"error: {path}: mask is not binary: values [0.0, 255.0]"), err
    _assert_nothing_written(out, tmp_path / "out" / "m.json")
    assert list(out.parent.iterdir()) == []


def test_a_patient_without_truth_leaves_no_outputs(tmp_path):
    """Evaluation against the truth is part of the stage: a patient missing from truth.json stops it naming the
    truth file, before any oriented volume, record or metrics file is written."""
    seed_root, truth_dir = write_dataset(tmp_path, [COHORT_SPECS[0], COHORT_SPECS[2]])
    doc = json.loads((truth_dir / "truth.json").read_text())
    del doc["seed_layout"]["patients"]["Breast_MRI_003"]
    (truth_dir / "truth.json").write_text(json.dumps(doc))
    out = tmp_path / "out" / "oriented"
    out.parent.mkdir()
    with pytest.raises(DataError, match=f"{truth_dir / 'truth.json'}: no ground truth for patient Breast_MRI_003"):
        orient_dataset(seed_root, out, metrics_path=tmp_path / "out" / "m.json", truth_dir=truth_dir, workers=1,
                       progress=False)
    _assert_nothing_written(out, tmp_path / "out" / "m.json", out / "orientation_record.json")
    assert list(out.parent.iterdir()) == []


# The orient stage's pool with patients whose scan takes minutes to read: each worker marks itself inside a
# patient, then sleeps. Spawned workers import this script as their main module: SlowScan is found there.
SLOW_ORIENT = """
import os, time
from pathlib import Path

from breastmri.orientation.dataset import Job, run_jobs
from breastmri.orientation.orient import HeuristicSettings


class SlowScan(os.PathLike):
    def __fspath__(self):
        (Path(os.environ["POOL_MARKS"]) / str(os.getpid())).touch()
        time.sleep(300)
        return "scan.nii.gz"


if __name__ == "__main__":
    jobs = [Job("inference", f"P{k}", SlowScan(), None, Path("o.nii.gz"), None) for k in range(4)]
    run_jobs(jobs, HeuristicSettings(), workers=2, progress=False)
"""


def test_a_killed_orient_stage_leaves_no_worker_running(tmp_path):
    """The stage killed by SIGKILL (no handler runs) with both workers inside a patient: the workers end too."""
    from test_parallel import assert_killed_pool_leaves_no_worker

    assert_killed_pool_leaves_no_worker(SLOW_ORIENT, tmp_path, signal.SIGKILL)
