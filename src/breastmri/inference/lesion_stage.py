"""The lesion inference stage: whole DCE volumes of the MAMA-MIA layout through the lesion model.

Cases: the lesion HDF5 file's validation split (``cases="validation"``: cases the model never trained on) or
every case of the layout (``cases="all"``). Per case (:func:`breastmri.inference.dce.predict_case`): resample to
the training grid, predict slice by slice with the chosen threshold, back onto the ``_0000`` file's grid, keep
the large 3D components. Where the expert segmentation exists, Dice and HD95 (mm) on the original grid: the
whole-volume counterpart of the training stage's sampled-slice Dice.

Outputs (atomic, deterministic for a given checkpoint and data)::

    <out_dir>/<CASE>_pred.nii.gz     uint8 lesion mask, exactly the _0000 file's shape and affine
    <figures_dir>/prediction_grid.png, <figures_dir>/overlays/<CASE>.png
    <metrics_path>                   Dice / HD95 summary and per case (.json), the same table as .csv
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from breastmri.analysis.figures import save_figure
from breastmri.data.errors import DataError
from breastmri.data.io import save_nifti, write_json
from breastmri.data.layouts import MamaMiaLayout
from breastmri.inference import evaluation as ev
from breastmri.inference.dce import predict_case
from breastmri.inference.figures import DPI, Case, case_overlay, prediction_grid
from breastmri.inference.postprocess import DEFAULT_MIN_FRACTION
from breastmri.inference.predictor import load_predictor, read_threshold
from breastmri.inference.stage import remove_stale, write_table

PRED_SUFFIX = "_pred.nii.gz"
CASE_SETS = ("validation", "all")


def validation_cases(h5_path: str | Path) -> list[str]:
    """The validation split recorded in a lesion HDF5 file (``split`` attribute)."""
    import h5py

    h5_path = Path(h5_path)
    if not h5_path.is_file():
        raise DataError(h5_path, "HDF5 slice file not found")
    try:
        with h5py.File(h5_path, "r") as f:
            task, split = str(f.attrs["task"]), json.loads(f.attrs["split"])
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(h5_path, f"cannot read the split attribute: {exc}") from exc
    if task != "lesion":
        raise DataError(h5_path, f"file holds task {task!r}, not 'lesion'")
    return sorted(split["validation"])


def select_cases(layout: MamaMiaLayout, cases: str, h5_path: str | Path | None) -> list[str]:
    """Case ids of the layout for ``cases`` (``validation`` needs ``h5_path``); unknown ids are errors."""
    if cases not in CASE_SETS:
        raise DataError(None, f"cases must be one of {CASE_SETS}, got {cases!r}")
    available = layout.cases()
    if cases == "all":
        return available
    if not h5_path:
        raise DataError(None, "cases 'validation' needs the lesion HDF5 file (h5_path) that records the split")
    wanted = validation_cases(h5_path)
    missing = sorted(set(wanted) - set(available))
    if missing:
        raise DataError(layout.image_dir, f"validation case(s) not in the layout: {', '.join(missing[:5])}")
    return wanted


def infer_lesion_cases(mamamia_root: str | Path, checkpoint: str | Path, out_dir: str | Path, *,
                       cases: str = "validation", h5_path: str | Path | None = None,
                       threshold_json: str | Path | None = None, metrics_path: str | Path | None = None,
                       figures_dir: str | Path | None = None,
                       min_component_fraction: float = DEFAULT_MIN_FRACTION, batch_size: int = 16,
                       device: str = "cpu", mirror_tta: bool = False, n_preview: int = 6,
                       progress: bool = True) -> dict:
    """Run the stage (see the module docstring); return a summary with the metrics and per-case table."""
    layout, out_dir = MamaMiaLayout(mamamia_root), Path(out_dir)
    ids = select_cases(layout, cases, h5_path)
    threshold = read_threshold(threshold_json) if threshold_json else None
    predictor = load_predictor(checkpoint, device=device, batch_size=batch_size, threshold=threshold,
                               task="lesion", h5_path=h5_path, mirror_tta=mirror_tta)
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale(out_dir, set(ids), (PRED_SUFFIX,))

    rows: dict[str, dict] = {}
    preview: list[Case] = []
    for case in tqdm(ids, desc="infer lesion", unit="case", disable=not progress or None):
        result = predict_case(predictor, layout.image_dir / case, min_component_fraction)
        reference = result.reference
        save_nifti(result.lesion, reference.affine, out_dir / f"{case}{PRED_SUFFIX}")
        truth_path = layout.lesion_mask(case)
        truth = ev.load_truth_mask(truth_path, reference) if truth_path.is_file() else None
        row = {"pred_voxels": int(result.lesion.sum())}
        if truth is not None:
            row.update(ev.overlap_metrics(result.lesion, truth, reference.spacing), truth_voxels=int(truth.sum()))
        rows[case] = row
        if figures_dir:
            fig_case = Case(case, result.display.array, reference.affine, None, result.lesion, truth)
            shown = {k: row[k] for k in ("dice", "hd95_mm") if k in row}
            save_figure(case_overlay(fig_case, shown or None, focus=True),
                        Path(figures_dir) / "overlays" / f"{case}.png", DPI)
            if len(preview) < n_preview:
                preview.append(fig_case)
    if figures_dir and preview:
        save_figure(prediction_grid(preview, focus=True), Path(figures_dir) / "prediction_grid.png", DPI)

    per_case = pd.DataFrame.from_dict(rows, orient="index")
    per_case.index.name = "case_id"
    scored = [r for r in rows.values() if "dice" in r]
    metrics = {"n_cases": len(ids), "n_evaluated": len(scored), "cases": cases,
               "threshold": predictor.threshold, "mirror_tta": predictor.mirror_tta,
               "min_component_fraction": float(min_component_fraction)}
    if scored:
        metrics.update({k: ev.summarize([r[k] for r in scored]) for k in ("dice", "hd95_mm")})
    metrics["per_case"] = {case: ev.json_safe(r) for case, r in rows.items()}
    if metrics_path:
        write_json(metrics, metrics_path)
        write_table(per_case, Path(metrics_path).with_suffix(".csv"))
    return {"out_dir": str(out_dir), "device": str(predictor.device), "metrics": metrics, "per_case": per_case}


def main(argv: list[str] | None = None) -> int:
    from breastmri.pipeline.params import call_with_section, load_params

    parser = argparse.ArgumentParser(description="Lesion inference stage over whole MAMA-MIA DCE volumes.")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params)
        summary = call_with_section(infer_lesion_cases, params, "infer_lesion", args.params,
                                    mamamia_root=params.get("data", {})["mamamia_root"])
    except (DataError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    m = summary["metrics"]
    print(f"{m['n_cases']} cases predicted into {summary['out_dir']}"
          + (f"; Dice mean {m['dice']['mean']:.3f}" if "dice" in m else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
