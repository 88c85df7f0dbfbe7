"""Training one task's U-Net from its HDF5 slices; checkpoints, dvclive curves, final metrics.

The pipeline stage (``breastmri train --sections train_<task>``) is :mod:`breastmri.stages.train`. Outputs:

* ``<out_dir>/best.pt``: the best epoch's weights (lowest validation loss), ``model_config``, params
  (including ``preprocessing``: the slice size, clip percentiles and grid spacing of the HDF5 file);
* ``<out_dir>/last.pt``: full training state; a rerun with the same params, data and training code resumes
  from it (a finished run only rewrites the metrics; different params, data or code start afresh);
* ``<live_dir>/``: dvclive per-epoch curves (see :mod:`breastmri.training.tracking`);
* ``<metrics>`` (default ``<live_dir>/final_metrics.json``): best epoch, best validation loss, epochs
  run, per-patient 3D validation Dice of the best model (see :mod:`breastmri.training.metrics`).

Multi-GPU / multi-node: ``torchrun --nproc_per_node N -m breastmri.cli train --sections train_<task>``.
"""

from __future__ import annotations

import copy
import hashlib
import math
import sys
from pathlib import Path

import numpy as np

from breastmri.data.errors import DataError
from breastmri.data.io import write_json
from breastmri.model.unet import UNet
from breastmri.slices.h5file import SliceFile
from breastmri.training import augment
from breastmri.training.checkpoint import load_checkpoint
from breastmri.training.distributed import DistContext, init_distributed
from breastmri.training.loop import (FitConfig, Trainer, make_eval_loader, make_train_loader, seed_all,
                                     set_deterministic, validation_summary)
from breastmri.training.losses import make_loss

TASKS = ("breast", "lesion")

# Defaults sized for 2 CPU cores (both tasks train in about 10 minutes on the synthetic default): the
# published network at a quarter of its width (base 8 instead of 64, same depth and layout), lighter dropout
# because an 8-channel stage loses a large share of its features to each dropped channel, and a higher
# learning rate with small batches for few epochs. The published setting is the gpu profile (params.yaml).
COMMON_DEFAULTS = dict(
    base=8, depth=4, dropout=0.05, bottleneck_dropout=0.15, up="transpose",
    lr=3e-3, batch_size=8, max_epochs=15, patience=5, min_delta=0.0, lr_factor=0.5, lr_patience=2,
    min_lr=1e-6, clip_grad_norm=1.0, amp=True, seed=42, device="auto", num_workers=0, preload=True, threshold=0.5,
    augment=augment.DEFAULTS,
)
TASK_DEFAULTS = {
    "breast": dict(loss="dice", optimizer="adam", weight_decay=0.0),
    "lesion": dict(loss="bce_dice", optimizer="adamw", weight_decay=1e-4, max_epochs=12),
}
PATH_KEYS = ("h5", "out_dir", "live_dir", "metrics")
MODEL_KEYS = ("base", "depth", "dropout", "bottleneck_dropout", "up")
FIT_KEYS = ("max_epochs", "patience", "min_delta", "optimizer", "lr", "weight_decay", "lr_factor", "lr_patience",
            "min_lr", "clip_grad_norm", "amp", "seed", "threshold")


def default_params(task: str) -> dict:
    _check_task(task)
    return {**COMMON_DEFAULTS, **TASK_DEFAULTS[task]}


def resolve_params(task: str, overrides: dict, source: str | Path = "train parameters") -> dict:
    """Task defaults updated with ``overrides``; an unknown key is an error naming it."""
    params = copy.deepcopy(default_params(task))
    unknown = sorted(set(overrides) - set(params))
    if unknown:
        raise DataError(source, f"unknown training parameter(s) {', '.join(unknown)} "
                                f"(known: {', '.join(sorted(params))})")
    for key, value in overrides.items():
        default = params[key]
        if key == "augment":
            value = augment.parse_settings(value, source)
        elif isinstance(default, bool):
            value = bool(value)
        elif isinstance(default, int) and not isinstance(value, bool):
            value = int(value)
        elif isinstance(default, float):
            value = float(value)
        params[key] = value
    return params


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def code_sha256() -> str:
    """Digest of the model and training source files: a run resumes only with the code it was started with."""
    import breastmri

    root = Path(breastmri.__file__).parent
    digest = hashlib.sha256()
    for path in sorted([*root.glob("model/*.py"), *root.glob("training/*.py"), root / "slices" / "dataset.py",
                        root / "slices" / "h5file.py"]):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def training_file(h5_path: Path, task: str) -> SliceFile:
    """The slice file of ``task``; it must hold both training and validation slices."""
    source = SliceFile(h5_path, task)
    n_val = int(np.count_nonzero(source.is_validation))
    if n_val == 0 or n_val == source.n:
        raise DataError(h5_path, f"needs both training and validation slices ({source.n - n_val} train, "
                                 f"{n_val} validation)")
    return source


def slice_preprocessing(source: SliceFile) -> dict:
    """What the slices were made with (size, clip percentiles, grid spacing), stored with the checkpoint so
    inference prepares scans the same way without the HDF5 file."""
    from dataclasses import asdict

    from breastmri.inference.predictor import h5_preprocessing

    values = asdict(h5_preprocessing(source))
    return {key: values[key] for key in ("size", "low_pct", "high_pct", "spacing_mm")}


def open_datasets(h5_path: Path, preload: bool = False):
    """Training and validation splits (read into memory once when ``preload``)."""
    from breastmri.slices.dataset import H5SliceDataset
    from breastmri.training.data import InMemorySlices

    splits = H5SliceDataset(h5_path, split="train"), H5SliceDataset(h5_path, split="validation")
    return tuple(InMemorySlices(ds) for ds in splits) if preload else splits


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")


def run_training(h5_path, out_dir, live_dir, task: str, metrics_path=None, *, ctx: DistContext | None = None,
                 validate_fn=None, on_epoch_end=None, **overrides):
    """Train (or resume) one task; returns ``(final metrics dict, FitResult)``. See :func:`train_task`."""
    _check_task(task)
    h5_path, out_dir, live_dir = Path(h5_path), Path(out_dir), Path(live_dir)
    metrics_path = Path(metrics_path) if metrics_path else live_dir / "final_metrics.json"
    params = resolve_params(task, overrides)
    ctx = ctx or init_distributed(params["device"])
    set_deterministic(ctx.device)
    seed_all(params["seed"])
    source = training_file(h5_path, task)
    stored_params = {**params, "task": task, "data_sha256": file_sha256(h5_path), "code_sha256": code_sha256(),
                     "preprocessing": slice_preprocessing(source)}

    model_config = dict(in_channels=source.channels, out_channels=1,
                        **{k: params[k] for k in MODEL_KEYS})
    model = UNet(**model_config)
    train_set, val_set = open_datasets(h5_path, params["preload"])
    train_set = augment.augmented(train_set, params["augment"], params["seed"])
    cfg = FitConfig(**{k: params[k] for k in FIT_KEYS}, positive_only=task == "lesion")
    train_loader = make_train_loader(train_set, params["batch_size"], params["seed"], ctx, params["num_workers"])
    val_loader = make_eval_loader(val_set, params["batch_size"], ctx, params["num_workers"])
    val_ids = np.asarray(val_set.patient_ids).astype(str)
    trainer = Trainer(model, train_loader, val_loader, make_loss(params["loss"]), cfg, ctx, out_dir, task=task,
                      model_config=model_config, params=stored_params, val_patient_ids=val_ids,
                      validate_fn=validate_fn, desc=task)

    last = out_dir / "last.pt"
    if last.exists():
        state = load_checkpoint(last)
        if state["params"] == stored_params and state["task"] == task:
            trainer.load_state_dict(state)
            if ctx.is_main:
                print(f"resuming {task} from {last} after epoch {trainer.epoch}", file=sys.stderr)
        elif ctx.is_main:
            print(f"{last} was written with other parameters or data: training {task} afresh", file=sys.stderr)

    logger = None
    if ctx.is_main:
        from breastmri.training.tracking import LiveLogger

        logger = LiveLogger(live_dir, trainer.history)

    def after_epoch(row: dict) -> None:
        if logger is not None:
            logger.log_epoch(row)
        if on_epoch_end is not None:
            on_epoch_end(row)

    trainer.on_epoch_end = after_epoch
    result = trainer.fit()
    if logger is not None:
        logger.close()

    final = validation_summary(result.model, val_loader, trainer.loss_fn, ctx, val_ids, cfg,
                               desc=f"{task} best model")
    per_patient = final["patient_dice"]
    values = list(per_patient.values())
    metrics = {
        "task": task,
        "best_epoch": result.best_epoch,
        "best_val_loss": result.best_val_loss,
        "epochs_run": result.epochs_run,
        "max_epochs": params["max_epochs"],
        "stopped_early": result.stopped_early,
        "threshold": cfg.threshold,
        "val_loss": final["loss"],
        "val_dice_patient_mean": float(np.mean(values)) if values else math.nan,
        "val_dice_patient_min": float(np.min(values)) if values else math.nan,
        "val_dice_per_patient": per_patient,
        "val_dice_slice_mean": final["dice_slice_mean"],
        "n_val_patients_scored": len(values),
        "n_train_slices": len(train_set),
        "n_val_slices": len(val_set),
        "patient_dice_scope": ("sampled validation slices of lesion-containing patients" if task == "lesion"
                               else "all slices of each validation patient (3D volume)"),
    }
    if ctx.is_main:
        write_json(metrics, metrics_path)
    return metrics, result


def train_task(h5_path, out_dir, live_dir, task: str, metrics_path=None, **params) -> dict:
    """Train one task (``"breast"`` or ``"lesion"``) and return its final metrics.

    Resumes from ``<out_dir>/last.pt`` when it was written with the same parameters and data. Keyword
    ``params`` override :func:`default_params` (unknown names raise :class:`DataError`).
    """
    metrics, _ = run_training(h5_path, out_dir, live_dir, task, metrics_path, **params)
    return metrics
