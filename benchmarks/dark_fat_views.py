"""Breast Dice on sagittal breast-only views with fat near the noise floor, against the same cases with the default
phantom's contrast (the README's "Dark fat" section).

    .venv/bin/python benchmarks/dark_fat_views.py                      # seeds 101, 7, 202; 6 cases each
    .venv/bin/python benchmarks/dark_fat_views.py --checkpoint OTHER.pt --threshold-json OTHER.json

Each seed draws ``n`` cases with :func:`breastmri.phantom.anatomy.make_case`: one breast and a few cm of chest wall in
thick left-right slices (``Style(acquisition="sagittal", bilateral=False, fov="breast")``), the first post-contrast
phase of a 3-phase DCE, stored PIR with an affine that describes the anatomy. Every case is drawn once per contrast
from the same random state (a named contrast draws nothing), so both contrasts show the same anatomy. The breast
model segments the phase as ``breastmri-infer`` does (:func:`breastmri.inference.scan.segment_breast`, affines
trusted); the result is the per-case Dice against the phantom's breast mask, and the share of cases whose mask the
placement QC doubts. Nothing is written.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from breastmri.data.io import Volume
from breastmri.data.overlap import dice
from breastmri.inference.predictor import load_predictor, read_threshold
from breastmri.inference.scan import segment_breast
from breastmri.phantom.anatomy import Style, make_case
from breastmri.phantom.clinical import draw_patients, lesion_for
from breastmri.phantom.storage import scanner_storage

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "models" / "breast" / "best.pt"
THRESHOLD = ROOT / "reports" / "threshold" / "breast" / "threshold.json"


def case_dice(predictor, seed: int, n: int, contrast: str) -> list[dict]:
    """Dice and QC problems of the ``n`` cases of ``seed`` rendered with ``contrast``."""
    rng = np.random.default_rng(seed)
    style = Style(acquisition="sagittal", bilateral=False, fov="breast", contrast=contrast)
    rows = []
    for patient in draw_patients(rng, n):
        case = make_case(rng, lesion_for(rng, patient), n_phases=3, phases=(0, 1), style=style)
        storage = scanner_storage(case.grid.spacing, case.grid.shape, "PIR")
        volume = Volume(storage.store(case.phases[1]).astype(np.float32), storage.affine, f"seed{seed}")
        seg = segment_breast(volume, predictor.predict_breast, predictor.threshold, affine_mode="trust")
        rows.append({"dice": float(dice(seg.breast, storage.store(case.breast_mask))),
                     "doubted": bool(seg.qc["problems"])})
    return rows


def run(checkpoint: str | Path = CHECKPOINT, threshold_json: str | Path | None = THRESHOLD,
        seeds=(101, 7, 202), n: int = 6, contrasts=("dark_fat", "fat_suppressed")) -> dict:
    """``{"checkpoint", "n", "by_contrast": {contrast: {seed: {"dice": [...], "mean", "min", "doubted"}}}}``."""
    threshold = read_threshold(threshold_json) if threshold_json else None
    predictor = load_predictor(checkpoint, device="cpu", threshold=threshold, task="breast")
    by_contrast = {}
    for contrast in contrasts:
        by_contrast[contrast] = {}
        for seed in seeds:
            rows = case_dice(predictor, seed, n, contrast)
            scores = [r["dice"] for r in rows]
            by_contrast[contrast][str(seed)] = {"dice": scores, "mean": float(np.mean(scores)),
                                                "min": float(np.min(scores)),
                                                "doubted": float(np.mean([r["doubted"] for r in rows]))}
    return {"checkpoint": str(checkpoint), "n": n, "by_contrast": by_contrast}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(CHECKPOINT))
    parser.add_argument("--threshold-json", default=str(THRESHOLD))
    parser.add_argument("--seeds", type=int, nargs="+", default=[101, 7, 202])
    parser.add_argument("--n", type=int, default=6)
    args = parser.parse_args()
    result = run(args.checkpoint, args.threshold_json or None, tuple(args.seeds), args.n)
    for contrast, seeds in result["by_contrast"].items():
        for seed, r in seeds.items():
            print(f"{contrast:15s} seed {seed:>4s}: Dice mean {r['mean']:.3f} min {r['min']:.3f}, "
                  f"QC doubts {r['doubted']:.0%}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
