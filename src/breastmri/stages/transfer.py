"""The breast model (and its unaugmented baseline) on phantom cohorts it never trained on."""

from __future__ import annotations

from dataclasses import dataclass

from breastmri.stages.anatomy import AnatomyConfig
from breastmri.stages.candidate import CandidateConfig
from breastmri.stages.config import DataConfig, optional

NOTEBOOK = "notebooks/11_transfer.ipynb"


@dataclass(frozen=True)
class Config(CandidateConfig, AnatomyConfig, DataConfig):
    SECTIONS = ("data", "anatomy", "candidate", "transfer")
    seed: int
    n_scans: int
    cohorts: dict
    scanner_orientations: list
    oblique_rate: float
    duke_matrix: int
    checkpoint: str
    threshold_json: str
    baseline_checkpoint: str
    baseline_threshold_json: str
    work_dir: str
    metrics_path: str
    figure_path: str
    batch_size: int
    device: str
    mirror_tta: bool


def run(config: Config) -> dict:
    from breastmri.inference.transfer import evaluate_transfer

    return evaluate_transfer(
        config.work_dir, config.metrics_path, config.figure_path, seed=config.seed, n_scans=config.n_scans,
        cohorts=config.cohorts, scanner_orientations=config.scanner_orientations, oblique_rate=config.oblique_rate,
        duke_matrix=config.duke_matrix, checkpoint=config.checkpoint, threshold_json=optional(config.threshold_json),
        baseline_checkpoint=optional(config.baseline_checkpoint),
        baseline_threshold_json=optional(config.baseline_threshold_json), batch_size=config.batch_size,
        device=config.device, mirror_tta=config.mirror_tta, settings=config.heuristics(), rule=config.rule())


def describe(summary: dict) -> str:
    """The model's Dice (mean, min) on the unseen cohorts and its lowest cohort, against the baselines'."""
    def num(value) -> str:
        return "n/a" if value is None or value != value else f"{value:.3f}"

    m = summary["metrics"]
    rows = m["rows"]

    def dice(method: str) -> str:
        scores = rows[method].get("all", {}).get("dice", {})
        return f"{num(scores.get('mean'))} / min {num(scores.get('min'))}"

    names = {"classical": "classical baseline", "baseline": "unaugmented model"}
    cohorts = {c: s["dice"]["mean"] for c, s in rows["model"].items() if c != "all" and "mean" in s["dice"]}
    worst = min(cohorts, key=cohorts.get) if cohorts else None
    text = (f"model Dice mean {dice('model')} on {m['n_scans']} unseen scans"
            + (f" (lowest cohort {worst} {num(cohorts[worst])})" if worst else ""))
    others = [f"{names.get(method, method)} {dice(method)}" for method in rows if method != "model"]
    return text + (f"; vs {'; '.join(others)}" if others else "")
