"""Sweep the probability threshold on the validation set (sections ``data threshold_<task>``)."""

from __future__ import annotations

from dataclasses import dataclass

from breastmri.stages.config import DataConfig, optional

NOTEBOOK = "notebooks/06_threshold.ipynb"


@dataclass(frozen=True)
class Config(DataConfig):
    SECTIONS = ("data", "threshold_breast")
    task: str
    checkpoint: str
    h5: str
    out_dir: str
    evaluate_on: str
    selection: str
    start: float
    stop: float
    step: float
    batch_size: int
    device: str


def run(config: Config) -> dict:
    """The chosen threshold and its Dice (``<out_dir>/threshold.json``, with the curve beside it)."""
    from breastmri.training.threshold import run_threshold

    return run_threshold(config.checkpoint, config.h5, config.out_dir, start=config.start, stop=config.stop,
                         step=config.step, batch_size=config.batch_size, device=config.device, task=config.task,
                         evaluate_on=config.evaluate_on, mamamia_root=optional(config.mamamia_root),
                         selection=config.selection)


def describe(summary: dict) -> str:
    """The chosen threshold and its mean per-patient Dice, then the Dice at 0.5 and the best one."""
    return (f"{summary['task']}: threshold {summary['threshold']:.2f}, mean per-patient Dice "
            f"{summary['mean_dice']:.4f} (at 0.5: {summary['mean_dice_at_0.5']:.4f}; best "
            f"{summary['best_mean_dice']:.4f} at {summary['best_threshold']:.2f}, {summary['selection']} rule) over "
            f"{summary['n_patients']} validation patients ({summary['evaluated_on']})")
