"""Threshold stage: sweep the probability threshold on the validation set, keep the best one.

For each threshold in ``start..stop`` (default 0.05-0.95, step 0.05) the mean per-patient 3D Dice of the
best checkpoint's validation predictions is computed, on one of two scopes (``evaluate_on``):

* ``slices``: the HDF5 file's validation slices (see :mod:`breastmri.training.metrics`; lesion task:
  lesion-containing patients only). For the whole breast these are every slice of each validation patient;
* ``volumes`` (lesion task): each validation case's WHOLE DCE volume (``mamamia_root``), predicted as the lesion
  inference stage does and binarised on the ``_0000`` file's grid, against its expert segmentation. The lesion
  HDF5 holds a balanced sample of slices, mostly near the lesion, where a low threshold costs nothing; on the
  whole volume every other slice can add false positives, so the threshold is chosen where it is used.

Outputs in ``out_dir``:

* ``threshold_curve.csv``: ``threshold,mean_dice`` (a DVC plot, x = threshold, y = mean_dice);
* ``threshold_curve.png``: the curve with the chosen threshold marked;
* ``threshold.json``: the chosen threshold (highest mean Dice; ties go to the one closest to 0.5) and its
  Dice, the Dice at 0.5, the number of patients scored: a DVC metric, read by inference.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from breastmri.data.atomic import write_text_atomic
from breastmri.data.errors import DataError
from breastmri.data.io import write_json
from breastmri.model.unet import build_model
from breastmri.pipeline.params import load_params
from breastmri.training.checkpoint import load_checkpoint
from breastmri.training.distributed import resolve_device
from breastmri.training.metrics import DiceAccumulator

DEFAULTS = dict(start=0.05, stop=0.95, step=0.05, batch_size=16, device="auto", evaluate_on="slices")
PATH_KEYS = ("checkpoint", "h5", "out_dir")


def threshold_grid(start: float = 0.05, stop: float = 0.95, step: float = 0.05) -> tuple[float, ...]:
    """Thresholds ``start, start+step, ..., stop`` rounded to 6 decimals (no float drift)."""
    if not 0.0 < start <= stop < 1.0 or step <= 0:
        raise ValueError(f"need 0 < start <= stop < 1 and step > 0, got {start}, {stop}, {step}")
    n = int(np.floor((stop - start) / step + 1e-9)) + 1
    return tuple(float(round(start + i * step, 6)) for i in range(n))


@torch.no_grad()
def sweep(model: torch.nn.Module, dataset, thresholds, positive_only: bool = False, batch_size: int = 16,
          device: torch.device | str = "cpu", amp: bool = False) -> tuple[list[dict], DiceAccumulator]:
    """Mean per-patient Dice at each threshold: ``[{"threshold", "mean_dice"}, ...]`` and the counts."""
    device = torch.device(device)
    model = model.to(device).eval()
    acc = DiceAccumulator(np.asarray(dataset.patient_ids).astype(str), thresholds)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    for batch in loader:
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp and device.type == "cuda"):
            logits = model(batch["image"].to(device))
        acc.update(torch.sigmoid(logits.float()), batch["mask"], batch["index"])
    means = acc.mean_dice(positive_only=positive_only)
    return [{"threshold": t, "mean_dice": float(d)} for t, d in zip(acc.thresholds, means)], acc


def choose_threshold(curve: list[dict]) -> dict:
    """Row with the highest mean Dice (ties within 1e-9: closest to 0.5, then the lower threshold)."""
    valid = [row for row in curve if np.isfinite(row["mean_dice"])]
    if not valid:
        raise ValueError("no threshold has a finite mean Dice (no patient to score)")
    top = max(row["mean_dice"] for row in valid)
    ties = [row for row in valid if row["mean_dice"] >= top - 1e-9]
    return min(ties, key=lambda row: (abs(row["threshold"] - 0.5), row["threshold"]))


def plot_curve(curve: list[dict], chosen: dict, path: str | Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from breastmri.analysis.figures import save_figure

    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot([r["threshold"] for r in curve], [r["mean_dice"] for r in curve], marker="o", ms=3)
    ax.axvline(chosen["threshold"], color="tab:red", ls="--",
               label=f"chosen {chosen['threshold']:.2f} (Dice {chosen['mean_dice']:.4f})")
    ax.set_xlabel("probability threshold")
    ax.set_ylabel("mean per-patient Dice (validation)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower center")
    fig.tight_layout()
    return save_figure(fig, path)


def volume_sweep(checkpoint, h5, mamamia_root, thresholds, batch_size: int = 16,
                 device: str = "auto") -> tuple[list[dict], int]:
    """Mean per-case Dice at each threshold over the whole volumes of ``h5``'s validation cases (module
    docstring, ``volumes``); returns the curve and the number of cases scored."""
    from breastmri.data.layouts import MamaMiaLayout
    from breastmri.data.overlap import dice
    from breastmri.inference.dce import lesion_probability
    from breastmri.inference.evaluation import load_truth_mask
    from breastmri.inference.lesion_stage import validation_cases
    from breastmri.inference.predictor import load_predictor

    layout = MamaMiaLayout(mamamia_root)
    cases = validation_cases(h5)
    predictor = load_predictor(checkpoint, device=device, batch_size=batch_size, task="lesion", h5_path=h5)
    scores = []
    for case in cases:
        truth_path = layout.lesion_mask(case)
        if not truth_path.is_file():
            raise DataError(truth_path, "validation case without an expert segmentation")
        _, volumes, probability = lesion_probability(predictor, layout.image_dir / case)
        truth = load_truth_mask(truth_path, volumes[0])
        scores.append([dice(probability > t, truth) for t in thresholds])
    means = np.mean(scores, axis=0) if scores else np.full(len(thresholds), np.nan)
    return [{"threshold": t, "mean_dice": float(d)} for t, d in zip(thresholds, means)], len(cases)


def run_threshold(checkpoint, h5, out_dir, start: float = 0.05, stop: float = 0.95, step: float = 0.05,
                  batch_size: int = 16, device: str = "auto", task: str | None = None, evaluate_on: str = "slices",
                  mamamia_root: str | Path | None = None) -> dict:
    """Sweep thresholds for ``checkpoint`` on the validation split of ``h5`` (``evaluate_on``: ``slices`` or,
    for the lesion task, ``volumes`` of ``mamamia_root``); write and return the choice."""
    from breastmri.slices.dataset import H5SliceDataset

    checkpoint, out_dir = Path(checkpoint), Path(out_dir)
    state = load_checkpoint(checkpoint)
    if task is not None and state["task"] != task:
        raise DataError(checkpoint, f"checkpoint is for task {state['task']!r}, not {task!r}")
    task = state["task"]
    thresholds = threshold_grid(start, stop, step)
    if evaluate_on not in ("slices", "volumes"):
        raise DataError(None, f"evaluate_on must be 'slices' or 'volumes', got {evaluate_on!r}")
    if evaluate_on == "volumes":
        if task != "lesion" or not mamamia_root:
            raise DataError(checkpoint, "evaluate_on 'volumes' needs the lesion task and data.mamamia_root")
        curve, n_patients = volume_sweep(checkpoint, h5, mamamia_root, thresholds, batch_size, device)
    else:
        model = build_model(state["model_config"])
        model.load_state_dict(state["model_state"])
        dataset = H5SliceDataset(h5, split="validation")
        if len(dataset) == 0:
            raise DataError(h5, "no validation slices")
        curve, acc = sweep(model, dataset, thresholds, positive_only=task == "lesion", batch_size=batch_size,
                           device=resolve_device(device), amp=bool(state["params"].get("amp", False)))
        n_patients = int(acc.has_target().sum()) if task == "lesion" else len(acc.patients)
    try:
        chosen = choose_threshold(curve)
    except ValueError as exc:
        raise DataError(h5, str(exc)) from exc
    at_half = min(curve, key=lambda r: abs(r["threshold"] - 0.5))
    lines = ["threshold,mean_dice"] + [f"{r['threshold']:.2f},{r['mean_dice']:.6f}" for r in curve]
    write_text_atomic(out_dir / "threshold_curve.csv", "\n".join(lines) + "\n")
    plot_curve(curve, chosen, out_dir / "threshold_curve.png", title=f"{task}: threshold sweep")
    result = {
        "task": task,
        "threshold": chosen["threshold"],
        "mean_dice": chosen["mean_dice"],
        "mean_dice_at_0.5": at_half["mean_dice"],
        "n_patients": n_patients,
        "evaluated_on": evaluate_on,
        "checkpoint_epoch": int(state["epoch"]),
    }
    write_json(result, out_dir / "threshold.json")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("breast", "lesion"), required=True)
    parser.add_argument("--params", type=Path, help="params.yaml: use its section threshold_<task>")
    parser.add_argument("--checkpoint", type=Path, help="best.pt of the training stage")
    parser.add_argument("--h5", type=Path, help="HDF5 slice file with the validation split")
    parser.add_argument("--out-dir", dest="out_dir", type=Path)
    parser.add_argument("--mamamia-root", dest="mamamia_root", type=Path,
                        help="MAMA-MIA layout for --evaluate-on volumes (default: data.mamamia_root of --params)")
    for key, value in DEFAULTS.items():
        parser.add_argument("--" + key.replace("_", "-"), dest=key, type=type(value), default=None)
    args = parser.parse_args(argv)
    values = dict(DEFAULTS)
    try:
        if args.params is not None:
            params = load_params(args.params)
            values["mamamia_root"] = params.get("data", {}).get("mamamia_root")
            section = params.get(f"threshold_{args.task}")
            if not isinstance(section, dict):
                raise DataError(args.params, f"no section 'threshold_{args.task}'")
            section = dict(section)
            section.pop("task", None)
            unknown = sorted(set(section) - set(DEFAULTS) - set(PATH_KEYS) - {"mamamia_root"})
            if unknown:
                raise DataError(args.params, f"unknown threshold parameter(s) {', '.join(unknown)}")
            values.update(section)
        values.update({k: v for k, v in vars(args).items() if k not in ("task", "params") and v is not None})
        missing = [k for k in PATH_KEYS if not values.get(k)]
        if missing:
            print(f"error: missing {', '.join(missing)} (give --params or the options)", file=sys.stderr)
            return 2
        result = run_threshold(task=args.task, **values)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{result['task']}: threshold {result['threshold']:.2f}, mean per-patient Dice {result['mean_dice']:.4f} "
          f"(at 0.5: {result['mean_dice_at_0.5']:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
