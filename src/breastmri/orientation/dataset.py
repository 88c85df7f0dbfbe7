"""Orient every seed-layout scan of a dataset (and align every training mask), in parallel (the ``orient``
stage: :mod:`breastmri.stages.orient`).

Outputs (all written atomically, deterministic)::

    <out_dir>/train/scans/<id>.nii.gz       oriented scan (the file's integer type, else float32) in the working
                                            frame, with its affine carried along (or a plain A,L,S affine when
                                            the file's affine is ignored)
    <out_dir>/train/masks/<id>.nii.gz       aligned uint8 mask, same grid
    <out_dir>/inference/scans/<id>.nii.gz   oriented scan (scan-only decisions)
    <record_path>                           per-patient OrientationRecord JSON (+ a .csv table beside it)
    <metrics_path>                          accuracy vs the phantom's truth (only when truth_dir is given)

Each worker process loads one patient, orients it, writes its volumes into a staging folder and returns only
its small record, so memory stays bounded by ``workers`` patients at a time. The QC then looks at every
record: a patient with a problem (an undecidable or contradictory decision, a mask off its scan's body) stops
the stage with one line per patient (``on_failure: error``, nothing is written) or is left out and listed
(``on_failure: exclude``). The staging folder replaces ``out_dir`` only at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from breastmri.data.atomic import atomic_dir, remove_stale_temps
from breastmri.data.errors import DataError
from breastmri.data.io import load_volume, save_nifti, write_json
from breastmri.data.layouts import SeedLayout
from breastmri.orientation.evaluate import evaluate
from breastmri.orientation.orient import AFFINE_MODES, HeuristicSettings, orient_pair, orient_scan
from breastmri.orientation.record import DECISIONS, OrientationRecord, save_records
from breastmri.parallel import ordered_map, worker_pool

SPLITS = ("train", "inference")
RECORD_NAME = "orientation_record.json"
ON_FAILURE = ("error", "exclude")


@dataclass(frozen=True)
class Job:
    split: str
    patient_id: str
    scan: Path
    mask: Path | None
    out_scan: Path
    out_mask: Path | None


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


def _orient_job(job: Job, settings: HeuristicSettings, affine_mode: str) -> OrientationRecord:
    scan = load_volume(job.scan, job.patient_id)
    dtype = _stored_dtype(job.scan)
    if job.mask is None:
        oriented, record = orient_scan(scan, settings, split=job.split, affine_mode=affine_mode)
        save_nifti(oriented.astype(dtype, copy=False), record.oriented_affine(), job.out_scan)
        return record
    mask = load_volume(job.mask, job.patient_id, dtype=np.float32)
    values = np.unique(mask.array)
    if not np.all(np.isin(values, (0.0, 1.0))):
        raise DataError(job.mask, f"mask is not binary: values {values[:6].tolist()}")
    oriented, oriented_mask, record = orient_pair(scan, mask, settings, split=job.split, affine_mode=affine_mode)
    affine = record.oriented_affine()
    save_nifti(oriented.astype(dtype, copy=False), affine, job.out_scan)
    save_nifti(oriented_mask, affine, job.out_mask)
    return record


def _worker(job: Job, settings: HeuristicSettings, affine_mode: str):
    """Pool task: returns ("ok", record) or ("error", path, problem) (DataError does not pickle)."""
    try:
        return ("ok", _orient_job(job, settings, affine_mode))
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


def run_jobs(jobs: list[Job], settings: HeuristicSettings, workers: int = 2, progress: bool = True,
             affine_mode: str = "verify") -> list[OrientationRecord]:
    """Orient all jobs (in ``workers`` processes when > 1, which end with this one however it ends: see
    :func:`~breastmri.parallel.worker_pool`); return the records sorted by (split, id). The first job (in
    order) with bad input stops it: :class:`DataError`."""
    records = []
    with worker_pool(min(workers, len(jobs))) as pool:
        tasks = [(job, settings, affine_mode) for job in jobs]
        for result in ordered_map(_worker, tasks, pool, desc="orient", progress=progress):
            if result[0] == "error":
                raise DataError(result[1], result[2])
            records.append(result[1])
    return sorted(records, key=lambda r: r.patient_id)


def qc_failures(records: list[OrientationRecord]) -> list[str]:
    """One line per file the QC cannot place: ``<file>: <problems>``. A problem of the mask's fit or placement
    (its text starts with ``mask``) names the mask file, every other one the scan file."""
    lines = []
    for r in records:
        by_file: dict[str, list[str]] = {}
        for problem in r.problems:
            source = r.source_mask if problem.startswith("mask") and r.source_mask else r.source_scan
            by_file.setdefault(source or r.patient_id, []).append(problem)
        lines += [f"{source}: {'; '.join(problems)}" for source, problems in by_file.items()]
    return lines


def orient_dataset(seed_root: str | Path, out_dir: str | Path, record_path: str | Path | None = None,
                   metrics_path: str | Path | None = None, truth_dir: str | Path | None = None,
                   workers: int = 2, settings: HeuristicSettings | None = None, progress: bool = True,
                   affine_mode: str = "ignore", on_failure: str = "error") -> dict:
    """Run the stage on a seed-layout dataset; return a small summary dict.

    ``affine_mode`` says how far the files' affines describe the anatomy (docs/orientation.md);
    ``on_failure`` what happens to patients the QC cannot place: ``error`` (a :class:`DataError` listing
    every one of them, nothing written) or ``exclude`` (left out of the outputs, listed in the summary and
    the metrics). ``record_path`` defaults to ``<out_dir>/orientation_record.json``. Accuracy is computed
    only when ``truth_dir`` is given (and not empty).
    """
    if affine_mode not in AFFINE_MODES:
        raise DataError(None, f"affine mode must be one of {', '.join(AFFINE_MODES)}, got {affine_mode!r}")
    if on_failure not in ON_FAILURE:
        raise DataError(None, f"on_failure must be one of {', '.join(ON_FAILURE)}, got {on_failure!r}")
    settings = settings or HeuristicSettings()
    out_dir = Path(out_dir)
    record_path = Path(record_path) if record_path else out_dir / RECORD_NAME
    planned = plan_jobs(seed_root, out_dir)
    remove_stale_temps(out_dir)  # a killed run's staging folder
    with atomic_dir(out_dir) as staging:  # replaces out_dir (a stale record file inside it goes too) on success
        jobs = [Job(j.split, j.patient_id, j.scan, j.mask, *oriented_paths(staging, j.split, j.patient_id))
                for j in planned]
        records = run_jobs(jobs, settings, workers=workers, progress=progress, affine_mode=affine_mode)
        failures = qc_failures(records)
        if failures and on_failure == "error":
            raise DataError(None, f"orientation QC failed for {len(failures)} patient(s) (set orient.on_failure: "
                                  "exclude to leave them out):\n" + "\n".join(f"error: {line}" for line in failures))
        excluded = sorted(r.patient_id for r in records if r.problems)
        for job in jobs:
            if job.patient_id in excluded:
                for path in (job.out_scan, job.out_mask):
                    if path is not None:
                        path.unlink(missing_ok=True)
        kept = [r for r in records if not r.problems]
        # evaluated on the staging folder, so an input error of the truth leaves no output either
        evaluation = evaluate({r.patient_id: r for r in kept}, truth_dir, staging) if truth_dir else None
    excluded_problems = {r.patient_id: list(r.problems) for r in records if r.problems}
    save_records(kept, record_path, settings={**settings.to_dict(), "affine_mode": affine_mode},
                 excluded=excluded_problems)
    summary = {
        "out_dir": str(out_dir), "record_path": str(record_path), "affine_mode": affine_mode,
        "n_patients": {split: sum(r.split == split for r in kept) for split in SPLITS},
        "flipped": {name: sum(bool(getattr(r, name)) for r in kept) for name in DECISIONS},
        "excluded": excluded_problems,
        "metrics": None, "errors": [],
    }
    if evaluation is not None:
        metrics, errors = evaluation
        metrics["excluded"] = summary["excluded"]
        summary.update(metrics=metrics, errors=errors)
        if metrics_path:
            write_json(metrics, metrics_path)
    elif metrics_path:  # real data: no accuracy, but the declared metric file still exists
        write_json({"evaluated": False, "n_patients": summary["n_patients"], "flipped": summary["flipped"],
                    "excluded": summary["excluded"]}, metrics_path)
    return summary
