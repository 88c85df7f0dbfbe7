"""The orientation stage: orient every seed-layout scan (and align every training mask), in parallel.

Outputs (all written atomically, deterministic)::

    <out_dir>/train/scans/<id>.nii.gz       oriented scan (the file's integer type, else float32), affine diag(spacing)
    <out_dir>/train/masks/<id>.nii.gz       aligned uint8 mask, same grid
    <out_dir>/inference/scans/<id>.nii.gz   oriented scan (scan-only decisions)
    <record_path>                           per-patient OrientationRecord JSON (+ a .csv table beside it)
    <metrics_path>                          accuracy vs the phantom's truth (only when truth_dir is given)

Each worker process loads one patient, orients it, writes its volumes and returns only its small record,
so memory stays bounded by ``workers`` patients at a time.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from tqdm import tqdm

from breastmri.data.errors import DataError
from breastmri.data.io import load_volume, save_nifti, write_json
from breastmri.data.layouts import SeedLayout
from breastmri.orientation.canonical import canonical_affine
from breastmri.orientation.evaluate import evaluate
from breastmri.orientation.orient import HeuristicSettings, orient_pair, orient_scan
from breastmri.orientation.record import DECISIONS, OrientationRecord, save_records

SPLITS = ("train", "inference")
RECORD_NAME = "orientation_record.json"


@dataclass(frozen=True)
class Job:
    split: str
    patient_id: str
    scan: Path
    mask: Path | None
    out_scan: Path
    out_mask: Path | None


def oriented_affine(record: OrientationRecord) -> np.ndarray:
    """diag(spacing) of the oriented array: the same for every storage variant of the same anatomy."""
    affine = canonical_affine(record.affine, record.stored_shape, record.canonical_ornt)
    return np.diag([*np.linalg.norm(affine[:3, :3], axis=0), 1.0])


def oriented_paths(out_dir: str | Path, split: str, patient_id: str) -> tuple[Path, Path | None]:
    """Where the stage writes a patient's oriented scan and (training only) mask."""
    out_dir = Path(out_dir)
    scan = out_dir / split / "scans" / f"{patient_id}.nii.gz"
    return scan, (out_dir / split / "masks" / f"{patient_id}.nii.gz" if split == "train" else None)


def _stored_dtype(path: Path) -> np.dtype:
    """The scan file's own voxel type when it is a small integer type without intensity scaling (flips keep
    the values exact), else float32: the oriented file is then no bigger than the original."""
    img = nib.load(str(path))
    dtype = np.dtype(img.get_data_dtype())
    slope, inter = getattr(img.dataobj, "slope", 1.0), getattr(img.dataobj, "inter", 0.0)
    unscaled = slope == 1.0 and inter == 0.0
    exact = dtype in (np.dtype(np.int16), np.dtype(np.uint16), np.dtype(np.int8), np.dtype(np.uint8))
    return dtype if exact and unscaled else np.dtype(np.float32)


def _orient_job(job: Job, settings: HeuristicSettings) -> OrientationRecord:
    scan = load_volume(job.scan, job.patient_id)
    dtype = _stored_dtype(job.scan)
    if job.mask is None:
        oriented, record = orient_scan(scan, settings, split=job.split)
        save_nifti(oriented.astype(dtype, copy=False), oriented_affine(record), job.out_scan)
        return record
    mask = load_volume(job.mask, job.patient_id, dtype=np.float32)
    oriented, oriented_mask, record = orient_pair(scan, mask, settings, split=job.split)
    affine = oriented_affine(record)
    save_nifti(oriented.astype(dtype, copy=False), affine, job.out_scan)
    save_nifti(oriented_mask, affine, job.out_mask)
    return record


def _worker(args: tuple[Job, HeuristicSettings]):
    """Process-pool entry: returns ("ok", record) or ("error", path, problem) (DataError does not pickle)."""
    job, settings = args
    try:
        return ("ok", _orient_job(job, settings))
    except DataError as exc:
        return ("error", None if exc.path is None else str(exc.path), exc.problem)


def plan_jobs(seed_root: str | Path, out_dir: str | Path) -> list[Job]:
    """One job per patient (training scans with their masks, then inference scans), checked for pairing."""
    layout = SeedLayout(seed_root)
    scans, masks = layout.train_scans(), layout.train_masks()
    for pid in sorted(set(scans) - set(masks)):
        raise DataError(scans[pid], f"training scan has no mask in {layout.train_mask_dir}")
    for pid in sorted(set(masks) - set(scans)):
        raise DataError(masks[pid], f"training mask has no scan in {layout.train_scan_dir}")
    inference = layout.inference_scans() if layout.inference_scan_dir.exists() else {}
    for pid in sorted(set(inference) & set(scans)):
        raise DataError(inference[pid], f"patient {pid} is both a training and an inference patient")
    jobs = []
    for pid in sorted(scans):
        out_scan, out_mask = oriented_paths(out_dir, "train", pid)
        jobs.append(Job("train", pid, scans[pid], masks[pid], out_scan, out_mask))
    for pid in sorted(inference):
        out_scan, _ = oriented_paths(out_dir, "inference", pid)
        jobs.append(Job("inference", pid, inference[pid], None, out_scan, None))
    return jobs


def run_jobs(jobs: list[Job], settings: HeuristicSettings, workers: int = 2,
             progress: bool = True) -> list[OrientationRecord]:
    """Orient all jobs (in ``workers`` processes when > 1); return the records sorted by (split, id)."""
    tasks = [(job, settings) for job in jobs]
    bar = tqdm(total=len(tasks), desc="orient", unit="patient", **({} if progress else {"disable": True}))
    results = []
    try:
        if workers > 1 and len(tasks) > 1:
            with ProcessPoolExecutor(max_workers=min(workers, len(tasks))) as pool:
                for result in pool.map(_worker, tasks, chunksize=1):
                    results.append(result)
                    bar.update()
        else:
            for task in tasks:
                results.append(_worker(task))
                bar.update()
    finally:
        bar.close()
    for result in results:
        if result[0] == "error":
            raise DataError(result[1], result[2])
    return sorted((r[1] for r in results), key=lambda r: r.patient_id)


def _remove_stale(out_dir: Path, jobs: list[Job]) -> None:
    """Delete oriented volumes left by an earlier run for patients no longer in the dataset."""
    expected = {p for job in jobs for p in (job.out_scan, job.out_mask) if p is not None}
    for split in SPLITS:
        for kind in ("scans", "masks"):
            folder = out_dir / split / kind
            if folder.is_dir():
                for path in folder.glob("*.nii.gz"):
                    if path not in expected:
                        path.unlink()


def orient_dataset(seed_root: str | Path, out_dir: str | Path, record_path: str | Path | None = None,
                   metrics_path: str | Path | None = None, truth_dir: str | Path | None = None,
                   workers: int = 2, settings: HeuristicSettings | None = None, progress: bool = True) -> dict:
    """Run the stage on a seed-layout dataset; return a small summary dict.

    ``record_path`` defaults to ``<out_dir>/orientation_record.json``. The accuracy metrics are computed
    only when ``truth_dir`` is given (and not empty); without truth, ``metrics_path`` (if given) receives
    only the patient and flip counts (``"evaluated": false``).
    """
    settings = settings or HeuristicSettings()
    out_dir = Path(out_dir)
    record_path = Path(record_path) if record_path else out_dir / RECORD_NAME
    jobs = plan_jobs(seed_root, out_dir)
    records = run_jobs(jobs, settings, workers=workers, progress=progress)
    _remove_stale(out_dir, jobs)
    save_records(records, record_path, settings=settings.to_dict())
    summary = {
        "out_dir": str(out_dir), "record_path": str(record_path),
        "n_patients": {split: sum(r.split == split for r in records) for split in SPLITS},
        "flipped": {name: sum(bool(getattr(r, name)) for r in records) for name in DECISIONS},
        "metrics": None, "errors": [],
    }
    if truth_dir:
        metrics, errors = evaluate({r.patient_id: r for r in records}, truth_dir, out_dir)
        summary.update(metrics=metrics, errors=errors)
        if metrics_path:
            write_json(metrics, metrics_path)
    elif metrics_path:  # real data: no accuracy, but the declared metric file still exists
        write_json({"evaluated": False, "n_patients": summary["n_patients"], "flipped": summary["flipped"]},
                   metrics_path)
    return summary


def settings_from_params(values: dict) -> HeuristicSettings:
    """HeuristicSettings from the ``orient`` section keys (missing keys keep their defaults)."""
    fields = ("n_slices", "central_span", "end_fraction", "brightness_percentile", "background_fraction")
    return HeuristicSettings(**{name: values[name] for name in fields if name in values})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Orient seed-layout scans and align masks (orientation stage).")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"),
                        help="read data.seed_root, data.truth_dir and the orient section from this file")
    parser.add_argument("--seed-root", type=Path)
    parser.add_argument("--out-dir", type=Path)
    parser.add_argument("--record", type=Path)
    parser.add_argument("--metrics", type=Path)
    parser.add_argument("--truth-dir", type=str)
    parser.add_argument("--workers", type=int)
    args = parser.parse_args(argv)
    try:
        values: dict = {}
        if args.params.is_file():
            from breastmri.pipeline.params import load_params
            params = load_params(args.params)
            values = {**params.get("data", {}), **params.get("orient", {})}
        seed_root = args.seed_root or values.get("seed_root")
        out_dir = args.out_dir or values.get("out_dir", "data/interim/oriented")
        if not seed_root:
            raise DataError(args.params, "no seed_root (give --seed-root or data.seed_root)")
        truth_dir = args.truth_dir if args.truth_dir is not None else values.get("truth_dir") or None
        summary = orient_dataset(
            seed_root, out_dir, record_path=args.record or values.get("record_path") or None,
            metrics_path=args.metrics or values.get("metrics_path") or None, truth_dir=truth_dir or None,
            workers=args.workers or int(values.get("workers", 2)), settings=settings_from_params(values))
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"oriented {summary['n_patients']} into {summary['out_dir']}; record {summary['record_path']}")
    if summary["metrics"] is not None:
        print(f"accuracy {summary['metrics']['accuracy']}; mask Dice {summary['metrics']['mask_dice']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
