"""Fail-fast validation of the raw datasets: every file readable, geometry and masks sane, tables complete."""

from __future__ import annotations

from dataclasses import dataclass

from breastmri.stages.config import DataConfig, optional

NOTEBOOK = "notebooks/01_validate.ipynb"


@dataclass(frozen=True)
class Config(DataConfig):
    SECTIONS = ("data", "validate")
    out_json: str
    n_preview: int


def run(config: Config) -> dict:
    from breastmri.data.validation import run_validation

    return run_validation(optional(config.seed_root), optional(config.mamamia_root), config.out_json)


def describe(summary: dict) -> str:
    """Patients (seed layout) or cases (MAMA-MIA layout) validated per layout, and those without clinical data."""
    parts = []
    for name, part in summary.items():
        if "n_cases" in part:
            counted = f"{part['n_cases']} cases ({part['n_files']['phases']} phase files)"
        else:
            n = part["n_patients"]
            counted = f"{n['total']} patients ({n['train']} train, {n['inference']} inference)"
        without = part.get("clinical", {}).get("n_imaging_patients_without_clinical", 0)
        parts.append(f"{name}: {counted}, {without} without clinical data")
    return "validation passed: " + "; ".join(parts)
