"""One HDF5 slice file per task, streamed patient by patient.

* ``build_breast_h5(oriented_dir, out_path, ...)``: every axial slice of every oriented training scan
  (seed layout ``<oriented_dir>/train/{scans,masks}``) with its breast mask;
* ``build_lesion_h5(mamamia_root, out_path, ...)``: balanced lesion-positive/negative 6-phase slices of
  every MAMA-MIA case.

Workers produce one patient's arrays at a time (:mod:`breastmri.slices.breast`,
:mod:`breastmri.slices.lesion`); this process writes them in patient order (so the file does not
depend on the number of workers) through :class:`~breastmri.slices.writer.H5SliceWriter`. Each build
returns and writes a summary (slice counts, balance, patients per split, the split itself).
The pipeline stage (``breastmri build_hdf5``) is :mod:`breastmri.stages.build_hdf5`.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

from breastmri.data.atomic import remove_stale_temps
from breastmri.data.errors import DataError
from breastmri.data.io import write_json
from breastmri.data.layouts import MAX_PHASES, MamaMiaLayout, SeedLayout
from breastmri.slices import breast, lesion
from breastmri.slices.parallel import ordered_map, worker_pool
from breastmri.slices.selection import balance
from breastmri.slices.split import split_patients, validation_flags
from breastmri.slices.writer import H5SliceWriter


def _split_summary(split: dict, slices_per_patient: dict[str, int]) -> dict:
    return {
        "patients": {name: len(ids) for name, ids in split.items()},
        "slices": {name: int(sum(slices_per_patient.get(p, 0) for p in ids)) for name, ids in split.items()},
        "split": split,
    }


def build_breast_h5(oriented_dir: str | Path, out_path: str | Path, *, size: int = 128,
                    low_pct: float = 1.0, high_pct: float = 99.0, val_fraction: float = 0.2, seed: int = 0,
                    workers: int = 1, image_compression: str = "none",
                    mask_compression: str = "gzip1", summary_path: str | Path | None = None,
                    progress: bool = True) -> dict:
    """Write ``out_path`` (whole-breast task) from the oriented training scans and masks; return the summary."""
    started = time.perf_counter()
    layout = SeedLayout(oriented_dir)
    scans, masks = layout.train_scans(), layout.train_masks()
    missing = sorted(set(scans) - set(masks))
    if missing:
        raise DataError(layout.train_mask_dir, f"no mask for {len(missing)} scan(s): {', '.join(missing[:5])}")
    ids = sorted(scans)
    split = split_patients(ids, val_fraction, seed)
    flags = validation_flags(split)
    params = {"size": size, "low_pct": low_pct, "high_pct": high_pct, "val_fraction": val_fraction,
              "seed": seed, "image_compression": image_compression, "mask_compression": mask_compression,
              "normalization": "volume clip_zscore",
              "source": str(oriented_dir)}
    produce = functools.partial(breast.breast_patient, size=size, low_pct=low_pct, high_pct=high_pct)
    jobs = [(pid, scans[pid], masks[pid]) for pid in ids]
    per_patient: dict[str, int] = {}
    mask_slices = 0
    remove_stale_temps(Path(out_path))
    with worker_pool(workers) as pool, \
            H5SliceWriter(out_path, "breast", size, 1, seed=seed, params=params, split=split,
                          image_compression=image_compression, mask_compression=mask_compression) as writer:
        for batch in ordered_map(produce, jobs, pool, desc="breast slices", progress=progress):
            writer.append(batch, flags[batch.patient_id])
            per_patient[batch.patient_id] = len(batch)
            mask_slices += batch.info["mask_slices"]
        n = writer.n
    summary = {
        "task": "breast",
        "file": str(out_path),
        "n_patients": len(ids),
        "n_slices": n,
        "slices_with_mask": mask_slices,
        "slices_without_mask": n - mask_slices,
        "size": size,
        **_split_summary(split, per_patient),
    }
    _finish(summary, out_path, summary_path, started)
    return summary


def build_lesion_h5(mamamia_root: str | Path, out_path: str | Path, *, size: int = 128,
                    spacing_mm: float = 1.0, min_lesion_px: int = 20, neg_exclusion_slices: int = 5,
                    neg_min_tissue_ratio: float = 0.4, val_fraction: float = 0.2, seed: int = 0,
                    workers: int = 1, image_compression: str = "none",
                    mask_compression: str = "gzip1", summary_path: str | Path | None = None,
                    progress: bool = True) -> dict:
    """Write ``out_path`` (lesion task) from a MAMA-MIA layout; return the summary."""
    started = time.perf_counter()
    layout = MamaMiaLayout(mamamia_root)
    cases = layout.cases()
    jobs = []
    for case in cases:
        mask = layout.lesion_mask(case)
        if not mask.is_file():
            raise DataError(mask, f"lesion segmentation of case {case} is missing")
        jobs.append((case, layout.phase_paths(case), mask))
    split = split_patients(cases, val_fraction, seed)
    flags = validation_flags(split)
    rules = {"min_lesion_px": min_lesion_px, "neg_exclusion_slices": neg_exclusion_slices,
             "neg_min_tissue_ratio": neg_min_tissue_ratio}
    params = {"size": size, "spacing_mm": spacing_mm, **rules, "seed": seed, "val_fraction": val_fraction,
              "image_compression": image_compression, "mask_compression": mask_compression,
              "normalization": "case mean/std over all present phases",
              "source": str(mamamia_root)}
    # pass 1 (pre-contrast phase + mask only): positives and negative candidates of every case
    count = functools.partial(lesion.lesion_candidates, size=size, spacing_mm=spacing_mm, **rules)
    produce = functools.partial(lesion.lesion_slices, size=size, spacing_mm=spacing_mm)
    remove_stale_temps(Path(out_path))
    with worker_pool(workers) as pool:
        candidates = list(ordered_map(count, jobs, pool, desc="lesion candidates", progress=progress))
        chosen = balance(candidates, seed)
        # pass 2: the chosen slices of every case, written as they come
        jobs2 = [(case, phases, mask, chosen[case].indices) for case, phases, mask in jobs]
        with H5SliceWriter(out_path, "lesion", size, MAX_PHASES, seed=seed, params=params, split=split,
                           image_compression=image_compression, mask_compression=mask_compression) as writer:
            for batch in ordered_map(produce, jobs2, pool, desc="lesion slices", progress=progress):
                writer.append(batch, flags[batch.patient_id])
            n = writer.n
    per_case = {}
    for c in candidates:
        sel = chosen[c.case]
        per_case[c.case] = {**c.info, "positive_candidates": len(c.positives),
                            "negative_candidates": len(c.negatives), "positives": len(sel.positives),
                            "negatives": len(sel.negatives)}
    pos = sum(i["positives"] for i in per_case.values())
    neg = sum(i["negatives"] for i in per_case.values())
    summary = {
        "task": "lesion",
        "file": str(out_path),
        "n_patients": len(cases),
        "n_slices": n,
        "positives": pos,
        "negatives": neg,
        "balance_pos_minus_neg": pos - neg,
        "positive_candidates": sum(i["positive_candidates"] for i in per_case.values()),
        "negative_candidates": sum(i["negative_candidates"] for i in per_case.values()),
        "positives_dropped_for_balance": sum(i["positive_candidates"] - i["positives"] for i in per_case.values()),
        "cases_short_of_negatives": sum(1 for i in per_case.values() if i["negative_candidates"] < i["positive_candidates"]),
        "cases_without_positives": sorted(c for c, i in per_case.items() if i["positives"] == 0),
        "cases_with_missing_phases": sum(1 for i in per_case.values() if i["phases_present"] < MAX_PHASES),
        "size": size,
        "per_case": per_case,
        **_split_summary(split, {c: i["positives"] + i["negatives"] for c, i in per_case.items()}),
    }
    _finish(summary, out_path, summary_path, started)
    return summary


def _finish(summary: dict, out_path, summary_path, started: float) -> None:
    summary["file_mb"] = round(Path(out_path).stat().st_size / 2**20, 3)
    if summary_path is not None:
        write_json(summary, summary_path)  # deterministic content: no timings in the metric file
    summary["seconds"] = round(time.perf_counter() - started, 3)
