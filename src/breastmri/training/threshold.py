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

* ``threshold_curve.csv``: ``threshold,mean_dice,se`` (a DVC plot, x = threshold, y = mean_dice);
* ``threshold_curve.png``: the curve with the chosen threshold marked;
* ``threshold.json``: the chosen threshold and its Dice, the best one and its Dice, the Dice at 0.5, the number
  of patients scored: a DVC metric, read by inference.

Which threshold (``selection``): ``best`` takes the highest mean Dice (ties: closest to 0.5); ``one_se`` (the
one-standard-error rule of model selection, Breiman et al. 1984) takes, among the thresholds whose mean Dice is
within one standard error (of the per-patient Dice at the best threshold) of the best, the one closest to 0.5,
the threshold the model was trained at. With 4-5 validation patients and a flat curve, ``best`` picks noise: on
the default it chose 0.05 on a curve spanning 0.9625-0.9652, and the 40 inference scans lost 0.02 Dice there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from breastmri.data.atomic import write_text_atomic
from breastmri.data.errors import DataError
from breastmri.data.io import write_json
from breastmri.model.unet import build_model
from breastmri.training.checkpoint import load_checkpoint
from breastmri.training.distributed import resolve_device
from breastmri.training.metrics import DiceAccumulator

SELECTIONS = ("best", "one_se")


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
    scores = acc.dice()[acc.has_target()] if positive_only else acc.dice()
    return curve_of(acc.thresholds, scores), acc


def curve_of(thresholds, scores: np.ndarray) -> list[dict]:
    """``[{"threshold", "mean_dice", "se"}, ...]`` from per-patient Dice ``scores`` (patients x thresholds);
    ``se`` is the standard error of the mean (0 with fewer than 2 patients, NaN mean with none)."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1, len(thresholds))
    n = scores.shape[0]
    means = scores.mean(axis=0) if n else np.full(len(thresholds), np.nan)
    ses = scores.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.zeros(len(thresholds))
    return [{"threshold": float(t), "mean_dice": float(d), "se": float(e)} for t, d, e in zip(thresholds, means, ses)]


def choose_threshold(curve: list[dict], selection: str = "one_se") -> dict:
    """The row :data:`SELECTIONS` names (module docstring); ties within 1e-9 go to the threshold closest to 0.5,
    then to the lower one."""
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {', '.join(SELECTIONS)}, got {selection!r}")
    valid = [row for row in curve if np.isfinite(row["mean_dice"])]
    if not valid:
        raise ValueError("no threshold has a finite mean Dice (no patient to score)")

    def nearest_half(rows):
        return min(rows, key=lambda row: (abs(row["threshold"] - 0.5), row["threshold"]))
    top = max(row["mean_dice"] for row in valid)
    best = nearest_half([row for row in valid if row["mean_dice"] >= top - 1e-9])
    if selection == "best":
        return best
    floor = top - best.get("se", 0.0)
    return nearest_half([row for row in valid if row["mean_dice"] >= floor - 1e-9])


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
    from breastmri.inference.predictor import load_predictor
    from breastmri.slices.h5file import SliceFile

    layout = MamaMiaLayout(mamamia_root)
    cases = SliceFile(h5, "lesion").validation_cases()
    predictor = load_predictor(checkpoint, device=device, batch_size=batch_size, task="lesion", h5_path=h5)
    scores = []
    for case in cases:
        truth_path = layout.lesion_mask(case)
        if not truth_path.is_file():
            raise DataError(truth_path, "validation case without an expert segmentation")
        _, volumes, probability = lesion_probability(predictor, layout.image_dir / case)
        truth = load_truth_mask(truth_path, volumes[0])
        scores.append([dice(probability > t, truth) for t in thresholds])
    return curve_of(thresholds, np.asarray(scores)), len(cases)


def run_threshold(checkpoint, h5, out_dir, start: float = 0.05, stop: float = 0.95, step: float = 0.05,
                  batch_size: int = 16, device: str = "auto", task: str | None = None, evaluate_on: str = "slices",
                  mamamia_root: str | Path | None = None, selection: str = "one_se") -> dict:
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
    if selection not in SELECTIONS:
        raise DataError(None, f"selection must be one of {', '.join(SELECTIONS)}, got {selection!r}")
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
        chosen, best = choose_threshold(curve, selection), choose_threshold(curve, "best")
    except ValueError as exc:
        raise DataError(h5, str(exc)) from exc
    at_half = min(curve, key=lambda r: abs(r["threshold"] - 0.5))
    lines = ["threshold,mean_dice,se"] + [f"{r['threshold']:.2f},{r['mean_dice']:.6f},{r['se']:.6f}" for r in curve]
    write_text_atomic(out_dir / "threshold_curve.csv", "\n".join(lines) + "\n")
    plot_curve(curve, chosen, out_dir / "threshold_curve.png", title=f"{task}: threshold sweep")
    result = {
        "task": task,
        "threshold": chosen["threshold"],
        "mean_dice": chosen["mean_dice"],
        "selection": selection,
        "best_threshold": best["threshold"],
        "best_mean_dice": best["mean_dice"],
        "se_at_best": best["se"],
        "mean_dice_at_0.5": at_half["mean_dice"],
        "n_patients": n_patients,
        "evaluated_on": evaluate_on,
        "checkpoint_epoch": int(state["epoch"]),
    }
    write_json(result, out_dir / "threshold.json")
    return result
