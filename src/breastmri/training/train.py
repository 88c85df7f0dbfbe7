"""Training one task's U-Net from its HDF5 slices; checkpoints, dvclive curves, final metrics.

The pipeline stage (``breastmri train --sections train_<task>``) is :mod:`breastmri.stages.train`. Outputs:

* ``<out_dir>/best.pt``: the best epoch's weights (lowest validation loss), ``model_config``, params
  (including ``preprocessing``: the slice size, clip percentiles, grid spacing and, lesion, the channels' DCE
  phases of the HDF5 file);
* ``<out_dir>/last.pt``: full training state; a rerun with the same params, data and training code resumes
  from it (a finished run only rewrites the metrics; different params, data or code start afresh);
* ``<live_dir>/``: dvclive per-epoch curves (see :mod:`breastmri.training.tracking`);
* ``<metrics>`` (default ``<live_dir>/final_metrics.json``): best epoch, best validation loss, epochs
  run, per-patient 3D validation Dice of the best model (see :mod:`breastmri.training.metrics`).

Multi-GPU / multi-node: ``torchrun --nproc_per_node N -m breastmri.cli train --sections train_<task>``.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np

from breastmri.data.errors import DataError
from breastmri.data.io import write_json
from breastmri.model.unet import UP_MODES, UNet
from breastmri.slices.h5file import SliceFile
from breastmri.training import augment
from breastmri.training.checkpoint import load_checkpoint
from breastmri.training.distributed import DistContext, init_distributed
from breastmri.training.loop import (OPTIMIZERS, FitConfig, Trainer, keep_freed_memory, make_eval_loader,
                                     make_train_loader, seed_all, set_deterministic, torch_threads,
                                     validation_summary)
from breastmri.training.losses import LOSSES, make_loss

TASKS = ("breast", "lesion")

# Every hyperparameter of a run and its kind, in the order the resolved params (and so the checkpoints' 'params')
# hold them. There are no defaults: the values are the task's params.yaml section (breastmri.stages.train.Config,
# whose keys are these plus the paths), the only place a training setting lives.
HYPERPARAMETER_KINDS = {
    "base": int, "depth": int, "dropout": float, "bottleneck_dropout": float, "up": str,
    "lr": float, "batch_size": int, "max_epochs": int, "patience": int, "min_delta": float, "lr_factor": float,
    "lr_patience": int, "min_lr": float, "clip_grad_norm": float, "amp": bool, "seed": int, "device": str,
    "num_workers": int, "threads": int, "preload": bool, "threshold": float, "augment": dict,
    "loss": str, "optimizer": str, "weight_decay": float,
}
HYPERPARAMETER_KEYS = tuple(HYPERPARAMETER_KINDS)
MODEL_KEYS = ("base", "depth", "dropout", "bottleneck_dropout", "up")
FIT_KEYS = ("max_epochs", "patience", "min_delta", "optimizer", "lr", "weight_decay", "lr_factor", "lr_patience",
            "min_lr", "clip_grad_norm", "amp", "seed", "threshold")
OTHER_KEYS = ("loss", "batch_size", "device", "num_workers", "threads", "preload", "augment")  # data, loss, placement
CHOICES = {"up": UP_MODES, "loss": tuple(LOSSES), "optimizer": OPTIMIZERS}


def check_hyperparameters(values: dict, source: str | Path = "train parameters") -> dict:
    """``values`` (exactly :data:`HYPERPARAMETER_KEYS`) as the run uses and stores them, in that order: bools,
    ints and floats coerced to their kind, ``augment`` parsed by :func:`augment.parse_settings` (``False``: every
    transform off). A missing or unknown key, or a value outside :data:`CHOICES`, is an error naming it."""
    missing = [key for key in HYPERPARAMETER_KEYS if key not in values]
    unknown = sorted(set(values) - set(HYPERPARAMETER_KEYS))
    if missing or unknown:
        problems = ([f"missing training parameter(s) {', '.join(missing)}"] if missing else []) + (
            [f"unknown training parameter(s) {', '.join(unknown)}"] if unknown else [])
        raise DataError(source, f"{'; '.join(problems)} (required: {', '.join(HYPERPARAMETER_KEYS)})")
    params = {}
    for key, kind in HYPERPARAMETER_KINDS.items():
        value = values[key]
        if key == "augment":
            value = augment.parse_settings(value, source)
        elif kind is bool:
            value = bool(value)
        elif kind is int and not isinstance(value, bool):
            value = int(value)
        elif kind is float:
            value = float(value)
        if key in CHOICES and value not in CHOICES[key]:
            raise DataError(source, f"training parameter {key}: {value!r} is not one of {', '.join(CHOICES[key])}")
        if key == "threads" and value < 1:
            raise DataError(source, f"training parameter threads must be at least 1, got {value}")
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
    """What the slices were made with (size, clip percentiles, grid spacing; lesion: the DCE phase of each input
    channel and the breast box mode), stored with the checkpoint so inference prepares scans the same way without
    the HDF5 file."""
    from dataclasses import asdict

    from breastmri.inference.predictor import h5_preprocessing

    values = asdict(h5_preprocessing(source))
    lesion = {"phases": list(values["phases"]), "breast_box": values["breast_box"]} if source.task == "lesion" else {}
    return {**{key: values[key] for key in ("size", "low_pct", "high_pct", "spacing_mm")}, **lesion}


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
                 validate_fn=None, on_epoch_end=None, **hyperparameters):
    """Train (or resume) one task; returns ``(final metrics dict, FitResult)``. See :func:`train_task`.

    ``hyperparameters``: every key of :data:`HYPERPARAMETER_KEYS`, none other (there are no defaults; the stage
    passes its params.yaml section's). ``validate_fn(model, epoch)`` replaces the validation pass (tests);
    ``on_epoch_end(row)`` sees each epoch's history row."""
    _check_task(task)
    params = check_hyperparameters(hyperparameters)
    with torch_threads(params["threads"]):  # the arithmetic of a backward pass depends on its threads
        return _fit(Path(h5_path), Path(out_dir), Path(live_dir), task, metrics_path, params, ctx, validate_fn,
                    on_epoch_end)


def _fit(h5_path: Path, out_dir: Path, live_dir: Path, task: str, metrics_path, params: dict,
         ctx: DistContext | None, validate_fn, on_epoch_end):
    """:func:`run_training` on its checked ``params``, inside its thread setting."""
    metrics_path = Path(metrics_path) if metrics_path else live_dir / "final_metrics.json"
    ctx = ctx or init_distributed(params["device"])
    set_deterministic(ctx.device)
    keep_freed_memory()
    seed_all(params["seed"])
    source = training_file(h5_path, task)
    stored_params = {**params, "task": task, "data_sha256": file_sha256(h5_path), "code_sha256": code_sha256(),
                     "preprocessing": slice_preprocessing(source)}

    model_config = dict(in_channels=source.channels, out_channels=1, **{k: params[k] for k in MODEL_KEYS})
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
            # the log of the epochs run before, as they were written, and nothing about the resumption or a stale
            # last.pt: the report is an unbroken run's, whatever was left
            if ctx.is_main:
                for row in trainer.history:
                    trainer.write_epoch(row)

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

    final = validation_summary(result.model, val_loader, trainer.loss_fn, ctx, val_ids, cfg, desc=f"{task} best model")
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


def train_task(h5_path, out_dir, live_dir, task: str, metrics_path=None, **hyperparameters) -> dict:
    """Train one task (``"breast"`` or ``"lesion"``) and return its final metrics.

    Keyword ``hyperparameters``: all of :data:`HYPERPARAMETER_KEYS` are required (they are the task's
    ``train_<task>`` section of params.yaml less the paths; there are no defaults); a missing or unknown name
    raises :class:`DataError` naming it. Resumes from ``<out_dir>/last.pt`` when it was written with the same
    parameters, data and training code.
    """
    metrics, _ = run_training(h5_path, out_dir, live_dir, task, metrics_path, **hyperparameters)
    return metrics
