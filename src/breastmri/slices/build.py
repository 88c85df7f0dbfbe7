"""One HDF5 slice file per task, streamed patient by patient.

* ``build_breast_h5(oriented_dir, out_path, ...)``: every axial slice of every oriented training scan
  (seed layout ``<oriented_dir>/train/{scans,masks}``) with its breast mask;
* ``build_lesion_h5(mamamia_root, out_path, phases=..., ...)``: balanced lesion-positive/negative slices of
  every MAMA-MIA case, one channel per DCE phase of ``phases`` (a phase a case lacks is a zero channel; phases
  the list leaves out are ignored and counted). When the layout has the official split
  (``train_test_splits.csv``), its test cases are left out of the file (the held-out test set) and the seeded
  train/validation split is drawn among its train cases; without it, among every case. ``breast_box`` ``crop`` or
  ``mask`` restricts every case to its breast box (``patient_info_files/<CASE>.json``) before the slices are
  made; ``ignore`` reads no box.

Each patient's arrays are produced by :mod:`breastmri.slices.breast` / :mod:`breastmri.slices.lesion` and
written, in patient order, through :class:`~breastmri.slices.writer.H5SliceWriter`. Two ways to run:

* ``workers=1`` and no ``scheduler``: in this process, patient by patient (the reference: simplest path);
* otherwise **distributed** (Dask, :mod:`breastmri.slices.cluster`): every case is an independent task on a
  ``LocalCluster`` of ``workers`` processes or on the cluster at ``scheduler``; each task writes its case's
  **shard** (:mod:`breastmri.slices.shards`, ``<shard_dir>/<task>/<case>.h5``) and a shard already there with the
  same fingerprint (inputs, settings, code) is reused, so an interrupted build resumes where it stopped. The
  lesion build's first pass (candidate counting) caches one small JSON per case alike. Once every shard exists,
  they are merged in patient order through the same writer, so the file is byte-identical to the in-process
  build's. The shard folder is removed after a successful build unless ``keep_shards`` (then a re-run with, e.g.,
  other lesion settings recomputes only the shards whose fingerprint changed).

The merge copies the shards into one file rather than linking them as an HDF5 virtual dataset: the file must be
the in-process build's bytes, a single DVC output that stands alone (a virtual dataset needs its source files
beside it) and read as before by :mod:`breastmri.slices.h5file`; the copy costs one sequential read and write of
the data (``merge_seconds``), small beside the preprocessing.

Each build returns and writes a summary (slice counts, balance, patients per split, the split itself); how it ran
(``executor``, ``cases_computed`` / ``cases_reused`` and, lesion, ``candidates_computed`` / ``candidates_reused``,
``shard_dir``, ``merge_seconds``, ``seconds``) is in the returned summary only, so the metric file does not
depend on it.
The pipeline stage (``breastmri build_hdf5``) is :mod:`breastmri.stages.build_hdf5`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from pathlib import Path

from tqdm import tqdm

from breastmri.data.atomic import remove_stale_temps
from breastmri.data.errors import DataError
from breastmri.data.io import write_json
from breastmri.data.layouts import (BREAST_BOX_MODES, BreastBox, MamaMiaLayout, SeedLayout, channel_entries,
                                   check_channel_phases, ignored_phases)
from breastmri.slices import breast, lesion, shards
from breastmri.parallel import ordered_map, worker_pool
from breastmri.slices.selection import CaseCandidates, balance
from breastmri.slices.split import split_patients, validation_flags
from breastmri.slices.writer import H5SliceWriter, PatientSlices


def _split_summary(split: dict, slices_per_patient: dict[str, int]) -> dict:
    return {
        "patients": {name: len(ids) for name, ids in split.items()},
        "slices": {name: int(sum(slices_per_patient.get(p, 0) for p in ids)) for name, ids in split.items()},
        "split": split,
    }


def build_breast_h5(oriented_dir: str | Path, out_path: str | Path, *, size: int = 128,
                    low_pct: float = 1.0, high_pct: float = 99.0, val_fraction: float = 0.2, seed: int = 0,
                    workers: int = 1, scheduler: str = "", shard_dir: str | Path | None = None,
                    keep_shards: bool = False, image_compression: str = "none",
                    mask_compression: str = "gzip1", summary_path: str | Path | None = None,
                    progress: bool = True) -> dict:
    """Write ``out_path`` (whole-breast task) from the oriented training scans and masks; return the summary.

    ``workers``/``scheduler``/``shard_dir``/``keep_shards``: see the module docstring (``shard_dir`` defaults to
    ``<out_path's folder>/.shards``).
    """
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
    writer = functools.partial(H5SliceWriter, out_path, "breast", size, 1, seed=seed, params=params, split=split,
                               image_compression=image_compression, mask_compression=mask_compression)
    if _in_process(workers, scheduler):
        with worker_pool(1) as pool, writer() as out:
            for batch in ordered_map(produce, jobs, pool, desc="breast slices", progress=progress):
                out.append(batch, flags[batch.patient_id])
                per_patient[batch.patient_id] = len(batch)
                mask_slices += batch.info["mask_slices"]
            n = out.n
        facts = {"executor": "in-process", "cases_computed": len(ids), "cases_reused": 0}
    else:
        store = shards.ShardStore(_shard_root(shard_dir, out_path), "breast")
        store.clean_temps()
        code = shards.code_version()
        settings = {"size": size, "low_pct": low_pct, "high_pct": high_pct}
        fps = {pid: shards.fingerprint("breast slices", pid, [scan, mask], settings, code) for pid, scan, mask in jobs}
        todo = {pid: (str(store.shard(pid).resolve()), fps[pid], code, pid, _absolute(scan), _absolute(mask), settings)
                for pid, scan, mask in jobs if shards.shard_fingerprint(store.shard(pid)) != fps[pid]}
        with contextlib.ExitStack() as stack:
            cluster = _Cluster(stack, workers, scheduler)
            cluster.run(breast_shard_task, todo, len(ids), "breast slices", progress)
        merge_started = time.perf_counter()
        with writer() as out:
            for pid in _bar(ids, "breast merge", progress):
                batch = shards.read_shard(store.shard(pid), fps[pid])
                out.append(batch, flags[pid])
                per_patient[pid] = len(batch)
                mask_slices += batch.info["mask_slices"]
            n = out.n
        _tidy(store, ids, keep_shards)
        facts = {"executor": cluster.executor, "cases_computed": len(todo), "cases_reused": len(ids) - len(todo),
                 "shard_dir": str(store.folder), "merge_seconds": round(time.perf_counter() - merge_started, 3)}
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
    _finish(summary, out_path, summary_path, started, facts)
    return summary


def build_lesion_h5(mamamia_root: str | Path, out_path: str | Path, *, phases: list[int], breast_box: str,
                    size: int = 128,
                    spacing_mm: float = 1.0, min_lesion_px: int = 20, neg_exclusion_slices: int = 5,
                    neg_min_tissue_ratio: float = 0.4, val_fraction: float = 0.2, seed: int = 0,
                    workers: int = 1, scheduler: str = "", shard_dir: str | Path | None = None,
                    keep_shards: bool = False, image_compression: str = "none",
                    mask_compression: str = "gzip1", summary_path: str | Path | None = None,
                    progress: bool = True) -> dict:
    """Write ``out_path`` (lesion task) from a MAMA-MIA layout; return the summary.

    ``phases``: the DCE phase of each input channel, in channel order (pre-contrast phase 0 first).
    ``breast_box``: ``ignore``, or ``crop`` / ``mask`` each case to its breast box (every case needs one).
    ``workers``/``scheduler``/``shard_dir``/``keep_shards``: see the module docstring (``shard_dir`` defaults to
    ``<out_path's folder>/.shards``).
    """
    started = time.perf_counter()
    phases = check_channel_phases(phases, "lesion channels")
    if breast_box not in BREAST_BOX_MODES:
        raise DataError(None, f"breast box mode must be one of {', '.join(BREAST_BOX_MODES)}, got {breast_box!r}")
    layout = MamaMiaLayout(mamamia_root)
    official = layout.official_split()
    test = sorted(case for case, part in (official or {}).items() if part == "test")
    cases = sorted(set(layout.cases()) - set(test))  # the official test cases stay out
    if not cases:
        raise DataError(layout.split_path, "the official split leaves no train case")
    jobs, ignored = [], {}
    for case in cases:
        mask = layout.lesion_mask(case)
        if not mask.is_file():
            raise DataError(mask, f"lesion segmentation of case {case} is missing")
        entries = layout.phase_paths(case)
        ignored[case] = ignored_phases(entries, phases)
        box = None if breast_box == "ignore" else layout.breast_box(case)
        if breast_box != "ignore" and box is None:
            raise DataError(layout.patient_info_dir / f"{case}.json",
                            f"patient info file missing: breast box mode {breast_box!r} needs every case's box")
        jobs.append((case, channel_entries(entries, phases), mask, box))
    split = split_patients(cases, val_fraction, seed)
    flags = validation_flags(split)
    rules = {"min_lesion_px": min_lesion_px, "neg_exclusion_slices": neg_exclusion_slices,
             "neg_min_tissue_ratio": neg_min_tissue_ratio}
    params = {"size": size, "spacing_mm": spacing_mm, **rules, "seed": seed, "val_fraction": val_fraction,
              "image_compression": image_compression, "mask_compression": mask_compression,
              "normalization": "case mean/std over all present phases",
              "source": str(mamamia_root)}
    if phases != list(range(len(phases))):  # phases 0 .. C-1 go unrecorded (writer.py: the files before the list)
        params["phases"] = phases
    if breast_box != "ignore":  # likewise: no box is what the files before the setting hold
        params["breast_box"] = breast_box
    remove_stale_temps(Path(out_path))
    writer = functools.partial(H5SliceWriter, out_path, "lesion", size, len(phases), seed=seed, params=params,
                               split=split, image_compression=image_compression, mask_compression=mask_compression)
    if _in_process(workers, scheduler):
        # pass 1 (pre-contrast phase + mask only): positives and negative candidates of every case
        count = functools.partial(lesion.lesion_candidates, size=size, spacing_mm=spacing_mm, box_mode=breast_box,
                                  **rules)
        produce = functools.partial(lesion.lesion_slices, size=size, spacing_mm=spacing_mm, box_mode=breast_box)
        with worker_pool(1) as pool:
            candidates = list(ordered_map(count, jobs, pool, desc="lesion candidates", progress=progress))
            chosen = balance(candidates, seed)
            # pass 2: the chosen slices of every case, written as they come
            jobs2 = [(case, paths, mask, box, chosen[case].indices) for case, paths, mask, box in jobs]
            with writer() as out:
                for batch in ordered_map(produce, jobs2, pool, desc="lesion slices", progress=progress):
                    out.append(batch, flags[batch.patient_id])
                n = out.n
        facts = {"executor": "in-process", "candidates_computed": len(cases), "candidates_reused": 0,
                 "cases_computed": len(cases), "cases_reused": 0}
    else:
        store = shards.ShardStore(_shard_root(shard_dir, out_path), "lesion")
        store.clean_temps()
        code = shards.code_version()
        count_settings = {"size": size, "spacing_mm": spacing_mm, "box_mode": breast_box, **rules}
        fps1 = {case: shards.fingerprint("lesion candidates", case, [*paths, mask],
                                         {**count_settings, "box": _box_ranges(box)}, code)
                for case, paths, mask, box in jobs}
        cached = {case: shards.read_candidates(store.candidates(case), fps1[case]) for case in cases}
        todo1 = {case: (str(store.candidates(case).resolve()), fps1[case], code, case, _absolute(paths),
                        _absolute(mask), box, count_settings)
                 for case, paths, mask, box in jobs if cached[case] is None}
        with contextlib.ExitStack() as stack:
            cluster = _Cluster(stack, workers, scheduler)
            found = cluster.run(lesion_candidates_task, todo1, len(cases), "lesion candidates", progress)
            candidates = [found[case] if cached[case] is None else cached[case] for case in cases]
            chosen = balance(candidates, seed)
            fps2, todo2 = {}, {}
            for case, paths, mask, box in jobs:
                settings = {"size": size, "spacing_mm": spacing_mm, "box_mode": breast_box,
                            "indices": [int(k) for k in chosen[case].indices]}
                fps2[case] = shards.fingerprint("lesion slices", case, [*paths, mask],
                                                {**settings, "box": _box_ranges(box)}, code)
                if shards.shard_fingerprint(store.shard(case)) != fps2[case]:
                    todo2[case] = (str(store.shard(case).resolve()), fps2[case], code, case, _absolute(paths),
                                   _absolute(mask), box, settings)
            cluster.run(lesion_shard_task, todo2, len(cases), "lesion slices", progress)
        merge_started = time.perf_counter()
        with writer() as out:
            for case in _bar(cases, "lesion merge", progress):
                out.append(shards.read_shard(store.shard(case), fps2[case]), flags[case])
            n = out.n
        _tidy(store, cases, keep_shards)
        facts = {"executor": cluster.executor, "candidates_computed": len(todo1),
                 "candidates_reused": len(cases) - len(todo1), "cases_computed": len(todo2),
                 "cases_reused": len(cases) - len(todo2), "shard_dir": str(store.folder),
                 "merge_seconds": round(time.perf_counter() - merge_started, 3)}
    per_case = {}
    for c in candidates:
        sel = chosen[c.case]
        per_case[c.case] = {**c.info, "phases_ignored": ignored[c.case], "positive_candidates": len(c.positives),
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
        "phases": phases,
        "cases_with_missing_phases": sum(1 for i in per_case.values() if i["phases_present"] < len(phases)),
        "cases_with_ignored_phases": sum(1 for n in ignored.values() if n),
        "size": size,
        "per_case": per_case,
        **_split_summary(split, {c: i["positives"] + i["negatives"] for c, i in per_case.items()}),
        "split_source": "official" if official else "seeded",  # official: train_test_splits.csv's test cases out
        "test_cases": test,
    }
    _finish(summary, out_path, summary_path, started, facts)
    return summary


# ---------------------------------------------------------------- the distributed build's tasks (run on a worker)
def _worker_setup(code: str) -> None:
    """One SimpleITK thread per task (a worker has one thread per core) and the client's code on this worker."""
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    if shards.code_version() != code:
        import socket

        raise RuntimeError(f"the Dask worker on {socket.gethostname()} runs other breastmri code than the client "
                           "(install the same checkout on every worker)")


def breast_shard_task(shard_path: str, fp: str, code: str, patient_id: str, scan_path: str, mask_path: str,
                      settings: dict) -> int:
    """Write the shard of one breast patient; return its slice count."""
    _worker_setup(code)
    batch = breast.breast_patient(patient_id, scan_path, mask_path, **settings)
    shards.write_shard(shard_path, batch, fp)
    return len(batch)


def lesion_candidates_task(json_path: str, fp: str, code: str, case: str, phase_paths: list, mask_path: str,
                           box: BreastBox | None, settings: dict) -> CaseCandidates:
    """Pass 1 of one lesion case: its candidates, also written to ``json_path``."""
    _worker_setup(code)
    found = lesion.lesion_candidates(case, phase_paths, mask_path, box, **settings)
    shards.write_candidates(json_path, found, fp)
    return found


def lesion_shard_task(shard_path: str, fp: str, code: str, case: str, phase_paths: list, mask_path: str,
                      box: BreastBox | None, settings: dict) -> int:
    """Pass 2 of one lesion case: write the shard of its chosen slices; return their count."""
    _worker_setup(code)
    batch: PatientSlices = lesion.lesion_slices(case, phase_paths, mask_path, box, settings["indices"],
                                                size=settings["size"], spacing_mm=settings["spacing_mm"],
                                                box_mode=settings["box_mode"])
    shards.write_shard(shard_path, batch, fp)
    return len(batch)


# ---------------------------------------------------------------- helpers
def _in_process(workers: int, scheduler: str) -> bool:
    return workers <= 1 and not scheduler


def _shard_root(shard_dir, out_path) -> Path:
    return Path(shard_dir) if shard_dir else Path(out_path).parent / ".shards"


def _box_ranges(box: BreastBox | None) -> list | None:
    """What of a breast box makes a shard (its voxel ranges), for the fingerprint."""
    return None if box is None else [list(r) for r in box.ranges]


def _absolute(item):
    """Paths (and DICOM phases' folders) made absolute, since workers may run in another folder; lists alike."""
    if isinstance(item, list):
        return [_absolute(i) for i in item]
    if isinstance(item, (str, Path)):
        return Path(item).resolve()
    if dataclasses.is_dataclass(item) and isinstance(getattr(item, "folder", None), Path):
        return dataclasses.replace(item, folder=item.folder.resolve())
    return item


class _Cluster:
    """The Dask client of one build, started for the first tasks to run: a build whose shards all exist starts none."""

    def __init__(self, stack: contextlib.ExitStack, workers: int, scheduler: str):
        self.stack, self.workers, self.scheduler = stack, workers, scheduler
        self.client = None
        self.executor = "none: every shard reused"

    def run(self, fn, jobs: dict, total: int, desc: str, progress: bool) -> dict:
        from breastmri.slices.cluster import dask_client, run_tasks

        if not jobs:
            return {}
        if self.client is None:
            self.client, self.executor = self.stack.enter_context(dask_client(self.workers, self.scheduler))
        return run_tasks(self.client, fn, jobs, total=total, desc=desc, progress=progress)


def _bar(items: list, desc: str, progress: bool):
    """``items`` with a progress bar (``TQDM_DISABLE=1`` or ``progress=False`` hide it)."""
    return tqdm(items, desc=desc, unit="case", **({} if progress else {"disable": True}))


def _tidy(store: shards.ShardStore, cases: list[str], keep: bool) -> None:
    """After the merge: remove the shard folder, or (``keep``) drop the files of cases no longer in the data."""
    if keep:
        store.prune(cases)
    else:
        store.remove()


def _finish(summary: dict, out_path, summary_path, started: float, facts: dict) -> None:
    summary["file_mb"] = round(Path(out_path).stat().st_size / 2**20, 3)
    if summary_path is not None:
        write_json(summary, summary_path)  # deterministic content: no timings, no executor facts in the metric file
    summary.update(facts)
    summary["seconds"] = round(time.perf_counter() - started, 3)
