"""The training stage's own training, a few epochs of it: seconds, this checkout against an earlier commit, in one
run, and whether both end with the same weights.

What is timed is :func:`breastmri.training.train.run_training`, as ``dvc repro`` runs it: the task's
``train_<task>`` section of this checkout's ``params.yaml`` (augmentation included), ``--epochs`` epochs instead
of ``max_epochs``, on the slice file ``dvc repro`` builds (``data/processed/<task>.h5``), in a fresh process per
run, the imports and the notebook not counted. The weights of each run's ``best.pt`` are hashed: a speed-up that
does not touch the arithmetic gives the baseline's digest. A baseline that predates ``train_<task>.threads`` is given
only the keys it knows and trains on all the machine's cores.

The baseline is ``--baseline-ref`` (default: main before the training speed-ups of 2026-12-07), checked out with
``git worktree`` and run with the same interpreter and packages. Each is run ``--repeats`` times, alternating, so
machine load hits both alike; medians and their ratio are printed.

    .venv/bin/python benchmarks/training_epochs.py [--task lesion] [--epochs 2] [--repeats 3] [--baseline-ref 68ad0bd]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from _checkout import ROOT, alternating, baseline_sources

BASELINE_REF = "68ad0bd"  # main before the training speed-ups of 2026-12-07
TASKS = ("breast", "lesion")

CHILD = textwrap.dedent("""
    import hashlib, json, sys, time
    import torch
    from breastmri.pipeline.params import load_params, merged_sections
    from breastmri.stages.train import Config
    from breastmri.training.train import run_training

    params, task, epochs, out = sys.argv[1:5]
    section = merged_sections(load_params(params), [f"train_{task}"], params)
    known = {key: value for key, value in section.items() if key in Config.keys()}  # an older checkout lacks threads
    config = Config.from_mapping(known, params)
    hyperparameters = {**config.hyperparameters(), "max_epochs": int(epochs)}
    start = time.perf_counter()
    run_training(config.h5, f"{out}/models", f"{out}/live", task, f"{out}/metrics.json", **hyperparameters)
    seconds = time.perf_counter() - start
    state = torch.load(f"{out}/models/best.pt", weights_only=False)["model_state"]
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode() + state[name].numpy().tobytes())
    print(json.dumps({"seconds": seconds, "weights_sha256": digest.hexdigest()}))
""")


def timed_training(src: Path, task: str, epochs: int, out: Path) -> dict:
    """``{"seconds", "weights_sha256"}`` of one training run, ``breastmri`` imported from ``src``, in this
    checkout's folder (its params.yaml and slice files)."""
    env = {**os.environ, "PYTHONPATH": str(src), "TQDM_DISABLE": "1"}
    cmd = [sys.executable, "-c", CHILD, str(ROOT / "params.yaml"), task, str(epochs), str(out)]
    result = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"training from {src} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(task: str = "lesion", epochs: int = 2, repeats: int = 3, baseline_ref: str = BASELINE_REF) -> dict:
    h5 = ROOT / "data" / "processed" / f"{task}.h5"
    if not h5.is_file():
        raise SystemExit(f"{h5.relative_to(ROOT)} is missing: run `dvc repro build_hdf5` first")
    with tempfile.TemporaryDirectory(prefix="training-epochs-") as tmp:
        work = Path(tmp)
        with baseline_sources(baseline_ref, work / "baseline") as sources:
            runs: dict[str, list[dict]] = {name: [] for name in sources}
            for i, name in enumerate(alternating(sources, repeats)):
                runs[name].append(timed_training(sources[name], task, epochs, work / f"run{i}"))
    seconds = {name: [r["seconds"] for r in rs] for name, rs in runs.items()}
    digests = {name: sorted({r["weights_sha256"] for r in rs}) for name, rs in runs.items()}
    current, baseline = statistics.median(seconds["current"]), statistics.median(seconds["baseline"])
    return {"task": task, "epochs": epochs, "repeats": repeats, "baseline_ref": baseline_ref, "cpus": os.cpu_count(),
            "current_s": round(current, 2), "baseline_s": round(baseline, 2),
            "ratio_current_over_baseline": round(current / baseline, 3),
            "same_weights": len(digests["current"]) == 1 and digests["current"] == digests["baseline"],
            "seconds": seconds, "weights_sha256": digests}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=TASKS, default="lesion")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-ref", default=BASELINE_REF)
    args = parser.parse_args(argv)
    result = run(args.task, args.epochs, args.repeats, args.baseline_ref)
    print(json.dumps(result, indent=2))  # benchmarks/run_all.py collects it into reports/benchmarks.*
    return result


if __name__ == "__main__":
    main()
