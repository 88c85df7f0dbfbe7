"""Train one task's 2D U-Net from its slice HDF5 (sections ``train_breast``, ``train_lesion``, or
``train_breast train_breast_baseline``); resumes from ``last.pt``. Several GPUs or nodes:
``torchrun --nproc_per_node N -m breastmri.cli train --sections train_<task>``."""

from __future__ import annotations

from dataclasses import dataclass

from breastmri.stages.config import StageConfig

NOTEBOOK = "notebooks/05_train.ipynb"
PATH_KEYS = ("task", "h5", "out_dir", "live_dir", "metrics")


@dataclass(frozen=True)
class Config(StageConfig):
    SECTIONS = ("train_breast",)
    task: str
    h5: str
    out_dir: str
    live_dir: str
    metrics: str
    base: int
    depth: int
    dropout: float
    bottleneck_dropout: float
    up: str
    loss: str
    optimizer: str
    lr: float
    weight_decay: float
    batch_size: int
    max_epochs: int
    patience: int
    min_delta: float
    lr_factor: float
    lr_patience: int
    min_lr: float
    clip_grad_norm: float
    amp: bool
    seed: int
    device: str
    num_workers: int
    threads: int
    preload: bool
    threshold: float
    augment: dict | bool

    def hyperparameters(self) -> dict:
        return {key: value for key, value in self.as_dict().items() if key not in PATH_KEYS}


def run(config: Config) -> dict:
    """The final metrics (best epoch, validation loss, per-patient Dice); also written to ``metrics``."""
    from breastmri.training.distributed import cleanup_distributed, init_distributed
    from breastmri.training.train import run_training

    ctx = init_distributed(config.device)
    try:
        metrics, _ = run_training(config.h5, config.out_dir, config.live_dir, config.task, config.metrics, ctx=ctx,
                                  **config.hyperparameters())
    finally:
        cleanup_distributed()
    return metrics


def describe(summary: dict) -> str:
    """Best epoch and the validation per-patient Dice (mean, min) of its weights, then the validation loss."""
    def num(value) -> str:
        return "n/a" if value is None or value != value else f"{value:.4f}"

    return (f"{summary['task']}: best epoch {summary['best_epoch']} of {summary['epochs_run']} run"
            f"{' (stopped early)' if summary.get('stopped_early') else ''}, validation per-patient Dice mean "
            f"{num(summary['val_dice_patient_mean'])} / min {num(summary['val_dice_patient_min'])} "
            f"({summary['n_val_patients_scored']} patients), validation loss {num(summary['best_val_loss'])}")
