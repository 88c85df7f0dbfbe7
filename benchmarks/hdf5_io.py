"""HDF5 slice files: read rate vs NIfTI / per-slice .npy, build memory and throughput, compression.

Usage (writes only under --work, default /tmp/breastmri_bench_hdf5)::

    .venv/bin/python benchmarks/hdf5_io.py                       # everything
    .venv/bin/python benchmarks/hdf5_io.py --skip-compression --patients 20 80

Measures, in one run (medians over --repeats; the page cache is warm for every format alike):

1. random-access read rate (slices/s) of ``H5SliceDataset`` against (a) reloading the patient's NIfTI
   scan + mask and preparing the slice as the build does, and (b) one ``.npy`` file per slice; the
   ratios are computed within the same run;
2. peak RSS of the breast build (one worker, in a child process: ``wait4`` max RSS) for the patient
   counts in --patients (e.g. 20 and 80): streaming means they are nearly equal;
3. build throughput (slices/s) with 1 and 2 workers;
4. compression (images/masks: none, lzf, gzip1, gzip4 and mixed pairs; chunk = one slice): file size
   and random read rate (reads interleaved across the variants), breast (1 channel) and lesion (6 channels).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import _child
import h5py
import numpy as np

from breastmri.data.io import load_volume
from breastmri.data.layouts import SeedLayout
from breastmri.slices.geometry import resize_pad
from breastmri.slices.normalize import clip_zscore

HERE = Path(__file__).resolve()


# ---------------------------------------------------------------- data
def make_data(work: Path, n_train: int, n_mamamia: int, seed: int) -> tuple[Path, Path]:
    """Phantom seed + MAMA-MIA layouts under ``work/phantom`` (reused when already there)."""
    root = work / "phantom"
    stamp = root / "bench_stamp.json"
    want = {"n_train": n_train, "n_mamamia": n_mamamia, "seed": seed}
    if not (stamp.is_file() and json.loads(stamp.read_text()) == want):
        from breastmri.stages import synthesize

        shutil.rmtree(root, ignore_errors=True)
        t = time.perf_counter()
        synthesize.run(synthesize.Config.from_params(HERE.parents[1] / "params.yaml").updated(
            out_dir=root, seed=seed, n_train=n_train, n_inference=0, n_mamamia=n_mamamia))
        print(f"phantom: {n_train} seed-layout + {n_mamamia} MAMA-MIA cases in {time.perf_counter() - t:.0f} s")
        stamp.write_text(json.dumps(want))
    return root / "seed", root / "mamamia"


def subset_layout(seed_root: Path, dest: Path, n: int) -> Path:
    """A seed layout with the first ``n`` training patients (symlinks)."""
    layout = SeedLayout(seed_root)
    scans, masks = layout.train_scans(), layout.train_masks()
    ids = sorted(scans)[:n]
    if len(ids) < n:
        raise SystemExit(f"need {n} training patients, the phantom has {len(ids)}")
    shutil.rmtree(dest, ignore_errors=True)
    for kind, paths in (("scans", scans), ("masks", masks)):
        (dest / "train" / kind).mkdir(parents=True)
        for pid in ids:
            (dest / "train" / kind / paths[pid].name).symlink_to(paths[pid].resolve())
    return dest


# ---------------------------------------------------------------- child builds (peak RSS, throughput)
def child_build(spec: dict) -> dict:
    import resource

    from breastmri.slices.build import build_breast_h5, build_lesion_h5

    if spec["task"] == "breast":
        summary = build_breast_h5(spec["src"], spec["out"], size=spec["size"], workers=spec["workers"],
                                  progress=False)
    else:
        from breastmri.stages import build_hdf5

        c = build_hdf5.Config.from_params(HERE.parents[1] / "params.yaml")
        summary = build_lesion_h5(spec["src"], spec["out"], phases=c.lesion_channels, breast_box=c.lesion_breast_box,
                                  size=spec["size"], workers=spec["workers"], progress=False)
    summary["self_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary["children_maxrss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {k: v for k, v in summary.items() if k != "split"}


def burn(n: int) -> int:
    """Pure-Python CPU work: calibrates what 2 workers can gain on this machine at this moment."""
    total = 0
    for i in range(n):
        total += i * i
    return total


def pool_calibration(n_tasks: int = 8, n: int = 5_000_000) -> list[dict]:
    from breastmri.parallel import ordered_map, worker_pool

    rows = []
    for workers in (1, 2):
        t = time.perf_counter()
        with worker_pool(workers) as pool:
            list(ordered_map(burn, [(n,)] * n_tasks, pool, progress=False))
        secs = time.perf_counter() - t
        rows.append({"task": "cpu burn (calibration)", "workers": workers, "slices": n_tasks, "build_s": secs,
                     "slices_per_s": n_tasks / secs, "parent_rss_mb": float("nan")})
    return rows


# ---------------------------------------------------------------- read rates
def nifti_reader(seed_root: Path, size: int):
    layout = SeedLayout(seed_root)
    scans, masks = layout.train_scans(), layout.train_masks()

    def read(pid: str, k: int):
        scan = load_volume(scans[pid]).array
        mask = load_volume(masks[pid], dtype=np.uint8).array
        norm = clip_zscore(scan)
        image, _ = resize_pad(norm[:, :, k], size, order=1, pad_value=float(norm.min()))
        m, _ = resize_pad((mask[:, :, k] > 0).astype(np.uint8), size, order=0)
        return image, m

    return read


def export_npy(h5_path: Path, dest: Path) -> list[Path]:
    """One ``.npy`` per slice holding image channels + mask stacked as float32 ``(C+1, S, S)``."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    paths = []
    from breastmri.slices.h5file import SliceFile

    source = SliceFile(h5_path)
    for i in source.rows("all"):
        arr = np.concatenate([source.read("images", [i])[0], source.read("masks", [i])[0].astype(np.float32)])
        path = dest / f"{i:06d}.npy"
        np.save(path, arr)
        paths.append(path)
    return paths


def rate(fn, indices) -> float:
    t = time.perf_counter()
    for i in indices:
        fn(i)
    return len(indices) / (time.perf_counter() - t)


def median_rate(fn, n_items: int, n_reads: int, repeats: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    return statistics.median(rate(fn, rng.integers(0, n_items, n_reads)) for _ in range(repeats))


def read_rates(h5_path: Path, seed_root: Path, size: int, work: Path, reads: int, repeats: int) -> dict:
    import torch

    from breastmri.slices.dataset import H5SliceDataset

    ds = H5SliceDataset(h5_path, "all")
    n = len(ds)
    npy = export_npy(h5_path, work / "npy_slices")
    nifti = nifti_reader(seed_root, size)
    pids, sl = ds.patient_ids, ds.slice_indices

    def h5_item(i):
        return ds[int(i)]

    channels = ds.channels

    def npy_item(i):  # the same work as H5SliceDataset.__getitem__: arrays -> float32 tensors
        arr = np.load(npy[int(i)])
        return {"image": torch.from_numpy(arr[:channels]), "mask": torch.from_numpy(arr[channels:]), "index": i}

    def nifti_item(i):
        return nifti(pids[int(i)], int(sl[int(i)]))

    r_h5 = median_rate(h5_item, n, reads, repeats, 1)
    r_npy = median_rate(npy_item, n, reads, repeats, 1)
    r_nii = median_rate(nifti_item, n, max(10, reads // 20), repeats, 1)
    layout = SeedLayout(seed_root)
    nii_bytes = sum(p.stat().st_size for p in [*layout.train_scans().values(), *layout.train_masks().values()])
    return {
        "slices": n,
        "hdf5_slices_per_s": r_h5,
        "npy_slices_per_s": r_npy,
        "nifti_slices_per_s": r_nii,
        "hdf5_vs_nifti": r_h5 / r_nii,
        "hdf5_vs_npy": r_h5 / r_npy,
        "hdf5_mb": h5_path.stat().st_size / 2**20,
        "npy_mb": sum(p.stat().st_size for p in npy) / 2**20,
        "nifti_mb": nii_bytes / 2**20,
    }


# ---------------------------------------------------------------- compression
COMBOS = [("none", "none"), ("lzf", "lzf"), ("gzip1", "gzip1"), ("gzip4", "gzip4"), ("none", "lzf"),
          ("none", "gzip1")]


def recompress(src: Path, dest: Path, image_compression: str, mask_compression: str) -> Path:
    from breastmri.slices.writer import compression_kwargs

    filters = {"images": compression_kwargs(image_compression), "masks": compression_kwargs(mask_compression)}
    with h5py.File(src) as fi, h5py.File(dest, "w") as fo:
        for name, ds in fi.items():
            if name in filters:
                out = fo.create_dataset(name, shape=ds.shape, dtype=ds.dtype, chunks=ds.chunks, **filters[name])
                for i in range(ds.shape[0]):
                    out[i] = ds[i]
            else:
                fi.copy(ds, fo, name)
        fo.attrs.update(dict(fi.attrs))
    return dest


def compression_table(h5_path: Path, work: Path, reads: int, repeats: int) -> list[dict]:
    """Every image/mask compression pair; reads interleaved across the files (same load for all)."""
    from breastmri.slices.dataset import H5SliceDataset

    built = []
    for img_c, msk_c in COMBOS:
        path = work / f"compress_{h5_path.stem}_{img_c}_{msk_c}.h5"
        t = time.perf_counter()
        recompress(h5_path, path, img_c, msk_c)
        built.append((img_c, msk_c, path, time.perf_counter() - t))
    datasets = [H5SliceDataset(path, "all") for _, _, path, _ in built]
    n = len(datasets[0])
    rng = np.random.default_rng(2)
    rates: list[list[float]] = [[] for _ in built]
    for _ in range(repeats):
        idx = rng.integers(0, n, reads)
        for k, ds in enumerate(datasets):
            rates[k].append(rate(lambda i, ds=ds: ds[int(i)], idx))
    rows = []
    raw = None
    for (img_c, msk_c, path, write_s), ds, r in zip(built, datasets, rates):
        with h5py.File(path) as f:
            img_mb = f["images"].id.get_storage_size() / 2**20
            msk_mb = f["masks"].id.get_storage_size() / 2**20
        size = path.stat().st_size / 2**20
        raw = raw or size
        rows.append({"file": f"{h5_path.stem} ({n} slices)", "images": img_c, "masks": msk_c, "file_mb": size,
                     "vs_none": size / raw, "images_mb": img_mb, "masks_mb": msk_mb, "write_s": write_s,
                     "read_slices_per_s": statistics.median(r)})
        ds.close()
        path.unlink()
    return rows


def table(rows: list[dict], cols: list[str]) -> str:
    def fmt(v):
        return f"{v:,.2f}" if isinstance(v, float) else str(v)

    widths = [max(len(c), *(len(fmt(r[c])) for r in rows)) for c in cols]
    lines = ["  ".join(c.rjust(w) for c, w in zip(cols, widths))]
    lines += ["  ".join(fmt(r[c]).rjust(w) for c, w in zip(cols, widths)) for r in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/breastmri_bench_hdf5"))
    parser.add_argument("--patients", type=int, nargs=2, default=[20, 80], metavar=("SMALL", "LARGE"))
    parser.add_argument("--mamamia", type=int, default=8, help="MAMA-MIA cases for the lesion file")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--throughput-sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--reads", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-compression", action="store_true")
    return _child.main(parser, child_build, lambda a: run(a.work, a.patients, a.mamamia, a.size,
                                                          a.throughput_sizes, a.reads, a.repeats, a.seed,
                                                          a.skip_compression))


def run(work: Path = Path("/tmp/breastmri_bench_hdf5"), patients=(20, 80), mamamia: int = 8, size: int = 128,
        throughput_sizes=(128, 256), reads: int = 400, repeats: int = 5, seed: int = 7,
        skip_compression: bool = False) -> dict:
    """Every measurement of the module docstring (tables printed as they come); return all figures."""
    work.mkdir(parents=True, exist_ok=True)
    small, large = patients
    seed_root, mamamia_root = make_data(work, large, mamamia, seed)
    results: dict = {"size": size}

    # 2. peak RSS for SMALL vs LARGE patients (1 worker, streaming)
    rss_rows = []
    for n in (small, large):
        src = subset_layout(seed_root, work / f"seed_{n}", n)
        r = _child.run_child(HERE, {"task": "breast", "src": str(src), "out": str(work / f"breast_{n}.h5"),
                                    "size": size, "workers": 1})
        rss_rows.append({"patients": n, "slices": r["n_slices"], "file_mb": r["file_mb"],
                         "peak_rss_mb": r["wait4_maxrss_mb"], "build_s": r["seconds"]})
    results["peak_rss"] = rss_rows
    results["rss_ratio_large_vs_small"] = rss_rows[1]["peak_rss_mb"] / rss_rows[0]["peak_rss_mb"]
    print("\n## build peak RSS (1 worker, child process)")
    print(table(rss_rows, ["patients", "slices", "file_mb", "peak_rss_mb", "build_s"]))
    print(f"ratio {large}/{small} patients: {results['rss_ratio_large_vs_small']:.3f}")

    # 3. build throughput with 1 and 2 workers (SMALL patients)
    tp_rows = []
    src = work / f"seed_{small}"
    for tp_size in throughput_sizes:
        for workers in (1, 2):
            spec = {"task": "breast", "src": str(src), "out": str(work / f"tp_{workers}.h5"), "size": tp_size,
                    "workers": workers}
            runs = [_child.run_child(HERE, spec) for _ in range(3)]
            secs = statistics.median(r["seconds"] for r in runs)
            tp_rows.append({"task": f"breast {tp_size}", "workers": workers, "slices": runs[0]["n_slices"],
                            "build_s": secs, "slices_per_s": runs[0]["n_slices"] / secs,
                            "parent_rss_mb": statistics.median(r["self_maxrss_mb"] for r in runs)})
            (work / f"tp_{workers}.h5").unlink()
    for workers in (1, 2):
        tp_rows.append({"task": f"lesion {size}", "workers": workers,
                        **_lesion_throughput(mamamia_root, work, size, workers)})
    tp_rows += pool_calibration()
    results["throughput"] = tp_rows
    print(f"\n## build throughput ({small} patients breast; {mamamia} cases lesion; median of 3)")
    print(table(tp_rows, ["task", "workers", "slices", "build_s", "slices_per_s", "parent_rss_mb"]))
    print(f"host: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (other users' processes count)")

    # 1. random-access read rates (LARGE-patient breast file)
    rr = read_rates(work / f"breast_{large}.h5", work / f"seed_{large}", size, work, reads, repeats)
    results["read"] = rr
    print(f"\n## random-access reads, breast file of {large} patients ({rr['slices']} slices; "
          f"median of {repeats})")
    print(table([{"format": "hdf5 (H5SliceDataset)", "slices_per_s": rr["hdf5_slices_per_s"], "mb": rr["hdf5_mb"],
                  "ratio": 1.0},
                 {"format": ".npy per slice", "slices_per_s": rr["npy_slices_per_s"], "mb": rr["npy_mb"],
                  "ratio": rr["npy_slices_per_s"] / rr["hdf5_slices_per_s"]},
                 {"format": "reload NIfTI", "slices_per_s": rr["nifti_slices_per_s"], "mb": rr["nifti_mb"],
                  "ratio": rr["nifti_slices_per_s"] / rr["hdf5_slices_per_s"]}],
                ["format", "slices_per_s", "mb", "ratio"]))
    print(f"HDF5 is {rr['hdf5_vs_nifti']:.0f}x the NIfTI rate and {rr['hdf5_vs_npy']:.2f}x the .npy rate")

    # 4. compression
    if not skip_compression:
        lesion_path = work / "lesion_tp_1.h5"
        rows = compression_table(work / f"breast_{large}.h5", work, reads, repeats)
        rows += compression_table(lesion_path, work, reads, repeats)
        results["compression_table"] = rows
        print("\n## compression (chunk = one slice; random reads of image+mask through H5SliceDataset, "
              "interleaved across files)")
        print(table(rows, ["file", "images", "masks", "file_mb", "vs_none", "images_mb", "masks_mb", "write_s",
                           "read_slices_per_s"]))
    return results


def _lesion_throughput(mamamia_root: Path, work: Path, size: int, workers: int) -> dict:
    r = _child.run_child(HERE, {"task": "lesion", "src": str(mamamia_root),
                                "out": str(work / f"lesion_tp_{workers}.h5"), "size": size, "workers": workers})
    return {"slices": r["n_slices"], "build_s": r["seconds"], "slices_per_s": r["n_slices"] / r["seconds"],
            "parent_rss_mb": r["self_maxrss_mb"]}


if __name__ == "__main__":
    sys.exit(main())
