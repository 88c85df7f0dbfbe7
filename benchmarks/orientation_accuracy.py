"""Orientation accuracy on many generated patients (phantoms with other seeds than the default dataset).

    .venv/bin/python benchmarks/orientation_accuracy.py --n 200            # the acceptance check (>= 98%)
    .venv/bin/python benchmarks/orientation_accuracy.py --n 40 --per-seed 20

Generates ``ceil(n / per_seed)`` phantoms (seeds ``first_seed``, ``first_seed + 1``, ...) into a temporary
folder, runs the orientation stage on each with its truth dir and prints the per-defect accuracy over all
patients, the wrong decisions and the smallest margins. Nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

from breastmri.orientation.record import DECISIONS
from breastmri.orientation.stage import orient_dataset
from breastmri.phantom.synthesize import settings, synthesize

PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"


def run(n: int = 200, per_seed: int = 20, inference_per_seed: int = 4, first_seed: int = 1001,
        workers: int = 2, keep: Path | None = None) -> dict:
    seeds = [first_seed + k for k in range(math.ceil(n / per_seed))]
    totals = {name: {"n": 0, "correct": 0, "planted": 0} for name in DECISIONS}
    errors, dice_min, margins = [], 1.0, {name: math.inf for name in DECISIONS}
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="orient_bench_"))
    started = time.perf_counter()
    remaining = n
    try:
        for seed in seeds:
            count = min(per_seed, remaining)
            remaining -= count
            n_inference = min(inference_per_seed, max(0, count - 1))
            phantom = work / f"phantom_{seed}"
            synthesize(**settings(PARAMS, out_dir=phantom, seed=seed, n_train=count - n_inference,
                                  n_inference=n_inference, n_mamamia=1))
            summary = orient_dataset(phantom / "seed", work / f"oriented_{seed}", truth_dir=phantom / "truth",
                                     workers=workers, progress=False)
            metrics = summary["metrics"]
            for name in DECISIONS:
                for key in totals[name]:
                    totals[name][key] += metrics["counts"][name][key]
                if metrics["min_margin"][name] is not None:
                    margins[name] = min(margins[name], metrics["min_margin"][name])
            errors += [f"seed {seed} {e}" for e in summary["errors"]]
            dice_min = min(dice_min, metrics["mask_dice"]["min"])
            print(f"seed {seed}: {count} patients, accuracy {metrics['accuracy']}, dice min "
                  f"{metrics['mask_dice']['min']}", flush=True)
            if not keep:
                shutil.rmtree(phantom), shutil.rmtree(work / f"oriented_{seed}")
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    result = {
        "n_patients": n, "seeds": seeds,
        "accuracy": {name: round(t["correct"] / t["n"], 6) for name, t in totals.items() if t["n"]},
        "counts": totals, "errors": errors, "mask_dice_min": dice_min,
        "min_margin": {k: (None if v == math.inf else v) for k, v in margins.items()},
        "wall_s": round(time.perf_counter() - started, 1),
    }
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="patients in all (default 200)")
    parser.add_argument("--per-seed", type=int, default=20, help="patients per generated phantom")
    parser.add_argument("--inference-per-seed", type=int, default=4, help="of which inference (scan-only)")
    parser.add_argument("--first-seed", type=int, default=1001)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="keep phantoms and outputs in this folder")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    result = run(args.n, args.per_seed, args.inference_per_seed, args.first_seed, args.workers, args.keep)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    worst = min(result["accuracy"].values())
    return 0 if worst >= 0.98 else 1


if __name__ == "__main__":
    sys.exit(main())
