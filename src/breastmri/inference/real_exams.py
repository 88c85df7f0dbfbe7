"""Real DCE exams without lesion outlines: the lesion pipeline (breast-restricted, as ``infer_lesion``) run on a
MAMA-MIA-layout folder of real cases, judged against each exam's functional tumour volume
(:mod:`breastmri.inference.ftv`) and the breast mask's own plausibility checks.

Nothing here is used for training or for choosing a setting: the stage only reports. When ``real_root`` is empty
or absent (a clone without the shared real exams) it records ``available: false`` and writes nothing else.

Outputs (atomic)::

    <out_dir>/<CASE>_pred.nii.gz, _breast.nii.gz, _tumor.nii.gz   on the _0000 file's grid
    <figures_dir>/<CASE>.png        first post-contrast phase; breast (cyan), lesion (red), FTV (yellow, dashed)
    <metrics_path>                  per case: FTV and predicted volumes, FTV covered, share of the prediction
                                    near the FTV, the tumour candidate's share inside the FTV, breast QC
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from breastmri.analysis.figures import save_figure
from breastmri.data.errors import DataError
from breastmri.data.io import load_volume, write_json
from breastmri.data.layouts import MamaMiaLayout
from breastmri.inference import evaluation as ev
from breastmri.inference.dce import load_phases
from breastmri.inference.figures import DPI, Case, case_overlay
from breastmri.inference.ftv import ftv_agreement, functional_tumour_volume
from breastmri.inference.lesion_cases import BREAST_SUFFIX, PRED_SUFFIX, TUMOR_SUFFIX, infer_lesion_cases
from breastmri.inference.breast_cases import write_table


def evaluate_real(real_root: str | Path | None, out_dir: str | Path, *, tissue_mask_dir: str,
                  metrics_path: str | Path, figures_dir: str | Path | None = None, ftv_enhancement: float = 0.7,
                  near_mm: float = 2.0, progress: bool = True, **lesion_settings) -> dict:
    """Run the lesion pipeline on every case of ``real_root`` (``lesion_settings``: the keyword arguments of
    :func:`~breastmri.inference.lesion_cases.infer_lesion_cases`, i.e. the ``infer_lesion`` section) and score
    it against the FTV; return the metrics (also written to ``metrics_path``, with a .csv table beside)."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)  # declared outputs exist even when there is nothing to do
    if figures_dir:
        Path(figures_dir).mkdir(parents=True, exist_ok=True)
    if not real_root or not Path(real_root).is_dir():  # the declared metric files still exist
        metrics = {"available": False, "real_root": str(real_root or "")}
        write_json(metrics, metrics_path)
        empty = pd.DataFrame(index=pd.Index([], name="case_id"))
        write_table(empty, Path(metrics_path).with_suffix(".csv"))
        return {"metrics": metrics, "per_case": empty}
    if not lesion_settings.get("breast_checkpoint"):
        raise DataError(None, "the real-data report needs the whole-breast model (infer_lesion.breast_checkpoint)")
    for key in ("cases", "h5_path", "metrics_path", "figures_dir", "truth_dir"):
        lesion_settings.pop(key, None)
    layout = MamaMiaLayout(real_root)
    summary = infer_lesion_cases(real_root, out_dir=out_dir, cases="all", progress=progress, **lesion_settings)
    out_dir = Path(out_dir)
    rows = {}
    for case in layout.cases():
        _, _, volumes = load_phases(layout.image_dir / case, [0, 1])
        pre, post = volumes[0], volumes[1]
        if post is None:
            raise DataError(layout.image_dir / case, "no first post-contrast phase (_0001): no FTV")
        tissue_path = Path(real_root) / tissue_mask_dir / f"{case}.nii.gz"
        if not tissue_path.is_file():
            raise DataError(tissue_path, "tissue mask not found (real_data.tissue_mask_dir)")
        tissue = ev.load_truth_mask(tissue_path, pre)
        ftv = functional_tumour_volume(pre.array, post.array, tissue, ftv_enhancement)
        masks = {name: load_volume(out_dir / f"{case}{suffix}", case, dtype=np.uint8).array
                 for name, suffix in (("lesion", PRED_SUFFIX), ("breast", BREAST_SUFFIX), ("tumor", TUMOR_SUFFIX))}
        row = ftv_agreement(masks["lesion"], ftv, pre.spacing, near_mm)
        tumor = masks["tumor"] > 0
        row.update(tumor_in_ftv=float((tumor & (ftv > 0)).sum() / tumor.sum()) if tumor.any() else float("nan"),
                   breast_ml=float(masks["breast"].sum() * np.prod(pre.spacing) / 1000.0),
                   breast_inside_body=float(summary["per_case"].loc[case, "breast_inside_body"]),
                   breast_problems=str(summary["per_case"].loc[case, "breast_problems"]),
                   breast_restricted=bool(summary["per_case"].loc[case, "breast_restricted"]))
        rows[case] = row
        if figures_dir:
            shown = {"FTV covered": row["ftv_covered"], "near FTV": row["pred_near_ftv"]}
            figure = case_overlay(Case(case, post.array, pre.affine, masks["breast"], masks["lesion"], ftv), shown,
                                  focus=True)
            save_figure(figure, Path(figures_dir) / f"{case}.png", DPI)
    per_case = pd.DataFrame.from_dict(rows, orient="index")
    per_case.index.name = "case_id"
    metrics = {"available": True, "real_root": str(real_root), "n_cases": len(rows),
               "ftv_enhancement": float(ftv_enhancement), "near_mm": float(near_mm),
               **{key: ev.summarize(list(per_case[key])) for key in ("ftv_covered", "pred_near_ftv", "tumor_in_ftv")},
               "breast_flagged": int((per_case["breast_problems"] != "").sum()),
               "per_case": rows}
    write_json(metrics, metrics_path)
    write_table(per_case, Path(metrics_path).with_suffix(".csv"))
    return {"metrics": metrics, "per_case": per_case}
