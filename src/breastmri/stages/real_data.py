"""Real DCE exams without outlines: the infer_lesion settings, judged against the functional tumour volume."""

from __future__ import annotations

from dataclasses import dataclass

from breastmri.stages import infer_lesion

NOTEBOOK = "notebooks/10_real_data.ipynb"


@dataclass(frozen=True)
class Config(infer_lesion.Config):
    SECTIONS = ("data", "anatomy", "infer_lesion", "real_data")
    real_root: str
    tissue_mask_dir: str
    ftv_enhancement: float
    near_mm: float
    real_out_dir: str
    real_figures_dir: str
    real_metrics_path: str


def run(config: Config) -> dict:
    from breastmri.inference.real_exams import evaluate_real

    return evaluate_real(config.real_root, config.real_out_dir, tissue_mask_dir=config.tissue_mask_dir,
                         metrics_path=config.real_metrics_path, figures_dir=config.real_figures_dir,
                         ftv_enhancement=config.ftv_enhancement, near_mm=config.near_mm,
                         **config.lesion_settings())


def describe(summary: dict) -> str:
    m = summary["metrics"]
    return f"real exams: {m['available']}" + (f", {m.get('n_cases', 0)} evaluated" if m["available"] else "")
