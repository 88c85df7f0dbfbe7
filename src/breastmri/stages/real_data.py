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
    """Share of the FTV covered per exam (the key figure), then the prediction near the FTV and the breast QC."""
    def num(value) -> str:
        return "n/a" if value is None or value != value else f"{value:.3f}"

    m = summary["metrics"]
    if not m["available"]:
        return f"real exams: not available (real_root {m.get('real_root') or 'empty'}): nothing evaluated"
    covered = [f"{case} {num(row.get('ftv_covered'))}" for case, row in m.get("per_case", {}).items()]
    return (f"FTV covered per exam: {', '.join(covered[:4]) or 'no exam'}{', ...' if len(covered) > 4 else ''} "
            f"(mean {num(m['ftv_covered'].get('mean'))}); predicted lesion within {m['near_mm']:g} mm of the FTV: "
            f"mean {num(m['pred_near_ftv'].get('mean'))}; {m['n_cases']} real exams, {m['breast_flagged']} breast "
            f"mask{'' if m['breast_flagged'] == 1 else 's'} flagged")
