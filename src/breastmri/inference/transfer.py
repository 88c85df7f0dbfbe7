"""Transfer: the whole-breast model on held-out phantom cohorts whose contrast / acquisition / anatomy
combinations the training phantom never had, beside the weight-free classical baseline (and, when given, the same
model trained without augmentation).

A fresh phantom is drawn with its own seed (never used to tune anything) and only unlabelled inference scans in
``cohorts`` (``synthesize.seed_cohorts`` syntax; scanner affines, so orientation is not what is tested here; the
``random`` contrast draws every tissue's signal per case). Each model runs through the infer stage's code
(:func:`breastmri.inference.breast_cases.infer_dataset`) and is scored against the phantom truth per cohort.

Outputs: ``figure_path``, one scan per cohort with the model's mask (cyan) and the truth (yellow), and
``metrics_path`` (``reports/metrics/transfer.json``, a per-patient .csv beside it); the drawn phantom and the
predictions are removed afterwards::

    {"seed": .., "cohorts": {..}, "rows": {"model": {cohort: {"dice": {...}, "hd95_mm": {...}}, "all": ...},
                                           "classical": {...}, "baseline": {...} (when baseline_checkpoint)}}
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from breastmri.analysis.figures import save_figure
from breastmri.data.io import load_volume, write_json
from breastmri.inference import evaluation as ev
from breastmri.inference.figures import DPI, Case, prediction_grid
from breastmri.inference.breast_cases import BREAST_SUFFIX, infer_dataset, trusted_hit_rates, write_table
from breastmri.inference.candidates import CandidateRule
from breastmri.inference.features import TRUSTED
from breastmri.orientation.orient import HeuristicSettings
from breastmri.phantom.synthesize import synthesize
from breastmri.phantom.truth import load_seed_truth, truth_file


def _rows(per_patient: pd.DataFrame, prefix: str) -> dict:
    """Dice / HD95 summaries per cohort and over all patients of the ``<prefix>dice`` columns."""
    def scores(group):
        return {"dice": ev.summarize(list(group[f"{prefix}dice"])),
                "hd95_mm": ev.summarize(list(group[f"{prefix}hd95_mm"]))}
    return {**{name: scores(g) for name, g in per_patient.groupby("cohort")}, "all": scores(per_patient)}


def _example_cases(phantom: Path, pred_dir: Path, per_patient: pd.DataFrame) -> list[Case]:
    """The first patient of each cohort, with its predicted mask and truth, for the figure."""
    truth = load_seed_truth(phantom / "truth")
    cases = []
    for _, group in per_patient.groupby("cohort"):
        pid = str(group.index[0])
        scan = load_volume(phantom / "seed" / "inference" / "scans" / f"{pid}.nii.gz", pid)
        breast = load_volume(pred_dir / f"{pid}{BREAST_SUFFIX}", pid, dtype=np.uint8).array
        true = load_volume(truth_file(phantom / "truth", truth[pid]["breast_mask"]), pid, dtype=np.uint8).array
        cases.append(Case(f"{pid} ({group['cohort'].iloc[0]})", scan.array, scan.affine, breast, None, true))
    return cases


def evaluate_transfer(work_dir: str | Path, metrics_path: str | Path, figure_path: str | Path, *, seed: int,
                      n_scans: int, cohorts: dict,
                      scanner_orientations: list[str], oblique_rate: float, duke_matrix: int,
                      checkpoint: str | Path, threshold_json: str | Path | None = None,
                      baseline_checkpoint: str | Path | None = None,
                      baseline_threshold_json: str | Path | None = None, batch_size: int = 16, device: str = "cpu",
                      mirror_tta: bool = False,
                      settings: HeuristicSettings | None = None, rule: CandidateRule,
                      progress: bool = True) -> dict:
    """Draw the held-out phantom under ``work_dir``, score the model(s) and the classical baseline on it, write
    ``metrics_path`` (and a per-patient .csv beside it); return ``{"metrics", "per_patient"}``. ``rule``:
    the tumour candidate's rule and trust test (the ``candidate`` section of params.yaml, as the infer stage uses
    it). ``mirror_tta``: both models' predictions averaged with their left-right mirrored slices' (as ``infer``)."""
    work_dir = Path(work_dir)
    shutil.rmtree(work_dir, ignore_errors=True)  # a killed earlier run's leftovers
    phantom = work_dir / "phantom"
    synthesize(phantom, seed=seed, n_train=0, n_inference=n_scans, n_mamamia=0, scan_swap_rate=0.0,
               scan_flip_ud_rate=0.0, scan_flip_hf_rate=0.0, mask_flip_ud_rate=0.0, mask_flip_lr_rate=0.0,
               scanner_orientations=scanner_orientations, oblique_rate=oblique_rate, duke_matrix=duke_matrix,
               seed_cohorts=cohorts, mamamia_cohorts={})
    models = {"model": (checkpoint, threshold_json),
              **({"baseline": (baseline_checkpoint, baseline_threshold_json)} if baseline_checkpoint else {})}
    rows, tables, thresholds = {}, [], {}
    for name, (ckpt, threshold_path) in models.items():
        summary = infer_dataset(phantom / "seed", ckpt, work_dir / f"pred_{name}",
                                threshold_json=threshold_path or None, truth_dir=phantom / "truth",
                                classical_baseline=name == "model", batch_size=batch_size, device=device,
                                mirror_tta=mirror_tta, affine_mode="trust", n_preview=0, settings=settings,
                                progress=progress, rule=rule)
        per_patient, thresholds[name] = summary["per_patient"], float(summary["threshold"])
        rows[name] = _rows(per_patient.rename(columns={"breast_dice": "dice", "breast_hd95_mm": "hd95_mm"}), "")
        tables.append(per_patient[["cohort", "breast_dice", "breast_hd95_mm"]].add_prefix(f"{name}_"))
        if name == "model":
            rows["classical"] = _rows(per_patient, "classical_")
            candidate = {**{c: trusted_hit_rates(g) for c, g in per_patient.groupby("cohort")},
                         "all": trusted_hit_rates(per_patient)}
            tables.append(per_patient[["classical_dice", "classical_hd95_mm", "tumor_hit", "bulk_ratio", TRUSTED]])
            save_figure(prediction_grid(_example_cases(phantom, work_dir / "pred_model", per_patient)), figure_path,
                        DPI)
    shutil.rmtree(work_dir)
    metrics = {"seed": int(seed), "n_scans": int(n_scans), "cohorts": cohorts, "rows": rows, "candidate": candidate,
               "baseline": ("the same model trained without augmentation, at its own threshold"
                            if baseline_checkpoint else "not run (transfer.baseline_checkpoint is empty)"),
               "threshold": thresholds, "mirror_tta": bool(mirror_tta)}
    table = pd.concat(tables, axis=1).rename(columns={"model_cohort": "cohort"})
    table = table.drop(columns=[c for c in table if c.endswith("_cohort")])
    write_json(metrics, metrics_path)
    write_table(table, Path(metrics_path).with_suffix(".csv"))
    return {"metrics": metrics, "per_patient": table}
