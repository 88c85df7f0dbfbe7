"""Every benchmark of this folder in one run, written as one table: ``reports/benchmarks.md`` and ``.json``.

    .venv/bin/python benchmarks/run_all.py                  # full sizes (an hour or more on 2 CPU cores)
    .venv/bin/python benchmarks/run_all.py --quick          # small sizes and repeats (minutes)
    .venv/bin/python benchmarks/run_all.py --only inference_speed training_throughput

Each benchmark measures its baseline in the same run (HDF5 vs per-slice ``.npy`` / NIfTI reads, our slice
predictor vs MONAI's ``SliceInferer``, the default vs the published training configuration), so
ratio = value / baseline compares figures taken under the same machine load. Orientation accuracy (in %)
has no baseline. Both files are written atomically; the JSON also keeps every benchmark's raw figures.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import math
import os
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

from breastmri.data.atomic import write_text_atomic
from breastmri.data.io import write_json

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Row:
    """One line of the table; ``baseline`` names what ``baseline_value`` measured (None: no baseline)."""

    benchmark: str
    measure: str
    value: float
    unit: str
    baseline: str | None = None
    baseline_value: float | None = None

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline_value if self.baseline_value else None


# ---------------------------------------------------------------- runs (import the benchmark, return its figures)
def run_hdf5_io(quick: bool) -> dict:
    hdf5_io = importlib.import_module("hdf5_io")
    if quick:
        return hdf5_io.run(patients=(5, 10), mamamia=4, throughput_sizes=(128,), reads=200, repeats=3,
                           skip_compression=True)
    return hdf5_io.run()


def run_inference_speed(quick: bool) -> dict:
    return importlib.import_module("inference_speed").run(repeats=3 if quick else 5)


def run_infer_command(quick: bool) -> dict:
    return importlib.import_module("infer_command").run(repeats=1 if quick else 3)


def run_training_epochs(quick: bool) -> dict:
    return importlib.import_module("training_epochs").run(epochs=1 if quick else 2, repeats=1 if quick else 3)


def run_dark_fat_views(quick: bool) -> dict:
    return importlib.import_module("dark_fat_views").run(seeds=(101,) if quick else (101, 7, 202), n=2 if quick else 6)


def run_orientation_accuracy(quick: bool) -> dict:
    return importlib.import_module("orientation_accuracy").run(n=40 if quick else 400)


def run_training_throughput(quick: bool) -> dict:
    training = importlib.import_module("training_throughput")
    if quick:
        return training.run(steps=3, published_steps=1, published_batch=1)
    return training.run()


def run_distributed_build(quick: bool) -> dict:
    distributed = importlib.import_module("distributed_build")
    return distributed.run(cases=(4, 8)) if quick else distributed.run(cases=(24, 200))


def run_augmentation(quick: bool) -> dict:
    augmentation = importlib.import_module("augmentation")
    return augmentation.run(n=8, repeats=2, steps=8) if quick else augmentation.run()


# ---------------------------------------------------------------- rows (figures -> table lines)
def hdf5_io_rows(f: dict) -> list[Row]:
    name, read = "hdf5_io", f["read"]
    measure = f"random slice reads, H5SliceDataset ({read['slices']} slices)"
    rows = [Row(name, measure, read["hdf5_slices_per_s"], "slices/s", "NIfTI reload", read["nifti_slices_per_s"]),
            Row(name, measure, read["hdf5_slices_per_s"], "slices/s", ".npy per slice", read["npy_slices_per_s"])]
    small, large = f["peak_rss"]
    rows.append(Row(name, f"build peak RSS, {large['patients']} patients", large["peak_rss_mb"], "MB",
                    f"{small['patients']} patients", small["peak_rss_mb"]))
    by_task: dict[str, dict[int, dict]] = {}
    for r in f["throughput"]:
        by_task.setdefault(r["task"], {})[r["workers"]] = r
    for task, w in by_task.items():
        calibration = "calibration" in task
        rows.append(Row(name, f"{task if calibration else 'build ' + task}, 2 workers", w[2]["slices_per_s"],
                        "tasks/s" if calibration else "slices/s", "1 worker", w[1]["slices_per_s"]))
    plain = {r["file"]: r for r in f.get("compression_table", []) if r["images"] == r["masks"] == "none"}
    for r in f.get("compression_table", []):
        if r is not plain[r["file"]]:
            what = f"{r['file']}, images {r['images']} / masks {r['masks']}"
            rows += [Row(name, f"{what}: size", r["file_mb"], "MB", "uncompressed", plain[r["file"]]["file_mb"]),
                     Row(name, f"{what}: random reads", r["read_slices_per_s"], "slices/s", "uncompressed",
                         plain[r["file"]]["read_slices_per_s"])]
    return rows


def distributed_build_rows(f: dict) -> list[Row]:
    """Lesion build on a 2-worker Dask LocalCluster vs in this process; memory vs case count; resume; projection."""
    name, small, large = "distributed_build", f["rows"][0], f["rows"][-1]
    rows = [Row(name, f"lesion build, {large['cases']} phantom cases, 2-worker LocalCluster", large["slices_per_s_2"],
                "slices/s", "1 worker, in-process", large["slices_per_s_1"])]
    for w, what in ((2, "2-worker LocalCluster (scheduler + workers)"), (1, "1 worker")):
        rows.append(Row(name, f"peak RSS of the build's processes, {large['cases']} cases, {what}",
                        large[f"w{w}"]["peak_tree_rss_mb"], "MB", f"{small['cases']} cases",
                        small[f"w{w}"]["peak_tree_rss_mb"]))
    rows.append(Row(name, "2-worker file byte-identical to the 1-worker file (1 = yes, every N)",
                    float(all(r["byte_identical"] for r in f["rows"])), "bool"))
    k = f.get("kill_and_resume", {})
    if k.get("killed"):
        rows.append(Row(name, f"killed build resumed: shards reused ({k['cases']} cases; survivors "
                              f"{len(k['survivors'])}, byte-identical {k['byte_identical_after_resume']})",
                        k["resumed_cases_reused"], "cases", "shards finished at the kill", k["shards_at_kill"]))
    p = f["projection"]
    rows.append(Row(name, f"projected build, {p['real_cases']} real cases ({p['real_mvoxels_per_case']} M voxels) "
                          f"on {p['cores']} cores, measured 2-worker efficiency {p['efficiency']:.2f}",
                    p["hours"], "h", "one core", p["one_core_hours"]))
    return rows


def inference_speed_rows(f: dict) -> list[Row]:
    shape = "x".join(map(str, f["shape"]))
    return [Row("inference_speed", f"whole-breast volume {shape}, ours ({f['device']})", f["ours_s_per_volume"],
                "s/volume", "MONAI SliceInferer", f["monai_slice_inferer_s_per_volume"]),
            Row("inference_speed", f"whole-breast volume {shape}, ours with mirror TTA ({f['device']})",
                f["mirror_tta_s_per_volume"], "s/volume", "ours without TTA", f["ours_s_per_volume"]),
            Row("inference_speed", "largest probability difference, ours vs MONAI", f["max_abs_prob_difference"],
                "probability")]


def infer_command_rows(f: dict) -> list[Row]:
    shape = "x".join(map(str, f["shape"]))
    model = f.get("checkpoint", "random weights")
    return [Row("infer_command", f"breastmri-infer --scan, {shape} volume, whole process ({model})", f["current_s"],
                "s/call", f"commit {f['baseline_ref']}", f["baseline_s"])]


def training_epochs_rows(f: dict) -> list[Row]:
    same = "the same weights" if f["same_weights"] else "OTHER weights"
    return [Row("training_epochs", f"train@{f['task']}, {f['epochs']} epochs, the stage's training ({same})",
                f["current_s"], "s", f"commit {f['baseline_ref']}", f["baseline_s"])]


def orientation_accuracy_rows(f: dict) -> list[Row]:
    """Per cohort: accuracy of the worst decision among the placed patients, and the share refused by the QC."""
    rows = []
    for cohort, c in f["by_cohort"].items():
        worst = min(c["accuracy"].values()) if c["accuracy"] else math.nan
        rows.append(Row("orientation_accuracy", f"{cohort}: worst decision, {c['placed']} placed patients",
                        100 * worst, "%"))
        rows.append(Row("orientation_accuracy", f"{cohort}: refused by the QC ({c['refused']} of {c['n']})",
                        100 * c["refused"] / c["n"] if c["n"] else math.nan, "%"))
    rows.append(Row("orientation_accuracy", "aligned mask Dice, minimum (placed)",
                    f["by_cohort"]["all"]["mask_dice_min"], "Dice"))
    return rows


def dark_fat_views_rows(f: dict) -> list[Row]:
    """Per seed: Dice mean and minimum with fat near the noise floor, and the share the placement QC doubts, each
    against the same cases with the default phantom's contrast."""
    dark, default = f["by_contrast"]["dark_fat"], f["by_contrast"]["fat_suppressed"]
    rows = []
    for seed, d in dark.items():
        base = default[seed]
        where = f"seed {seed}, {f['n']} sagittal breast-only cases, dark fat"
        rows += [Row("dark_fat_views", f"{where}: breast Dice mean", d["mean"], "Dice", "fat_suppressed",
                     base["mean"]),
                 Row("dark_fat_views", f"{where}: breast Dice minimum", d["min"], "Dice", "fat_suppressed",
                     base["min"]),
                 Row("dark_fat_views", f"{where}: masks the placement QC doubts", 100 * d["doubted"], "%",
                     "fat_suppressed", 100 * base["doubted"])]
    return rows


def training_throughput_rows(f: dict) -> list[Row]:
    def config(key: str) -> str:
        r = f[key]
        return f"{key} ({r['size']}x{r['size']}, batch {r['batch']})"

    rows = []
    for key, r in f.items():
        if key.startswith("published"):
            continue
        base = key.replace("default", "published")
        p = f.get(base, {})
        rows += [Row("training_throughput", f"train {config(key)}", r["slices_per_s"], "slices/s",
                     config(base) if p else None, p.get("slices_per_s")),
                 Row("training_throughput", f"forward cost, {key}", r["gflops"], "GFLOP/slice",
                     base if p else None, p.get("gflops"))]
    return rows


def augmentation_rows(f: dict) -> list[Row]:
    """MONAI (used) vs TorchIO for the same chain, and training throughput with vs without augmentation."""
    rows = []
    for r in f["library"]:
        torchio = r["torchio_ms_per_slice"]
        available = torchio is not None and math.isfinite(torchio)
        rows.append(Row("augmentation", f"every transform, {r['channels']}-channel 128x128 slice, MONAI",
                        r["monai_ms_per_slice"], "ms/slice", "TorchIO" if available else None,
                        torchio if available else None))
    t = f["training"]["slices_per_s"]
    for key, value in t.items():
        if key != "plain":
            workers = key.rsplit("_", 1)[1]
            rows.append(Row("augmentation", f"train default breast U-Net, default augmentation, {workers} workers",
                            value, "slices/s", "no augmentation", t["plain"]))
    return rows


BENCHMARKS = {
    "augmentation": (run_augmentation, augmentation_rows),
    "dark_fat_views": (run_dark_fat_views, dark_fat_views_rows),
    "distributed_build": (run_distributed_build, distributed_build_rows),
    "hdf5_io": (run_hdf5_io, hdf5_io_rows),
    "infer_command": (run_infer_command, infer_command_rows),
    "inference_speed": (run_inference_speed, inference_speed_rows),
    "orientation_accuracy": (run_orientation_accuracy, orientation_accuracy_rows),
    "training_epochs": (run_training_epochs, training_epochs_rows),
    "training_throughput": (run_training_throughput, training_throughput_rows),
}


# ---------------------------------------------------------------- output
def fmt(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "-" if v is None else str(v)
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.1f}" if abs(v) >= 10 else f"{v:.3g}"


def markdown(rows: list[Row], meta: dict) -> str:
    lines = ["# Benchmarks", "",
             f"`{meta['command']}` on {meta['date']}: {meta['cpus']} CPUs, {meta['torch_threads']} torch threads, "
             f"load average {meta['load_start']:.1f} at the start and {meta['load_end']:.1f} at the end (other "
             f"processes count), {meta['wall_s']:.0f} s. Baselines are measured in the same run; "
             "ratio = value / baseline.", ""]
    if meta["failed"]:
        lines += [f"**Failed:** {name}: {msg}" for name, msg in meta["failed"].items()] + [""]
    lines += ["| benchmark | measure | value | unit | baseline | ratio vs baseline |",
              "|---|---|---:|---|---|---:|"]
    for r in rows:
        baseline = "-" if r.baseline is None else f"{r.baseline}: {fmt(r.baseline_value)}"
        cells = [r.benchmark, r.measure, fmt(r.value), r.unit, baseline, fmt(r.ratio)]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(rows: list[Row], figures: dict, meta: dict, out_dir: Path) -> tuple[Path, Path]:
    """Write ``benchmarks.md`` and ``benchmarks.json`` (rows with ratios, meta, raw figures) atomically."""
    doc = {"meta": meta, "rows": [{**asdict(r), "ratio": r.ratio} for r in rows], "figures": figures}
    json_path = write_json(doc, out_dir / "benchmarks.json")  # strict JSON: NaN -> null
    return write_text_atomic(out_dir / "benchmarks.md", markdown(rows, meta)), json_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and repeats (minutes, not hours)")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), default=list(BENCHMARKS), metavar="NAME",
                        help=f"run only these ({', '.join(BENCHMARKS)})")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "reports")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benchmark modules, however this was started
    import torch

    started, load_start = time.perf_counter(), os.getloadavg()[0]
    rows, figures, failed = [], {}, {}
    for name in args.only:
        run, to_rows = BENCHMARKS[name]
        print(f"\n# {name}", flush=True)
        try:
            figures[name] = run(args.quick)
            rows += to_rows(figures[name])
        except (Exception, SystemExit) as exc:  # one broken benchmark must not cost the others' figures
            traceback.print_exc()
            failed[name] = f"{type(exc).__name__}: {exc}"
    meta = {"command": " ".join(["benchmarks/run_all.py", *(argv if argv is not None else sys.argv[1:])]),
            "quick": args.quick, "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "load_start": load_start, "load_end": os.getloadavg()[0],
            "wall_s": time.perf_counter() - started, "failed": failed}
    md_path, json_path = write_report(rows, figures, meta, args.out_dir)
    print("\n" + md_path.read_text() + f"\nwrote {md_path} and {json_path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
