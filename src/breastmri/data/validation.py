"""Fail-fast validation of the raw datasets, with a deterministic JSON summary (a DVC metric).

Checks (each failure raises :class:`DataError` naming the file and the problem):

* seed layout: the ``train/scans``, ``train/masks`` and ``inference/scans`` folders exist and hold NIfTI
  files; every file reads as a finite 3D volume (:func:`load_volume`); every scan has at least
  :data:`MIN_DIM` voxels per axis and is not constant (no image content); every training scan has a mask and
  every mask a scan (matched by canonical id); a mask has its scan's shape and affine (within
  :data:`AFFINE_ATOL` mm) and only the values 0 and 1; the clinical file has the required columns, valid
  codes and unique ids (:func:`load_clinical`).
* MAMA-MIA layout: every case folder has its pre-contrast phase ``_0000``; all phases present share one
  shape and affine and pass the scan checks above; every case has a lesion segmentation
  (``segmentations/expert/<CASE>.nii.gz``) of the same shape and affine with values 0/1, and every
  segmentation belongs to a case; the clinical table loads.

Imaging and clinical ids need not match one to one: the summary reports how many imaging patients have no
clinical row (``n_imaging_patients_without_clinical`` and their ids) and how many clinical rows have no
imaging (``n_clinical_patients_without_imaging``); neither is an error.

Each volume is read once and dropped before the next one is read. The summary holds counts, shape / spacing /
intensity ranges, mask fractions and clinical missing counts: no timings and no absolute paths, so the same
data gives a byte-identical JSON.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from breastmri.data.errors import DataError
from breastmri.data.io import Volume, load_volume, strip_nifti_suffix, write_json
from breastmri.data.layouts import MamaMiaLayout, SeedLayout, folder_names

AFFINE_ATOL = 1e-3  # mm; NIfTI stores affines as float32
MIN_DIM = 4  # voxels per axis of a scan (the phantom has >= 36; 3D context and orientation need a few slices)
AXES = ("axis0", "axis1", "axis2")
_DIGITS = 6


def _round(value: float) -> float:
    return float(round(float(value), _DIGITS))


class _Stats:
    """Streaming min/max aggregates over volumes (nothing but a few numbers is kept per volume)."""

    def __init__(self):
        self.shapes: list[tuple[int, ...]] = []
        self.spacings: list[tuple[float, ...]] = []
        self.intensity: list[tuple[float, float, float, float]] = []
        self.fractions: list[float] = []

    def add_volume(self, vol: Volume) -> None:
        a = vol.array
        p1, p99 = np.percentile(a, [1, 99])
        self.shapes.append(vol.shape)
        self.spacings.append(vol.spacing)
        self.intensity.append((float(a.min()), float(p1), float(p99), float(a.max())))

    def add_mask(self, mask: np.ndarray) -> None:
        self.fractions.append(float(np.count_nonzero(mask)) / mask.size)

    def summary(self) -> dict:
        out: dict = {}
        if self.shapes:
            shapes, spacings = np.array(self.shapes), np.array(self.spacings)
            out["shape"] = {"min": dict(zip(AXES, map(int, shapes.min(0)))),
                            "max": dict(zip(AXES, map(int, shapes.max(0))))}
            out["spacing_mm"] = {"min": dict(zip(AXES, map(_round, spacings.min(0)))),
                                 "max": dict(zip(AXES, map(_round, spacings.max(0))))}
            inten = np.array(self.intensity)
            out["intensity"] = {
                "min": _round(inten[:, 0].min()),
                "p1": {"min": _round(inten[:, 1].min()), "max": _round(inten[:, 1].max())},
                "p99": {"min": _round(inten[:, 2].min()), "max": _round(inten[:, 2].max())},
                "max": _round(inten[:, 3].max()),
            }
        if self.fractions:
            f = np.array(self.fractions)
            out["mask_fraction"] = {"min": _round(f.min()), "mean": _round(f.mean()), "max": _round(f.max()),
                                    "n_empty": int(np.sum(f == 0))}
        return out


def _check_same_grid(vol: Volume, ref: Volume, what: str) -> None:
    if vol.shape != ref.shape:
        raise DataError(vol.path, f"{what} shape {vol.shape} does not match {ref.path.name} shape {ref.shape}")
    if not np.allclose(vol.affine, ref.affine, rtol=0, atol=AFFINE_ATOL):
        diff = float(np.max(np.abs(vol.affine - ref.affine)))
        raise DataError(vol.path, f"{what} affine differs from {ref.path.name} affine "
                                  f"(max difference {diff:.4g} > {AFFINE_ATOL} mm)")


def check_scan(vol: Volume, what: str) -> None:
    """A scan (or phase) has at least :data:`MIN_DIM` voxels per axis and is not constant."""
    small = [k for k, n in enumerate(vol.shape) if n < MIN_DIM]
    if small:
        raise DataError(vol.path, f"{what} shape {vol.shape} has fewer than {MIN_DIM} voxels along axis "
                                  f"{', '.join(map(str, small))}: too small to be a 3D scan")
    lo, hi = float(vol.array.min()), float(vol.array.max())
    if lo == hi:
        raise DataError(vol.path, f"{what} is constant (value {lo:g}): no image content")


def check_binary(vol: Volume, what: str) -> None:
    """A mask holds only 0 and 1 (the values found otherwise are named)."""
    a = vol.array
    bad = a[(a != 0) & (a != 1)]
    if bad.size:
        values = np.unique(bad)
        shown = ", ".join(f"{v:g}" for v in values[:8]) + (f", ... ({values.size} distinct)"
                                                           if values.size > 8 else "")
        raise DataError(vol.path, f"{what} is not binary: {bad.size} voxels have values other than 0/1 "
                                  f"({shown})")


def _require_root(root: Path, what: str) -> None:
    if not root.exists():
        raise DataError(root, f"{what} folder is missing")
    if not root.is_dir():
        raise DataError(root, f"{what} is not a folder")


def _clinical_summary(path: Path, imaging_ids: list[str]) -> dict:
    """Rows, missing values and how clinical and imaging ids meet (regardless of letter case: :func:`folder_names`)."""
    from breastmri.data.clinical import load_clinical  # pandas: here only, not in the scan checks' imports

    df = load_clinical(path)
    folders = folder_names(df["patient_id"], imaging_ids)
    ids, imaging = {folders.get(i, i) for i in df["patient_id"]}, set(imaging_ids)
    no_clinical = sorted(imaging - ids)
    return {"file": path.name,
            "n_rows": int(len(df)),
            "missing": {c: int(n) for c, n in df.isna().sum().items() if c != "patient_id"},
            "n_imaging_patients_without_clinical": len(no_clinical),
            "imaging_patients_without_clinical": no_clinical,
            "n_clinical_patients_without_imaging": len(ids - imaging)}


def _progress(items, desc: str):
    return tqdm(items, desc=desc, unit="file", leave=False)


def validate_seed_dataset(root: str | Path) -> dict:
    """Validate a seed-layout dataset (see the module docstring); return its summary."""
    root = Path(root)
    _require_root(root, "seed dataset")
    layout = SeedLayout(root)
    scans, masks = layout.train_scans(), layout.train_masks()
    inference = layout.inference_scans()
    for pid, path in scans.items():
        if pid not in masks:
            raise DataError(path, f"training scan has no mask (expected {pid} in {layout.train_mask_dir})")
    for pid, path in masks.items():
        if pid not in scans:
            raise DataError(path, f"mask has no training scan (expected {pid} in {layout.train_scan_dir})")
    both = sorted(set(scans) & set(inference))
    if both:
        raise DataError(inference[both[0]], f"patient(s) {', '.join(both)} are in both train and inference")
    clinical_path = layout.clinical_path  # fail before the slow part when it is missing

    stats = {"train": _Stats(), "inference": _Stats()}
    jobs = [("train", pid) for pid in scans] + [("inference", pid) for pid in inference]
    for split, pid in _progress(jobs, "validate seed"):
        scan = load_volume(scans[pid] if split == "train" else inference[pid], patient_id=pid)
        check_scan(scan, "scan")
        stats[split].add_volume(scan)
        if split == "train":
            mask = load_volume(masks[pid], patient_id=pid)
            _check_same_grid(mask, scan, "mask")
            check_binary(mask, "mask")
            stats[split].add_mask(mask.array)
            del mask
        del scan

    everyone = _Stats()
    for s in stats.values():
        everyone.shapes += s.shapes
        everyone.spacings += s.spacings
        everyone.intensity += s.intensity
    summary = {
        "n_patients": {"train": len(scans), "inference": len(inference), "total": len(scans) + len(inference)},
        "n_files": {"train_scans": len(scans), "train_masks": len(masks), "inference_scans": len(inference)},
        "splits": {split: s.summary() for split, s in stats.items()},
        "clinical": _clinical_summary(clinical_path, sorted(set(scans) | set(inference))),
    }
    summary.update(everyone.summary())
    return summary


def validate_mamamia_dataset(root: str | Path) -> dict:
    """Validate a MAMA-MIA-layout dataset (see the module docstring); return its summary."""
    root = Path(root)
    _require_root(root, "MAMA-MIA dataset")
    layout = MamaMiaLayout(root)
    cases = layout.cases()
    _require_root(layout.segmentation_dir, "MAMA-MIA segmentations")
    segs = sorted(p for p in layout.segmentation_dir.iterdir() if p.name.endswith((".nii.gz", ".nii"))
                  and not p.name.startswith("."))
    if not segs:
        raise DataError(layout.segmentation_dir, "MAMA-MIA segmentations folder holds no .nii/.nii.gz files")
    case_set, seen = set(cases), {}
    for seg in segs:
        name = strip_nifti_suffix(seg.name)
        if name not in case_set:
            raise DataError(seg, f"segmentation has no case folder (expected {layout.image_dir / name})")
        if name in seen:
            raise DataError(seg, f"case {name} has two segmentations ({seen[name].name} and {seg.name}): keep one")
        seen[name] = seg
    phases = {}
    for case in cases:
        phases[case] = layout.phase_paths(case)  # raises when _0000 is missing
        if not layout.lesion_mask(case).is_file():
            raise DataError(layout.lesion_mask(case), f"lesion segmentation is missing for case {case}")
    clinical_path = layout.clinical_path

    images, lesions = _Stats(), _Stats()
    phase_counts: Counter = Counter()
    phase_present: Counter = Counter()  # cases holding phase k
    for case in _progress(cases, "validate mamamia"):
        present = [p for p in phases[case] if p is not None]
        phase_counts[len(present)] += 1
        phase_present.update(k for k, p in enumerate(phases[case]) if p is not None)
        ref = load_volume(present[0], patient_id=case)
        check_scan(ref, "phase")
        images.add_volume(ref)
        for path in present[1:]:
            vol = load_volume(path, patient_id=case)
            _check_same_grid(vol, ref, "phase")
            check_scan(vol, "phase")
            images.add_volume(vol)
            del vol
        seg = load_volume(layout.lesion_mask(case), patient_id=case)
        _check_same_grid(seg, ref, "lesion segmentation")
        check_binary(seg, "lesion segmentation")
        lesions.add_mask(seg.array)
        del seg, ref

    summary = {
        "n_cases": len(cases),
        "n_files": {"phases": int(sum(phase_present.values())), "segmentations": len(segs)},
        "phase_count_histogram": {str(n): int(c) for n, c in sorted(phase_counts.items())},
        "phase_present": {f"{k:04d}": int(phase_present[k]) for k in range(max(phase_present) + 1)},
        "clinical": _clinical_summary(clinical_path, cases),
    }
    summary.update(images.summary())
    summary["lesion_fraction"] = lesions.summary()["mask_fraction"]
    return summary


def run_validation(seed_root: str | Path | None, mamamia_root: str | Path | None,
                   out_json: str | Path) -> dict:
    """Validate both datasets (either may be ``None``/``""`` to skip it) and write the summary JSON.

    Nothing is written when a check fails (the :class:`DataError` propagates).
    """
    summary: dict = {}
    if seed_root:
        summary["seed"] = validate_seed_dataset(seed_root)
    if mamamia_root:
        summary["mamamia"] = validate_mamamia_dataset(mamamia_root)
    if not summary:
        raise DataError(None, "nothing to validate: give a seed root and/or a MAMA-MIA root")
    write_json(summary, out_json)
    return summary


def summary_tables(summary: dict):
    """The summary flattened into one tidy ``DataFrame`` per dataset (``key``, ``value``), for notebooks."""
    import pandas as pd

    def flatten(obj, prefix=""):
        if isinstance(obj, dict):
            for key, value in obj.items():
                yield from flatten(value, f"{prefix}.{key}" if prefix else str(key))
        else:
            yield prefix, obj

    return {name: pd.DataFrame(list(flatten(part)), columns=["key", "value"]).set_index("key")
            for name, part in summary.items()}
