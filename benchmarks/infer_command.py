"""The one-case command, ``breastmri-infer --scan``, on a Duke-sized volume (448 x 448 x 155): seconds per call,
this checkout against an earlier commit of the same repository, in one run.

What is timed is the whole command as a user runs it: a fresh Python process, imports, reading the scan,
orientation, prediction, tumour candidate, features and writing the outputs. The scan is a phantom Duke-like
case (``breastmri.phantom``, seed 11, fat-suppressed, scanner affine). The checkpoint is ``--checkpoint``, by
default the trained whole-breast model of ``dvc repro`` (``models/breast/best.pt``), whose breast mask makes the
post-processing, the skin erosion and the tumour candidate work on a breast as they do on a user's scan. Where
it does not exist (a clone without ``dvc repro``), the CPU default U-Net (base 8, depth 4, 128 x 128) with random
weights stands in (the QC warnings it prints are expected): its probabilities are about 0.5 everywhere, the
whole volume becomes the "breast", and the skin erosion is skipped, so that time is not the command's. The
result says which was used.

The baseline is the command of ``--baseline-ref`` (default: the commit before this benchmark was written),
checked out with ``git worktree`` into a temporary folder and run with the same interpreter and packages
(``PYTHONPATH`` pointing at its ``src``). Each is run ``--repeats`` times after one warm-up, alternating, so
machine load hits both alike; the medians and their ratio are printed.

    .venv/bin/python benchmarks/infer_command.py [--repeats 3] [--baseline-ref 3eb289a] [--checkpoint PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _checkout import ROOT, alternating, baseline_sources

BASELINE_REF = "3eb289a"  # main before the import and input-check changes of 2026-12-02
COHORT = {"duke": {"share": 1.0, "affine": "scanner", "contrast": "fat_suppressed", "symmetric": False,
                   "acquisition": "duke"}}


TRAINED = ROOT / "models/breast/best.pt"  # the default model of dvc repro


def make_inputs(work: Path) -> tuple[Path, Path]:
    """A 448-matrix Duke-like phantom scan and a random-weight default checkpoint under ``work``."""
    import torch

    from breastmri.model.unet import UNet
    from breastmri.phantom.synthesize import synthesize
    from breastmri.pipeline.params import load_params
    from breastmri.training.checkpoint import save_checkpoint

    section = load_params(ROOT / "params.yaml")["synthesize"]  # the scanner orientations and oblique share
    synthesize(out_dir=work / "phantom", seed=11, n_train=0, n_inference=1, n_mamamia=0, duke_matrix=448,
               seed_cohorts=COHORT, mamamia_cohorts={}, scan_swap_rate=0.0, scan_flip_ud_rate=0.0,
               scan_flip_hf_rate=0.0, mask_flip_ud_rate=0.0, mask_flip_lr_rate=0.0,
               scanner_orientations=section["scanner_orientations"], oblique_rate=section["oblique_rate"])
    scan = next((work / "phantom/seed/inference/scans").glob("*.nii.gz"))
    torch.manual_seed(0)
    model = UNet(in_channels=1, base=8, depth=4)
    params = {"threshold": 0.5, "task": "breast", "size": 128, "low_pct": 1.0, "high_pct": 99.0, "spacing_mm": 2.0}
    checkpoint = save_checkpoint({"model_state": model.state_dict(), "model_config": model.config, "task": "breast",
                                  "epoch": 1, "params": params}, work / "breast.pt")
    return scan, checkpoint


def timed_call(src: Path, scan: Path, checkpoint: Path, out_dir: Path) -> float:
    """Wall seconds of one ``breastmri-infer --scan`` process run from the package under ``src``."""
    env = {**os.environ, "PYTHONPATH": str(src), "TQDM_DISABLE": "1"}
    cmd = [sys.executable, "-m", "breastmri.inference.command", "--scan", str(scan), "--checkpoint_path",
           str(checkpoint), "--out_dir", str(out_dir), "--device", "cpu"]
    start = time.perf_counter()
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{result.stderr[-2000:]}")
    return seconds


def run(repeats: int = 3, baseline_ref: str = BASELINE_REF, checkpoint: Path | None = None) -> dict:
    """``checkpoint``: a whole-breast checkpoint; None = :data:`TRAINED` where it exists, else random weights."""
    if checkpoint is None and TRAINED.is_file():
        checkpoint = TRAINED
    with tempfile.TemporaryDirectory(prefix="infer-command-") as tmp:
        work = Path(tmp)
        scan, random_weights = make_inputs(work)
        used = "random weights" if checkpoint is None else str(checkpoint)
        checkpoint = random_weights if checkpoint is None else Path(checkpoint)
        with baseline_sources(baseline_ref, work / "baseline") as sources:
            times: dict[str, list[float]] = {name: [] for name in sources}
            for name, src in sources.items():  # warm-up (file cache, bytecode)
                timed_call(src, scan, checkpoint, work / f"out_{name}")
            for name in alternating(sources, repeats):
                times[name].append(timed_call(sources[name], scan, checkpoint, work / f"out_{name}"))
        import nibabel as nib

        shape = list(nib.load(str(scan)).shape)
    current, baseline = statistics.median(times["current"]), statistics.median(times["baseline"])
    return {"shape": shape, "repeats": repeats, "baseline_ref": baseline_ref, "checkpoint": used,
            "cpus": os.cpu_count(),
            "current_s": round(current, 3), "baseline_s": round(baseline, 3),
            "ratio_current_over_baseline": round(current / baseline, 3), "times": times}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-ref", default=BASELINE_REF)
    parser.add_argument("--checkpoint", type=Path, help=f"whole-breast checkpoint (default: {TRAINED.relative_to(ROOT)} "
                                                        "where it exists, else random weights)")
    args = parser.parse_args(argv)
    result = run(args.repeats, args.baseline_ref, args.checkpoint)
    print(json.dumps(result, indent=2))  # benchmarks/run_all.py collects it into reports/benchmarks.*
    return result


if __name__ == "__main__":
    main()
