"""Distributed lesion build (Dask): throughput, memory, kill-and-resume, byte identity, projection to MAMA-MIA.

Usage (writes only under --work, default /tmp/breastmri_bench_distributed)::

    .venv/bin/python benchmarks/distributed_build.py --cases 8          # a check (a few minutes on 2 cores)
    .venv/bin/python benchmarks/distributed_build.py --cases 24 200     # the full measurement

For each N of --cases, on an N-case phantom MAMA-MIA layout (``breastmri.stages.synthesize``, ``duke_matrix``
--duke-matrix; made once per N and reused), in one run:

1. the lesion HDF5 built with 1 worker (in this process: the reference path) and with a 2-worker Dask
   ``LocalCluster`` (fresh shard folder), each in a child process: wall time, slices/s and their ratio;
2. peak RSS of each build's whole process tree (the build process, which holds the scheduler and the nannies,
   plus the worker processes), sampled every --sample-s with psutil (sums over processes count shared pages
   more than once); the ratio of the largest N to the smallest says whether memory grows with the case count;
3. byte identity: the 2-worker file equals the 1-worker file;
4. (smallest N) kill and resume: a 2-worker build is killed (SIGKILL) once about half of its slice shards exist;
   no process of its tree may survive; the re-run must reuse exactly the shards that were finished and give the
   1-worker file's bytes;
5. a projection for the real MAMA-MIA data set (--real-cases, default 1,506) on --real-cores cores (default 16):
   per-case time of the 1-worker build at the largest N (pass 1 + pass 2 + writing, the build's own clock) scaled by
   voxel count (real case / phantom case, both on the ``lesion_spacing_mm`` grid: --real-mvoxels, default 18.5
   million voxels, about a 33 x 33 x 17 cm bilateral axial field of view at 1 mm, as the I-SPY2 cases that make up
   980 of the 1,506), divided by the cores, times the 2-worker efficiency measured here (speed-up / 2, at most 1),
   (also given with linear scaling, efficiency 1: on a loaded 2-core host the measured efficiency says more
   about the load than about Dask) plus the merge of the 2-worker build, which runs in one process (measured per case, not scaled: the slices
   chosen per case follow the lesion's extent, and the phantom's tumours have the trials' sizes).
   Assumptions: time is linear in voxels (resampling, normalisation and resizing are), the real cases have the
   phantom's proportion of chosen slices, and the shared file system keeps up with 16 readers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import _child

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]


# ---------------------------------------------------------------- data
def make_phantom(work: Path, n: int, seed: int, duke_matrix: int) -> Path:
    """An ``n``-case phantom MAMA-MIA layout under ``work/phantom_<n>`` (reused when already there)."""
    root = work / f"phantom_{n}"
    stamp = root / "bench_stamp.json"
    want = {"n_mamamia": n, "seed": seed, "duke_matrix": duke_matrix}
    if not (stamp.is_file() and json.loads(stamp.read_text()) == want):
        from breastmri.stages import synthesize

        shutil.rmtree(root, ignore_errors=True)
        t = time.perf_counter()
        synthesize.run(synthesize.Config.from_params(ROOT / "params.yaml").updated(
            out_dir=root, seed=seed, n_train=0, n_inference=0, n_mamamia=n, duke_matrix=duke_matrix))
        print(f"phantom: {n} MAMA-MIA cases in {time.perf_counter() - t:.0f} s", flush=True)
        stamp.write_text(json.dumps(want))
    return root / "mamamia"


def lesion_settings() -> dict:
    """The lesion settings of the repository's params.yaml (what the pipeline builds)."""
    from breastmri.stages import build_hdf5

    c = build_hdf5.Config.from_params(ROOT / "params.yaml")
    return {"phases": c.lesion_channels, "breast_box": c.lesion_breast_box, "size": c.lesion_size,
            "spacing_mm": c.lesion_spacing_mm, "min_lesion_px": c.lesion_min_area_px,
            "neg_exclusion_slices": c.lesion_neg_exclusion_slices,
            "neg_min_tissue_ratio": c.lesion_neg_min_tissue_ratio, "seed": c.seed, "val_fraction": c.val_fraction,
            "image_compression": c.image_compression, "mask_compression": c.mask_compression}


# ---------------------------------------------------------------- child builds
def child_build(spec: dict) -> dict:
    from breastmri.slices.build import build_lesion_h5

    summary = build_lesion_h5(spec["src"], spec["out"], workers=spec["workers"], shard_dir=spec["shard_dir"],
                              progress=False, **spec["settings"])
    keep = ("n_slices", "n_patients", "seconds", "executor", "cases_computed", "cases_reused",
            "candidates_computed", "candidates_reused", "file_mb")
    summary.setdefault("merge_seconds", None)  # the distributed build's merge (the in-process build has none)
    keep += ("merge_seconds",)
    shapes = [c["resampled_shape"] for c in summary["per_case"].values()]
    return {**{k: summary[k] for k in keep}, "resampled_shapes": shapes}


def kill_and_resume(src: Path, work: Path, settings: dict, reference: Path, sample_s: float) -> dict:
    """Kill a 2-worker build half-way through its slice shards, check its processes end, resume, compare bytes."""
    import psutil

    out, shard_dir = work / "killed" / "lesion.h5", work / "killed" / "shards"
    shutil.rmtree(work / "killed", ignore_errors=True)
    spec = {"src": str(src), "out": str(out), "workers": 2, "shard_dir": str(shard_dir), "settings": settings}
    n = len([p for p in (src / "images").iterdir() if p.is_dir()])
    target = max(1, n // 2)
    proc = _child.start_child(HERE, spec, stdout=subprocess.DEVNULL)
    shards, tree = [], []
    try:
        while proc.poll() is None and len(shards) < target:
            try:
                tree = [*tree, *(c for c in psutil.Process(proc.pid).children(recursive=True)
                                 if c.pid not in {t.pid for t in tree})]
            except psutil.Error:
                pass
            folder = shard_dir / "lesion"
            shards = [p for p in folder.glob("*.h5") if not p.name.startswith(".")] if folder.is_dir() else []
            time.sleep(0.05)
        if proc.poll() is not None:
            return {"killed": False, "note": "the build finished before half of its shards existed"}
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    _, alive = psutil.wait_procs(tree, timeout=30)
    survivors = [p.pid for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    finished = len([p for p in (shard_dir / "lesion").glob("*.h5") if not p.name.startswith(".")])
    resumed = _child.run_child(HERE, spec, sample_s)
    return {"killed": True, "cases": n, "shards_at_kill": finished, "processes_in_tree": len(tree),
            "survivors": survivors, "resumed_cases_reused": resumed["cases_reused"],
            "resumed_cases_computed": resumed["cases_computed"],
            "resumed_candidates_reused": resumed["candidates_reused"], "resume_wall_s": resumed["wall_s"],
            "reused_exactly_the_finished_shards": resumed["cases_reused"] == finished,
            "byte_identical_after_resume": out.read_bytes() == reference.read_bytes()}


# ---------------------------------------------------------------- the run
def run(cases=(24, 200), work: Path = Path("/tmp/breastmri_bench_distributed"), seed: int = 11,
        duke_matrix: int = 96, real_cases: int = 1506, real_cores: int = 16, real_mvoxels: float = 18.5,
        sample_s: float = 0.1, kill: bool = True) -> dict:
    """Every measurement of the module docstring (printed as it comes); return all figures."""
    work.mkdir(parents=True, exist_ok=True)
    settings = lesion_settings()
    rows = []
    for n in sorted(cases):
        src = make_phantom(work, n, seed, duke_matrix)
        row = {"cases": n}
        for workers in (1, 2):
            out, shard_dir = work / f"w{workers}_{n}" / "lesion.h5", work / f"w{workers}_{n}" / "shards"
            shutil.rmtree(out.parent, ignore_errors=True)  # fresh shards each time
            r = _child.run_child(HERE, {"src": str(src), "out": str(out), "workers": workers,
                                        "shard_dir": str(shard_dir), "settings": settings}, sample_s)
            row[f"w{workers}"] = r
            print(f"N={n}, {workers} worker(s): {r['n_slices']} slices in {r['seconds']:.1f} s "
                  f"({r['n_slices'] / r['seconds']:.1f} slices/s; process {r['wall_s']:.1f} s), peak RSS "
                  f"{r['peak_tree_rss_mb']:.0f} MB over {r['processes']} process(es) [{r['executor']}]", flush=True)
        # the build's own clock: without the interpreter's start, with the cluster's
        row["slices_per_s_1"] = row["w1"]["n_slices"] / row["w1"]["seconds"]
        row["slices_per_s_2"] = row["w2"]["n_slices"] / row["w2"]["seconds"]
        row["speedup_2_vs_1"] = row["slices_per_s_2"] / row["slices_per_s_1"]
        row["byte_identical"] = (work / f"w1_{n}" / "lesion.h5").read_bytes() == \
            (work / f"w2_{n}" / "lesion.h5").read_bytes()
        voxels = [a * b * c for a, b, c in row["w1"]["resampled_shapes"]]
        row["phantom_mvoxels_per_case"] = sum(voxels) / len(voxels) / 1e6
        print(f"N={n}: 2 workers / 1 worker = {row['speedup_2_vs_1']:.2f}x; byte-identical: "
              f"{row['byte_identical']}; phantom case {row['phantom_mvoxels_per_case']:.2f} M voxels", flush=True)
        rows.append(row)
    results: dict = {"cases": sorted(cases), "settings": settings, "rows": rows, "cpus": os.cpu_count(),
                     "load_average": os.getloadavg()[0]}
    small, large = rows[0], rows[-1]
    for w in (1, 2):
        results[f"peak_rss_ratio_w{w}"] = large[f"w{w}"]["peak_tree_rss_mb"] / small[f"w{w}"]["peak_tree_rss_mb"]
    if len(rows) > 1:
        print(f"peak RSS N={large['cases']} / N={small['cases']}: 1 worker {results['peak_rss_ratio_w1']:.2f}, "
              f"2 workers {results['peak_rss_ratio_w2']:.2f}", flush=True)
    if kill:
        results["kill_and_resume"] = kill_and_resume(make_phantom(work, small["cases"], seed, duke_matrix), work,
                                                     settings, work / f"w1_{small['cases']}" / "lesion.h5", sample_s)
        print("kill and resume:", json.dumps(results["kill_and_resume"]), flush=True)
    results["projection"] = project(large, real_cases, real_cores, real_mvoxels)
    p = results["projection"]
    print(f"projection, {real_cases} real cases on {real_cores} cores ({real_mvoxels} M voxels per case, "
          f"{p['voxel_scale']:.0f}x the phantom's; 2-worker efficiency {p['efficiency']:.2f}): "
          f"{p['hours']:.2f} h ({p['preprocess_hours']:.2f} h preprocessing + {p['merge_hours']:.2f} h merge); "
          f"with linear scaling {p['hours_linear']:.2f} h; one core: {p['one_core_hours']:.1f} h", flush=True)
    return results


def project(row: dict, real_cases: int, cores: int, real_mvoxels: float) -> dict:
    """Wall time for ``real_cases`` on ``cores`` cores from one row's measurements (see the module docstring)."""
    w1, w2, n = row["w1"], row["w2"], row["cases"]
    scale = real_mvoxels / row["phantom_mvoxels_per_case"]
    case_s = w1["seconds"] / n * scale          # one core, one real case: both passes and its writing
    efficiency = min(1.0, row["speedup_2_vs_1"] / 2)
    merge_s_per_case = w2["merge_seconds"] / n  # one process; slices per case as the phantom's (not voxel-scaled)
    preprocess_h = real_cases * case_s / (cores * efficiency) / 3600
    merge_h = real_cases * merge_s_per_case / 3600
    return {"voxel_scale": scale, "seconds_per_real_case_one_core": case_s, "efficiency": efficiency,
            "merge_seconds_per_case": merge_s_per_case, "preprocess_hours": preprocess_h, "merge_hours": merge_h,
            "hours": preprocess_h + merge_h, "hours_linear": real_cases * case_s / cores / 3600 + merge_h,
            "one_core_hours": real_cases * case_s / 3600, "real_cases": real_cases, "cores": cores,
            "real_mvoxels_per_case": real_mvoxels}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, nargs="+", default=[24, 200],
                        help="phantom case counts (peak RSS ratio: largest / smallest; throughput at each)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/breastmri_bench_distributed"))
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--duke-matrix", type=int, default=96)
    parser.add_argument("--real-cases", type=int, default=1506)
    parser.add_argument("--real-cores", type=int, default=16)
    parser.add_argument("--real-mvoxels", type=float, default=18.5,
                        help="million voxels of a real case on the 1 mm grid (projection)")
    parser.add_argument("--sample-s", type=float, default=0.1, help="RSS sampling period")
    parser.add_argument("--no-kill", action="store_true", help="skip the kill-and-resume check")
    return _child.main(parser, child_build, lambda a: run(a.cases, a.work, a.seed, a.duke_matrix, a.real_cases,
                                                          a.real_cores, a.real_mvoxels, a.sample_s, not a.no_kill))


if __name__ == "__main__":
    sys.exit(main())
