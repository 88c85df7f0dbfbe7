"""benchmarks/run_all.py: figures -> table rows, ratios and the atomic report, on fake figures (nothing is run);
benchmarks/_child.py on a tiny script."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import _checkout  # noqa: E402
import _child  # noqa: E402
import run_all  # noqa: E402

META = {"command": "benchmarks/run_all.py --quick", "quick": True, "date": "2026-01-01T00:00:00+00:00", "cpus": 2,
        "torch_threads": 2, "load_start": 1.0, "load_end": 2.0, "wall_s": 60.0, "failed": {}}

HDF5 = {
    "read": {"slices": 500, "hdf5_slices_per_s": 8000.0, "npy_slices_per_s": 4000.0, "nifti_slices_per_s": 16.0},
    "peak_rss": [{"patients": 5, "peak_rss_mb": 300.0}, {"patients": 10, "peak_rss_mb": 330.0}],
    "throughput": [{"task": "breast 128", "workers": 1, "slices_per_s": 400.0},
                   {"task": "breast 128", "workers": 2, "slices_per_s": 700.0},
                   {"task": "cpu burn (calibration)", "workers": 1, "slices_per_s": 1.0, "parent_rss_mb": math.nan},
                   {"task": "cpu burn (calibration)", "workers": 2, "slices_per_s": 1.9, "parent_rss_mb": math.nan}],
    "compression_table": [
        {"file": "breast_10 (500 slices)", "images": "none", "masks": "none", "file_mb": 40.0,
         "read_slices_per_s": 8000.0},
        {"file": "breast_10 (500 slices)", "images": "none", "masks": "gzip1", "file_mb": 30.0,
         "read_slices_per_s": 6000.0}],
}
INFERENCE = {"shape": [192, 160, 64], "device": "cpu", "ours_s_per_volume": 2.0,
             "monai_slice_inferer_s_per_volume": 4.0, "max_abs_prob_difference": 0.0,
             "mirror_tta_s_per_volume": 3.0}
ORIENTATION = {"n_patients": 40, "by_cohort": {
    "seedlike": {"n": 20, "placed": 18, "refused": 2, "accuracy": {"scan_flip_ud": 1.0, "mask_flip_lr": 0.9},
                 "mask_dice_min": 0.99},
    "all": {"n": 40, "placed": 38, "refused": 2, "accuracy": {"scan_flip_ud": 1.0, "mask_flip_lr": 0.95},
            "mask_dice_min": 0.99}}}
TRAINING = {"default": {"size": 128, "batch": 8, "gflops": 0.25, "slices_per_s": 4.0},
            "published": {"size": 512, "batch": 1, "gflops": 250.0, "slices_per_s": 0.04}}

AUGMENTATION = {"library": [{"channels": 1, "monai_ms_per_slice": 2.0, "torchio_ms_per_slice": 8.0},
                            {"channels": 6, "monai_ms_per_slice": 6.0, "torchio_ms_per_slice": math.nan}],
                "training": {"batch": 8, "slices_per_s": {"plain": 50.0, "augmented_workers_0": 40.0,
                                                          "augmented_workers_1": 45.0}}}


def rows_of(name, figures):
    return run_all.BENCHMARKS[name][1](figures)


def test_every_benchmark_has_a_row_builder():
    benchmarks = Path(run_all.__file__).parent
    assert set(run_all.BENCHMARKS) == {p.stem for p in benchmarks.glob("[!_]*.py")} - {"run_all"}  # _x: helpers


def test_ratio_is_value_over_a_baseline_measured_in_the_same_run():
    hdf5 = rows_of("hdf5_io", HDF5)
    assert [r.ratio for r in hdf5] == pytest.approx([500, 2, 1.1, 1.75, 1.9, 0.75, 0.75])
    assert [r.unit for r in hdf5][:6] == ["slices/s", "slices/s", "MB", "slices/s", "tasks/s", "MB"]
    speed, tta, difference = rows_of("inference_speed", INFERENCE)
    assert (speed.value, speed.baseline, speed.ratio) == (2.0, "MONAI SliceInferer", 0.5)
    assert (tta.value, tta.baseline, tta.ratio) == (3.0, "ours without TTA", 1.5)
    assert difference.ratio is None
    train, flops = rows_of("training_throughput", TRAINING)
    assert train.ratio == pytest.approx(100) and flops.ratio == pytest.approx(0.001)
    assert rows_of("training_throughput", {"default": TRAINING["default"]})[0].ratio is None


def test_augmentation_rows_compare_libraries_and_training_with_and_without():
    one, six, main_process, worker = rows_of("augmentation", AUGMENTATION)
    assert (one.value, one.baseline, one.ratio) == (2.0, "TorchIO", 0.25)
    assert six.baseline is None and six.ratio is None  # TorchIO not installed: no baseline
    assert (main_process.baseline, main_process.ratio) == ("no augmentation", pytest.approx(0.8))
    assert worker.measure.endswith("1 workers") and worker.ratio == pytest.approx(0.9)


def test_infer_command_row_compares_this_checkout_with_an_earlier_commit():
    (row,) = rows_of("infer_command", {"shape": [448, 448, 155], "current_s": 6.0, "baseline_s": 15.0,
                                       "baseline_ref": "3eb289a", "checkpoint": "models/breast/best.pt"})
    assert (row.value, row.baseline, row.ratio, row.unit) == (6.0, "commit 3eb289a", 0.4, "s/call")
    assert "448x448x155" in row.measure and "(models/breast/best.pt)" in row.measure


def test_training_epochs_row_compares_with_an_earlier_commit_and_says_whether_the_weights_are_the_same():
    figures = {"task": "lesion", "epochs": 2, "current_s": 64.0, "baseline_s": 80.0, "baseline_ref": "68ad0bd",
               "same_weights": True}
    (row,) = rows_of("training_epochs", figures)
    assert (row.value, row.baseline, row.ratio, row.unit) == (64.0, "commit 68ad0bd", 0.8, "s")
    assert "train@lesion, 2 epochs" in row.measure and "(the same weights)" in row.measure
    (row,) = rows_of("training_epochs", {**figures, "same_weights": False})
    assert "(OTHER weights)" in row.measure


def test_the_two_checkouts_are_timed_in_alternating_order():
    assert list(_checkout.alternating(["current", "baseline"], 3)) == [
        "current", "baseline", "baseline", "current", "current", "baseline"]


DISTRIBUTED = {
    "rows": [{"cases": 24, "slices_per_s_1": 20.0, "slices_per_s_2": 36.0, "byte_identical": True,
              "w1": {"peak_tree_rss_mb": 800.0}, "w2": {"peak_tree_rss_mb": 1500.0}},
             {"cases": 200, "slices_per_s_1": 21.0, "slices_per_s_2": 42.0, "byte_identical": True,
              "w1": {"peak_tree_rss_mb": 840.0}, "w2": {"peak_tree_rss_mb": 1650.0}}],
    "kill_and_resume": {"killed": True, "cases": 24, "shards_at_kill": 12, "survivors": [],
                        "resumed_cases_reused": 12, "byte_identical_after_resume": True},
    "projection": {"real_cases": 1506, "real_mvoxels_per_case": 18.5, "cores": 16, "efficiency": 1.0,
                   "hours": 0.5, "one_core_hours": 8.0}}


def test_distributed_build_rows_compare_with_the_in_process_build_and_the_smaller_set():
    speed, rss2, rss1, identical, resumed, projected = rows_of("distributed_build", DISTRIBUTED)
    assert (speed.baseline, speed.ratio) == ("1 worker, in-process", 2.0) and "200 phantom cases" in speed.measure
    assert (rss2.baseline, rss2.ratio, rss1.ratio) == ("24 cases", 1.1, pytest.approx(1.05))
    assert (identical.value, identical.ratio) == (1.0, None)
    assert (resumed.value, resumed.ratio) == (12, 1.0)
    assert (projected.value, projected.unit, projected.ratio) == (0.5, "h", 0.0625)


def test_dark_fat_rows_compare_each_seed_with_the_same_cases_in_the_default_contrast():
    figures = {"n": 6, "by_contrast": {"dark_fat": {"101": {"mean": 0.9, "min": 0.6, "doubted": 0.5}},
                                       "fat_suppressed": {"101": {"mean": 0.95, "min": 0.8, "doubted": 0.0}}}}
    mean, low, doubted = rows_of("dark_fat_views", figures)
    assert (mean.value, mean.baseline, mean.ratio) == (0.9, "fat_suppressed", pytest.approx(0.9 / 0.95))
    assert (low.value, low.ratio) == (0.6, pytest.approx(0.75))
    assert (doubted.value, doubted.unit, doubted.ratio) == (50.0, "%", None)  # no ratio against 0 doubted
    assert "seed 101, 6 sagittal" in mean.measure


def test_orientation_is_accuracy_in_percent_without_baseline():
    rows = rows_of("orientation_accuracy", ORIENTATION)
    assert [r.value for r in rows] == pytest.approx([90, 10, 95, 5, 0.99])
    assert [r.unit for r in rows] == ["%", "%", "%", "%", "Dice"]
    assert all(r.baseline is None and r.ratio is None for r in rows)


def test_report_is_one_table_written_atomically(tmp_path):
    rows = rows_of("inference_speed", INFERENCE) + rows_of("orientation_accuracy", ORIENTATION)
    figures = {"inference_speed": INFERENCE, "hdf5_io": HDF5}
    md_path, json_path = run_all.write_report(rows, figures, META, tmp_path / "reports")
    assert sorted(os.listdir(tmp_path / "reports")) == ["benchmarks.json", "benchmarks.md"]  # no temp files left
    md = md_path.read_text().splitlines()
    header = md.index("| benchmark | measure | value | unit | baseline | ratio vs baseline |")
    table = md[header + 2:]
    assert len(table) == len(rows) and all(line.count(" | ") == 5 for line in table)
    assert table[0] == ("| inference_speed | whole-breast volume 192x160x64, ours (cpu) | 2 | s/volume "
                        "| MONAI SliceInferer: 4 | 0.5 |")
    doc = json.loads(json_path.read_text(), parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    assert doc["rows"][0]["ratio"] == 0.5 and doc["rows"][-1]["ratio"] is None
    assert doc["figures"]["hdf5_io"]["throughput"][2]["parent_rss_mb"] is None  # NaN -> null
    assert doc["meta"] == META


def test_a_failed_benchmark_is_named_above_the_table(tmp_path):
    md_path, _ = run_all.write_report([], {}, {**META, "failed": {"hdf5_io": "SystemExit: child build failed"}},
                                      tmp_path)
    assert "**Failed:** hdf5_io: SystemExit: child build failed" in md_path.read_text()


def test_a_child_process_gives_back_its_result_with_its_measurements(tmp_path):
    """benchmarks/_child.py: ``<script> --child SPEC`` prints the child function's result, run_child reads it back
    with wall time and peak RSS; without --child the script measures and writes --json."""
    script = tmp_path / "bench.py"
    script.write_text("import argparse, sys\n"
                      f"sys.path.insert(0, {str(Path(_child.__file__).parent)!r})\n"
                      "import _child\n"
                      "if __name__ == '__main__':\n"
                      "    sys.exit(_child.main(argparse.ArgumentParser(), lambda spec: {'twice': 2 * spec['n']},\n"
                      "                         lambda args: {'measured': True}))\n")
    result = _child.run_child(script, {"n": 21}, sample_s=0.01)
    assert result["twice"] == 42 and result["wall_s"] > 0 and result["wait4_maxrss_mb"] > 0
    assert result["peak_tree_rss_mb"] > 0 and result["processes"] >= 1
    assert "peak_tree_rss_mb" not in _child.run_child(script, {"n": 1})  # sampled only when asked
    with pytest.raises(SystemExit, match="child build failed"):
        _child.run_child(script, {"m": 1})
    assert subprocess.run([sys.executable, str(script), "--json", str(tmp_path / "f.json")]).returncode == 0
    assert json.loads((tmp_path / "f.json").read_text()) == {"measured": True}
