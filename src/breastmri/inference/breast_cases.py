"""Whole-breast inference over the seed layout's unlabelled ``inference/scans`` (the ``infer`` stage:
:mod:`breastmri.stages.infer`).

Per scan (:func:`breastmri.inference.scan.predict_scan`): orient as in training (the orient stage's record
when given, else the same heuristics in process), predict slice by slice with the chosen threshold, undo
resize/pad, keep the largest 3D component (plus components of at least ``min_component_fraction`` of its
size, so both breasts survive; 1.0 = largest only), map back to the stored frame, tumour candidate, features.

Outputs (atomic, deterministic for a given checkpoint and data)::

    <out_dir>/<id>_breast.nii.gz     uint8 breast mask, exactly the scan file's shape and affine
    <out_dir>/<id>_tumor.nii.gz      uint8 tumour candidate, same grid
    <out_dir>/features.csv           one row per patient, indexed by patient_id
    <figures_dir>/prediction_grid.png, <figures_dir>/overlays/<id>.png
    <metrics_path>                   with a truth_dir: Dice / HD95 (mm) / tumour hit, per patient and
                                     summarised (the only step that reads the ground truth); without
                                     one (real data): ``evaluated: false`` and the patient list
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from breastmri.analysis.figures import save_figure
from breastmri.data.atomic import atomic_path
from breastmri.data.errors import DataError
from breastmri.data.io import load_volume, save_nifti, write_json
from breastmri.data.layouts import SeedLayout
from breastmri.inference import evaluation as ev
from breastmri.inference.candidates import CandidateRule
from breastmri.inference.classical import classical_breast_mask
from breastmri.inference.features import TRUSTED, features_table
from breastmri.inference.figures import DPI, Case, case_overlay, prediction_grid
from breastmri.inference.postprocess import DEFAULT_MIN_FRACTION
from breastmri.inference.predictor import load_predictor, read_threshold
from breastmri.inference.scan import predict_scan
from breastmri.orientation.orient import HeuristicSettings
from breastmri.orientation.record import to_oriented_frame, to_original_frame
from breastmri.phantom.truth import load_seed_truth, truth_file

BREAST_SUFFIX, TUMOR_SUFFIX = "_breast.nii.gz", "_tumor.nii.gz"


def prediction_paths(out_dir: str | Path, patient_id: str) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    return out_dir / f"{patient_id}{BREAST_SUFFIX}", out_dir / f"{patient_id}{TUMOR_SUFFIX}"


def remove_stale(out_dir: Path, ids: set[str], suffixes: tuple[str, ...]) -> None:
    """Delete ``<id><suffix>`` files of ``out_dir`` whose id is not in ``ids`` (left by an earlier dataset)."""
    for suffix in suffixes:
        for path in out_dir.glob(f"*{suffix}"):
            if path.name[: -len(suffix)] not in ids:
                path.unlink()


def _load_records(record_path) -> dict | None:
    if not record_path:
        return None
    from breastmri.orientation.record import load_records

    return load_records(record_path)


def write_table(df: pd.DataFrame, path: str | Path, index: bool = True) -> Path:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=index, float_format="%.6g", lineterminator="\n")
    return Path(path)


def infer_dataset(seed_root: str | Path, checkpoint: str | Path, out_dir: str | Path, *,
                  threshold_json: str | Path | None = None, record_path: str | Path | None = None,
                  h5_path: str | Path | None = None, truth_dir: str | Path | None = None,
                  metrics_path: str | Path | None = None, figures_dir: str | Path | None = None,
                  rule: CandidateRule, min_component_fraction: float = DEFAULT_MIN_FRACTION,
                  classical_baseline: bool = True,
                  affine_mode: str = "verify",
                  batch_size: int = 16, device: str = "cpu", mirror_tta: bool = False, n_preview: int = 6,
                  settings: HeuristicSettings | None = None, progress: bool = True) -> dict:
    """Run the stage (see the module docstring); return a summary (and the metrics when evaluated).
    ``affine_mode`` places scans that have no orientation record (``record_path`` empty); ``settings``: the
    anatomy rules (params.yaml ``anatomy``) of that placement, of the breast mask's QC and of the classical
    baseline. ``rule``: the tumour candidate's; an untrusted candidate is warned about, listed, and its features are
    left out of the correlation (:meth:`breastmri.inference.candidates.CandidateRule.check`)."""
    out_dir = Path(out_dir)
    scans = SeedLayout(seed_root).inference_scans()
    threshold = read_threshold(threshold_json) if threshold_json else None
    predictor = load_predictor(checkpoint, device=device, batch_size=batch_size, threshold=threshold,
                               task="breast", h5_path=h5_path, mirror_tta=mirror_tta)
    records = _load_records(record_path)
    not_placed: dict[str, list[str]] = {}
    if records is not None:
        from breastmri.orientation.record import excluded_patients

        not_placed = {pid: p for pid, p in excluded_patients(record_path).items() if pid in scans}
        for pid, problems in not_placed.items():
            print(f"WARNING: {scans[pid]}: not predicted, the orient stage could not place it: "
                  f"{'; '.join(problems)}", file=sys.stderr)
        scans = {pid: path for pid, path in scans.items() if pid not in not_placed}
        missing = sorted(set(scans) - set(records))
        if missing:
            raise DataError(record_path, f"no orientation record for {len(missing)} inference scan(s): "
                                         f"{', '.join(missing[:5])} (re-run the orient stage)")
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale(out_dir, set(scans), (BREAST_SUFFIX, TUMOR_SUFFIX))

    rows: dict[str, dict] = {}
    qc: dict[str, dict] = {}
    candidates: dict[str, dict] = {}
    baseline: dict[str, np.ndarray] = {}  # the weight-free baseline's masks (stored frame), scored beside the model
    preview: list[Case] = []
    for pid in tqdm(sorted(scans), desc="infer", unit="scan", disable=not progress or None):
        volume = load_volume(scans[pid], pid)
        result = predict_scan(volume, predictor.predict_breast, predictor.threshold, rule,
                              record=None if records is None else records[pid], settings=settings,
                              min_component_fraction=min_component_fraction, affine_mode=affine_mode)
        breast_path, tumor_path = prediction_paths(out_dir, pid)
        save_nifti(result.breast, volume.affine, breast_path)
        save_nifti(result.tumor, volume.affine, tumor_path)
        rows[pid] = {**result.features, TRUSTED: result.candidate["trusted"]}
        qc[pid] = result.qc
        candidates[pid] = result.candidate
        if classical_baseline and truth_dir:
            oriented = to_oriented_frame(volume.array, result.record)
            baseline[pid] = to_original_frame(classical_breast_mask(oriented, result.record.working_spacing, settings),
                                              result.record)
        if figures_dir:
            shown = [to_oriented_frame(a, result.record) for a in (volume.array, result.breast, result.tumor)]
            case = Case(pid, shown[0], result.record.oriented_affine(), shown[1], shown[2])
            save_figure(case_overlay(case, focus=True), Path(figures_dir) / "overlays" / f"{pid}.png", DPI)
            if len(preview) < n_preview:
                preview.append(case)
    features = features_table(rows)
    write_table(features, out_dir / "features.csv")
    plausibility = {**qc_summary(qc), "not_placed_by_orient": not_placed,
                    "candidate": candidate_summary(candidates, rule)}
    for pid, problems in plausibility["flagged"].items():
        print(f"WARNING: {scans[pid]}: implausible breast mask: {'; '.join(problems)}", file=sys.stderr)
    for pid in plausibility["candidate"]["untrusted"]:
        print(f"WARNING: {scans[pid]}: {candidates[pid]['problem']}", file=sys.stderr)
    if figures_dir and preview:
        save_figure(prediction_grid(preview), Path(figures_dir) / "prediction_grid.png", DPI)
    summary = {"n_scans": len(scans), "threshold": predictor.threshold, "out_dir": str(out_dir),
               "preprocessing": predictor.preprocessing.__dict__, "device": str(predictor.device),
               "qc": plausibility}
    if truth_dir:
        metrics, per_patient = evaluate_dataset(seed_root, out_dir, truth_dir, sorted(scans), baseline or None)
        per_patient = per_patient.assign(bulk_ratio=[candidates[pid]["bulk_ratio"] for pid in per_patient.index],
                                         **{TRUSTED: [candidates[pid]["trusted"] for pid in per_patient.index]})
        plausibility["candidate"].update(trusted_hit_rates(per_patient))
        metrics.update(threshold=predictor.threshold, mirror_tta=predictor.mirror_tta,
                       tumor_percentile=float(rule.percentile), tumor_core_mm=float(rule.core_mm),
                       skin_margin_mm=float(rule.skin_margin_mm),
                       min_component_fraction=float(min_component_fraction), qc=plausibility)
        if metrics_path:
            write_json(metrics, metrics_path)
            write_table(per_patient, Path(metrics_path).with_suffix(".csv"))
        summary["metrics"] = metrics
        summary["per_patient"] = per_patient
    elif metrics_path:  # real data: nothing to score, but the declared metric files still exist
        write_json({"evaluated": False, "n_patients": len(scans), "threshold": predictor.threshold,
                    "mirror_tta": predictor.mirror_tta, "qc": plausibility}, metrics_path)
        write_table(pd.DataFrame(index=pd.Index(sorted(scans), name="patient_id")),
                    Path(metrics_path).with_suffix(".csv"))
    return summary


def candidate_summary(candidates: dict[str, dict], rule: CandidateRule) -> dict:
    """The tumour candidates' rule and their check: bulk ratio (mean, min, max) and the untrusted patients."""
    return {"rule": rule.describe(), "max_bulk_ratio": float(rule.max_bulk_ratio),
            "bulk_ratio": ev.summarize([c["bulk_ratio"] for c in candidates.values()]),
            "n_untrusted": sum(not c["trusted"] for c in candidates.values()),
            "untrusted": sorted(pid for pid, c in candidates.items() if not c["trusted"])}


def trusted_hit_rates(per_patient: pd.DataFrame) -> dict:
    """Tumour hit rate and count among the trusted and the untrusted candidates (where a truth lesion exists)."""
    out = {}
    if "tumor_hit" not in per_patient:
        return out
    for name, group in per_patient.groupby(per_patient[TRUSTED].map({True: "trusted", False: "untrusted"})):
        hits = group["tumor_hit"].dropna().astype(bool)
        out[f"hit_rate_{name}"] = float(hits.mean()) if len(hits) else float("nan")
        out[f"n_{name}"] = int(len(hits))
    return out


def qc_summary(qc: dict[str, dict]) -> dict:
    """The plausibility checks of every predicted mask (no truth needed): share inside the body and of the body in
    front covered (summaries) and the patients flagged, with their problems."""
    return {"n_flagged": sum(bool(q["problems"]) for q in qc.values()),
            "flagged": {pid: q["problems"] for pid, q in sorted(qc.items()) if q["problems"]},
            **{key: ev.summarize([q[key] for q in qc.values()]) for key in ("inside_body", "front_covered")}}


def evaluate_dataset(seed_root: str | Path, pred_dir: str | Path, truth_dir: str | Path,
                     patient_ids: list[str] | None = None,
                     baseline: dict[str, np.ndarray] | None = None) -> tuple[dict, pd.DataFrame]:
    """Compare written predictions with the phantom truth in each file's ORIGINAL stored frame.

    Returns ``(metrics, per_patient)``: breast Dice (mean, min) and HD95 (mm), tumour hit rate, per
    storage variant too (so a flipped / LPS / transposed file is seen to be handled like the others), and per
    cohort. ``baseline``: the classical baseline's breast masks per patient (stored frame), scored the same way
    (``classical_*`` columns, ``classical`` summary).
    """
    truth = load_seed_truth(truth_dir)
    scans = SeedLayout(seed_root).inference_scans()
    ids = sorted(scans) if patient_ids is None else list(patient_ids)
    rows = {}
    for pid in ids:
        if pid not in truth:
            raise DataError(Path(truth_dir) / "truth.json", f"no ground truth for patient {pid}")
        entry = truth[pid]
        scan = load_volume(scans[pid], pid, dtype=np.float32)
        breast_path, tumor_path = prediction_paths(pred_dir, pid)
        breast = load_volume(breast_path, pid, dtype=np.uint8)
        tumor = load_volume(tumor_path, pid, dtype=np.uint8)
        for pred in (breast, tumor):
            if pred.shape != scan.shape or not np.allclose(pred.affine, scan.affine, atol=1e-5):
                raise DataError(pred.path, f"prediction grid {pred.shape} does not match the scan {scan.shape}")
        truth_breast = load_volume(truth_file(truth_dir, entry["breast_mask"]), pid, dtype=np.uint8)
        lesion_rel = entry.get("lesion_mask")
        truth_lesion = (load_volume(truth_file(truth_dir, lesion_rel), pid, dtype=np.uint8).array
                        if lesion_rel else None)
        if truth_breast.shape != scan.shape:
            raise DataError(truth_breast.path, f"truth shape {truth_breast.shape} differs from the scan's "
                                               f"{scan.shape}")
        row = ev.evaluate_case(breast.array, tumor.array, scan.spacing, truth_breast.array, truth_lesion)
        if baseline is not None:
            row.update({f"classical_{k}": v for k, v in
                        ev.overlap_metrics(baseline[pid], truth_breast.array, scan.spacing).items()})
        row.update(storage=str(entry.get("storage", "diag")), cohort=str(entry.get("cohort", "default")),
                   scan_flip_ud=bool(entry.get("scan_flip_ud")),
                   scan_flip_hf=bool(entry.get("scan_flip_hf")))
        rows[pid] = row
    per_patient = pd.DataFrame.from_dict(rows, orient="index")
    per_patient.index.name = "patient_id"
    metrics = {
        "n_patients": len(rows),
        "breast_dice": ev.summarize(list(per_patient["breast_dice"])),
        "breast_hd95_mm": ev.summarize(list(per_patient["breast_hd95_mm"])),
        "per_patient": rows,
    }
    if "tumor_hit" in per_patient:
        hits = per_patient["tumor_hit"].astype(bool)
        metrics["tumor_hit_rate"] = float(hits.mean())
        metrics["tumor_hits"] = int(hits.sum())
        metrics["tumor_dice"] = ev.summarize(list(per_patient["tumor_dice"]))
    metrics["breast_dice_by_cohort"] = {
        key: ev.summarize(list(group["breast_dice"])) for key, group in per_patient.groupby("cohort")}
    metrics["breast_dice_by_storage"] = {
        key: ev.summarize(list(group["breast_dice"])) for key, group in per_patient.groupby("storage")}
    metrics["tumor_hit_rate_by_cohort"] = {
        key: float(group["tumor_hit"].astype(bool).mean()) for key, group in per_patient.groupby("cohort")
        if "tumor_hit" in group and group["tumor_hit"].notna().all()}
    if baseline is not None:
        metrics["classical"] = {
            "method": "body from an air threshold, chest wall through the outline's anterior concavities, opening "
                      "(breastmri.inference.classical; no weights)",
            "breast_dice": ev.summarize(list(per_patient["classical_dice"])),
            "breast_hd95_mm": ev.summarize(list(per_patient["classical_hd95_mm"])),
            "breast_dice_by_cohort": {key: ev.summarize(list(group["classical_dice"]))
                                      for key, group in per_patient.groupby("cohort")}}
    flipped = per_patient["scan_flip_ud"] | per_patient["scan_flip_hf"]
    metrics["breast_dice_flipped_scans"] = ev.summarize(list(per_patient.loc[flipped, "breast_dice"]))
    return metrics, per_patient
