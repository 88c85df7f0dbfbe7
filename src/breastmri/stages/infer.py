"""Whole-breast inference on the seed layout's inference scans: masks on each file's grid, tumour candidate,
features, evaluation against the phantom truth where there is one."""

from __future__ import annotations

from dataclasses import dataclass

from breastmri.stages.anatomy import AnatomyConfig
from breastmri.stages.candidate import CandidateConfig
from breastmri.stages.config import DataConfig, optional

NOTEBOOK = "notebooks/07_infer.ipynb"


@dataclass(frozen=True)
class Config(CandidateConfig, AnatomyConfig, DataConfig):
    SECTIONS = ("data", "anatomy", "candidate", "infer")
    checkpoint: str
    threshold_json: str
    record_path: str
    h5_path: str
    out_dir: str
    figures_dir: str
    metrics_path: str
    classical_baseline: bool
    min_component_fraction: float
    batch_size: int
    device: str
    mirror_tta: bool
    n_preview: int


def run(config: Config) -> dict:
    from breastmri.inference.breast_cases import infer_dataset

    return infer_dataset(
        config.seed_root, config.checkpoint, config.out_dir, threshold_json=optional(config.threshold_json),
        record_path=optional(config.record_path), h5_path=optional(config.h5_path),
        truth_dir=optional(config.truth_dir), metrics_path=optional(config.metrics_path),
        figures_dir=config.figures_dir, classical_baseline=config.classical_baseline,
        min_component_fraction=config.min_component_fraction, batch_size=config.batch_size, device=config.device,
        mirror_tta=config.mirror_tta, n_preview=config.n_preview, settings=config.heuristics(),
        rule=config.rule())


def describe(summary: dict) -> str:
    """Breast Dice (mean, min) against the truth where there is one, else "not scored"; then the QC flags."""
    def num(value) -> str:
        return "n/a" if value is None or value != value else f"{value:.3f}"

    qc = summary["qc"]
    flagged = list(qc["flagged"])
    checks = (f"QC: {qc['n_flagged']} breast mask{'' if qc['n_flagged'] == 1 else 's'} flagged"
              + (f" ({', '.join(flagged[:3])}{', ...' if len(flagged) > 3 else ''})" if flagged else ""))
    untrusted = qc["candidate"]["untrusted"]
    if untrusted:
        checks += f", {len(untrusted)} tumour candidate{'' if len(untrusted) == 1 else 's'} not trusted (fat not suppressed)"
    if qc.get("not_placed_by_orient"):
        checks += f", {len(qc['not_placed_by_orient'])} scans not placed by orient"
    if "metrics" not in summary:
        return f"{summary['n_scans']} scans predicted into {summary['out_dir']}; no ground truth: not scored; {checks}"
    m = summary["metrics"]
    text = (f"breast Dice mean {num(m['breast_dice'].get('mean'))} / min {num(m['breast_dice'].get('min'))} on "
            f"{m['n_patients']} scans")
    if "classical" in m:
        baseline = m["classical"]["breast_dice"]
        text += f" (classical baseline {num(baseline.get('mean'))} / {num(baseline.get('min'))})"
    if "tumor_hit_rate" in m:
        text += f", tumour hit rate {num(m['tumor_hit_rate'])}"
        if "hit_rate_trusted" in qc["candidate"]:
            text += f" ({num(qc['candidate']['hit_rate_trusted'])} where trusted)"
    return f"{text}; {checks}"
