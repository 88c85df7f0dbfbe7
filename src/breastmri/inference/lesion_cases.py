"""Lesion inference: whole DCE volumes of the MAMA-MIA layout through the lesion model (the ``infer_lesion``
stage: :mod:`breastmri.stages.infer_lesion`).

Cases: those the model never trained on (``cases="held_out"``): the official split's test cases when the layout
has ``train_test_splits.csv`` (the lesion build leaves them out of its file), else the lesion HDF5 file's
validation split; or every case of the layout (``cases="all"``). The metrics say which (``case_set``).
Per case (:func:`breastmri.inference.dce.predict_case`): resample to the training grid, predict slice by slice with
the chosen threshold, back onto the ``_0000`` file's grid, keep the large 3D components. With a ``breast_checkpoint``
(the whole-breast model) the lesion is restricted to the breast less ``skin_margin_mm`` of skin and the whole-breast
pipeline's tumour candidate is found there (:class:`breastmri.inference.dce.BreastGuide`). Where the expert
segmentation exists, Dice and HD95 (mm) on the original grid (the whole-volume counterpart of the training stage's
sampled-slice Dice) and the candidate's hit, per case and per cohort (the phantom truth's cohort names, when
``truth_dir`` is given), and the MAMA-MIA challenge's scores (:mod:`breastmri.evaluation.challenge`: its Dice, voxel
HD95 and NormHD per case and cohort; performance, fairness over the clinical table's age and menopause groups, and
ranking over the scored cases).

Outputs (atomic, deterministic for a given checkpoint and data)::

    <out_dir>/<CASE>_pred.nii.gz     uint8 lesion mask, exactly the _0000 file's shape and affine
    <out_dir>/<CASE>_breast.nii.gz   uint8 breast mask and <CASE>_tumor.nii.gz candidate (guided only)
    <figures_dir>/prediction_grid.png, <figures_dir>/overlays/<CASE>.png
    <metrics_path>                   Dice / HD95 summary and per case (.json), the same table as .csv
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from breastmri.analysis.figures import save_figure
from breastmri.data.clinical import load_clinical
from breastmri.data.errors import DataError
from breastmri.data.io import save_nifti, write_json
from breastmri.data.layouts import MamaMiaLayout, folder_names
from breastmri.evaluation import challenge as ch
from breastmri.inference import evaluation as ev
from breastmri.inference.breast_cases import remove_stale, write_table
from breastmri.inference.candidates import core_text
from breastmri.inference.dce import BreastGuide, predict_case, warn_unrestricted
from breastmri.inference.figures import DPI, Case, case_overlay, prediction_grid
from breastmri.inference.postprocess import DEFAULT_MIN_FRACTION
from breastmri.inference.predictor import load_predictor, read_threshold
from breastmri.orientation.orient import HeuristicSettings

PRED_SUFFIX, BREAST_SUFFIX, TUMOR_SUFFIX = "_pred.nii.gz", "_breast.nii.gz", "_tumor.nii.gz"
CASE_SETS = ("held_out", "all")


def select_cases(layout: MamaMiaLayout, cases: str, h5_path: str | Path | None) -> tuple[list[str], str]:
    """Case ids of the layout for ``cases`` and which set they are (``official test``, ``validation`` or
    ``all``; see the module docstring). The validation split needs ``h5_path``; its ids must be the layout's. With
    the official split, a given ``h5_path`` must hold none of its test cases (a file built without the split: the
    model may have trained on them)."""
    from breastmri.slices.h5file import SliceFile

    if cases not in CASE_SETS:
        raise DataError(None, f"cases must be one of {CASE_SETS}, got {cases!r}")
    available = layout.cases()
    if cases == "all":
        return available, "all"
    official = layout.official_split()
    if official is not None:
        test = [case for case in available if official[case] == "test"]
        if not test:
            raise DataError(layout.split_path, "the official split holds no test case")
        recorded = (SliceFile(h5_path, "lesion").split or {}) if h5_path else {}
        trained = sorted(set(test) & {case for part in recorded.values() for case in part})
        if trained:
            raise DataError(h5_path, f"the file holds {len(trained)} official test case(s) ({', '.join(trained[:5])}"
                                     f"): it was built without {layout.split_path.name}; rebuild it")
        return test, "official test"
    if not h5_path:
        raise DataError(None, "cases 'held_out' without an official split needs the lesion HDF5 file (h5_path) that "
                              "records the validation split")
    wanted = SliceFile(h5_path, "lesion").validation_cases()
    missing = sorted(set(wanted) - set(available))
    if missing:
        raise DataError(layout.image_dir, f"validation case(s) not in the layout: {', '.join(missing[:5])}")
    return wanted, "validation"


def case_cohorts(truth_dir: str | Path | None, ids: list[str]) -> dict[str, str]:
    """Cohort name of each case from the phantom truth record (``"all"`` without one, or for unknown cases)."""
    cases = {}
    if truth_dir:
        from breastmri.phantom.truth import load_mamamia_truth

        cases = load_mamamia_truth(truth_dir)
    return {case: str(cases.get(case, {}).get("cohort", "all")) for case in ids}


def breast_guide(checkpoint: str | Path | None, threshold_json: str | Path | None, *, phase: int,
                 skin_margin_mm: float, affine_mode: str, tumor_percentile: float, tumor_core_mm: float,
                 batch_size: int, device: str, mirror_tta: bool = False,
                 settings: HeuristicSettings | None = None) -> BreastGuide | None:
    """The whole-breast model as a :class:`BreastGuide` (``None`` without a checkpoint)."""
    if not checkpoint:
        return None
    threshold = read_threshold(threshold_json) if threshold_json else None
    predictor = load_predictor(checkpoint, device=device, batch_size=batch_size, threshold=threshold, task="breast",
                               mirror_tta=mirror_tta)
    return BreastGuide(predictor, phase=phase, skin_margin_mm=skin_margin_mm, affine_mode=affine_mode,
                       tumor_percentile=tumor_percentile, tumor_core_mm=tumor_core_mm, settings=settings)


def infer_lesion_cases(mamamia_root: str | Path, checkpoint: str | Path, out_dir: str | Path, *,
                       cases: str = "held_out", h5_path: str | Path | None = None,
                       threshold_json: str | Path | None = None, metrics_path: str | Path | None = None,
                       figures_dir: str | Path | None = None, truth_dir: str | Path | None = None,
                       affine_mode: str = "trust", breast_checkpoint: str | Path | None = None,
                       breast_threshold_json: str | Path | None = None, breast_phase: int = 1,
                       breast_mirror_tta: bool = False,
                       skin_margin_mm: float = 3.0, tumor_percentile: float = 98.0, tumor_core_mm: float = 0.0,
                       min_component_fraction: float = DEFAULT_MIN_FRACTION, batch_size: int = 16,
                       device: str = "cpu", mirror_tta: bool = False, n_preview: int = 6,
                       settings: HeuristicSettings | None = None, progress: bool = True) -> dict:
    """Run the stage (see the module docstring); return a summary with the metrics and per-case table.
    ``settings``: the anatomy rules of the breast mask's QC (params.yaml ``anatomy``)."""
    layout, out_dir = MamaMiaLayout(mamamia_root), Path(out_dir)
    ids, case_set = select_cases(layout, cases, h5_path)
    threshold = read_threshold(threshold_json) if threshold_json else None
    predictor = load_predictor(checkpoint, device=device, batch_size=batch_size, threshold=threshold,
                               task="lesion", h5_path=h5_path, mirror_tta=mirror_tta)
    guide = breast_guide(breast_checkpoint, breast_threshold_json, phase=breast_phase, skin_margin_mm=skin_margin_mm,
                         affine_mode=affine_mode, tumor_percentile=tumor_percentile,
                         tumor_core_mm=tumor_core_mm, batch_size=batch_size,
                         device=device, mirror_tta=breast_mirror_tta, settings=settings)
    cohorts = case_cohorts(truth_dir, ids)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale(out_dir, set(ids) if guide else set(), (BREAST_SUFFIX, TUMOR_SUFFIX))
    remove_stale(out_dir, set(ids), (PRED_SUFFIX,))

    rows: dict[str, dict] = {}
    preview: list[Case] = []
    for case in tqdm(ids, desc="infer lesion", unit="case", disable=not progress or None):
        result = predict_case(predictor, layout.image_dir / case, min_component_fraction, guide)
        reference = result.reference
        save_nifti(result.lesion, reference.affine, out_dir / f"{case}{PRED_SUFFIX}")
        row = {"cohort": cohorts[case], "pred_voxels": int(result.lesion.sum())}
        if guide:
            save_nifti(result.breast, reference.affine, out_dir / f"{case}{BREAST_SUFFIX}")
            save_nifti(result.tumor, reference.affine, out_dir / f"{case}{TUMOR_SUFFIX}")
            row.update(tumor_rule=result.tumor_rule, breast_inside_body=result.breast_qc["inside_body"],
                       breast_problems="; ".join(result.breast_qc["problems"]), breast_restricted=result.restricted)
            warn_unrestricted(layout.image_dir / case, result)
        truth_path = layout.lesion_mask(case)
        truth = ev.load_truth_mask(truth_path, reference) if truth_path.is_file() else None
        if truth is not None:
            row.update(lesion_scores(result.lesion, truth, reference.spacing))
            if guide:
                row.update(tumor_hit=ev.hit(result.tumor, truth),
                           truth_in_region=float((truth & result.region).sum() / max(int(truth.sum()), 1)))
        rows[case] = row
        if figures_dir:
            fig_case = Case(case, result.display.array, reference.affine, result.breast, result.lesion, truth)
            shown = {k: row[k] for k in ("dice", "hd95_mm") if k in row}
            save_figure(case_overlay(fig_case, shown or None, focus=True),
                        Path(figures_dir) / "overlays" / f"{case}.png", DPI)
            if len(preview) < n_preview:
                preview.append(fig_case)
    if figures_dir and preview:
        save_figure(prediction_grid(preview, focus=True), Path(figures_dir) / "prediction_grid.png", DPI)

    per_case = pd.DataFrame.from_dict(rows, orient="index")
    per_case.index.name = "case_id"
    metrics = {"n_cases": len(ids), "n_evaluated": int(per_case.get("dice", pd.Series(dtype=float)).notna().sum()),
               "cases": cases, "case_set": case_set, "threshold": predictor.threshold,
               "mirror_tta": predictor.mirror_tta,
               "min_component_fraction": float(min_component_fraction),
               "breast_restricted": guide is not None}
    if guide:
        metrics.update(breast_phase=guide.phase, breast_mirror_tta=guide.predictor.mirror_tta,
                       skin_margin_mm=float(guide.skin_margin_mm),
                       tumor_candidate_rule=candidate_rule_text(guide),
                       breast_flagged=int((per_case["breast_problems"] != "").sum()),
                       breast_unrestricted=int((~per_case["breast_restricted"].astype(bool)).sum()))
    metrics.update(score_groups(per_case))
    if "dice" in per_case:
        metrics["challenge"] = challenge_summary(per_case, layout)
    metrics["per_case"] = rows
    if metrics_path:
        write_json(metrics, metrics_path)
        write_table(per_case, Path(metrics_path).with_suffix(".csv"))
    return {"out_dir": str(out_dir), "device": str(predictor.device), "metrics": metrics, "per_case": per_case}


def lesion_scores(prediction, truth, spacing) -> dict:
    """One case's scores against its expert segmentation (binary masks on one grid, ``spacing`` in mm): Dice and
    HD95 in mm (:func:`breastmri.inference.evaluation.overlap_metrics`), the truth's voxel count and the
    challenge's per-case scores prefixed ``challenge_`` (:func:`breastmri.evaluation.challenge.case_scores`)."""
    return {**ev.overlap_metrics(prediction, truth, spacing), "truth_voxels": int(truth.sum()),
            **{f"challenge_{k}": v for k, v in ch.case_scores(prediction, truth).items()}}


def candidate_rule_text(guide: BreastGuide) -> str:
    """The tumour-candidate rule in words (reported beside the hit rate)."""
    return (f"{core_text(guide.tumor_core_mm)} above the {guide.tumor_percentile:g}th percentile, inside the "
            f"breast less {guide.skin_margin_mm:g} mm where it meets the air, of the enhancement (first "
            "post-contrast minus pre-contrast) when a post-contrast phase exists, else of the pre-contrast intensity")


def score_groups(per_case: pd.DataFrame) -> dict:
    """Dice / HD95 summaries and the candidate hit rate over the scored cases, overall and per cohort."""
    if "dice" not in per_case:
        return {}
    scored = per_case[per_case["dice"].notna()]

    def scores(group: pd.DataFrame) -> dict:
        out = {k: ev.summarize(list(group[k]))
               for k in ("dice", "hd95_mm", "challenge_hd95_voxels", "challenge_norm_hd")}
        if "tumor_hit" in group:
            out.update(tumor_hit_rate=float(group["tumor_hit"].astype(bool).mean()),
                       tumor_hits=int(group["tumor_hit"].astype(bool).sum()))
        return out

    return {**scores(scored), "by_cohort": {name: scores(g) for name, g in scored.groupby("cohort")}}


def challenge_summary(per_case: pd.DataFrame, layout: MamaMiaLayout) -> dict:
    """The challenge's performance, fairness and ranking over the scored cases, the fairness groups from the
    layout's clinical table. A layout without a clinical table has no fairness variable: fairness ``{}`` and
    ranking NaN (said on stderr); a table that cannot be read is an error, as everywhere. The table's ids meet the
    case folders regardless of letter case (:func:`~breastmri.data.layouts.folder_names`)."""
    scored = per_case[per_case["dice"].notna()]
    frame = pd.DataFrame({"dice": scored["challenge_dice"], "norm_hd": scored["challenge_norm_hd"]})
    if not layout.has_clinical:
        print(f"WARNING: {layout.root}: no clinical table: the challenge's fairness and ranking are not computed",
              file=sys.stderr)
        return ch.challenge_scores(frame, pd.DataFrame({"patient_id": list(frame.index)}))
    clinical = load_clinical(layout.clinical_path)
    folders = folder_names(clinical["patient_id"], layout.cases())
    return ch.challenge_scores(frame, clinical.assign(patient_id=[folders.get(i, i) for i in clinical["patient_id"]]))
