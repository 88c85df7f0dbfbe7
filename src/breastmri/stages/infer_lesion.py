"""Lesion inference on whole MAMA-MIA DCE volumes, restricted to the whole-breast model's breast, scored with
the MAMA-MIA challenge's metrics where expert segmentations exist."""

from __future__ import annotations

from dataclasses import dataclass

from breastmri.stages.anatomy import AnatomyConfig
from breastmri.stages.config import DataConfig, optional

NOTEBOOK = "notebooks/09_infer_lesion.ipynb"


@dataclass(frozen=True)
class Config(AnatomyConfig, DataConfig):
    SECTIONS = ("data", "anatomy", "infer_lesion")
    checkpoint: str
    threshold_json: str
    h5_path: str
    cases: str
    out_dir: str
    figures_dir: str
    metrics_path: str
    breast_checkpoint: str
    breast_threshold_json: str
    breast_phase: int
    breast_mirror_tta: bool
    skin_margin_mm: float
    tumor_percentile: float
    tumor_core_mm: float
    min_component_fraction: float
    batch_size: int
    device: str
    mirror_tta: bool
    n_preview: int

    def lesion_settings(self) -> dict:
        """How each case is segmented (shared with the real_data stage)."""
        return dict(checkpoint=self.checkpoint, threshold_json=optional(self.threshold_json),
                    affine_mode=self.mamamia_affine, breast_checkpoint=optional(self.breast_checkpoint),
                    breast_threshold_json=optional(self.breast_threshold_json), breast_phase=self.breast_phase,
                    breast_mirror_tta=self.breast_mirror_tta,
                    skin_margin_mm=self.skin_margin_mm, tumor_percentile=self.tumor_percentile,
                    tumor_core_mm=self.tumor_core_mm,
                    min_component_fraction=self.min_component_fraction, batch_size=self.batch_size,
                    device=self.device, mirror_tta=self.mirror_tta, settings=self.heuristics())


def run(config: Config) -> dict:
    from breastmri.inference.lesion_cases import infer_lesion_cases

    return infer_lesion_cases(config.mamamia_root, out_dir=config.out_dir, cases=config.cases,
                              h5_path=optional(config.h5_path), metrics_path=optional(config.metrics_path),
                              figures_dir=optional(config.figures_dir), truth_dir=optional(config.truth_dir),
                              n_preview=config.n_preview, **config.lesion_settings())


def describe(summary: dict) -> str:
    """Lesion Dice (mean, min) against the expert segmentations where there are some, else "not scored"; the
    challenge's ranking; then the cases predicted."""
    def num(value, digits: int = 3) -> str:
        return "n/a" if value is None or value != value else f"{value:.{digits}f}"

    m = summary["metrics"]
    predicted = f"{m['n_cases']} cases predicted into {summary['out_dir']}"
    dice = m.get("dice", {})
    if not m.get("n_evaluated") or "mean" not in dice:
        return f"{predicted}; no ground truth: not scored"
    scored = m["n_evaluated"] if m["n_evaluated"] == m["n_cases"] else f"{m['n_evaluated']} of {m['n_cases']}"
    kind = "" if m.get("case_set", "all") == "all" else f"{m['case_set']} "
    text = (f"lesion Dice mean {num(dice['mean'])} / min {num(dice['min'])} on {scored} {kind}cases, HD95 median "
            f"{num(m.get('hd95_mm', {}).get('median'), 1)} mm")
    challenge = m.get("challenge", {})
    if "performance" in challenge:
        text += (f"; challenge ranking {num(challenge.get('ranking'))} (performance {num(challenge['performance'])}, "
                 f"fairness {num(challenge.get('fairness_mean'))})")
    return f"{text}; {predicted}"
