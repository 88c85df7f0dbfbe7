"""Writer for the seed layout (whole-breast task): single-sequence scans, training masks, clinical.csv,
and the per-patient ground truth in each file's stored frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from breastmri.data.atomic import write_text_atomic
from breastmri.data.io import save_nifti
from breastmri.phantom.anatomy import Case
from breastmri.phantom.defects import Defects, to_storage

SEED_PHASE = 1  # the first post-contrast (fat-suppressed) phase: lesion bright, fat dark


def as_int16(image: np.ndarray) -> np.ndarray:
    """Scanner-like integer intensities."""
    return np.clip(np.rint(image), 0, np.iinfo(np.int16).max).astype(np.int16)


def write_seed_patient(phantom_dir: Path, patient_id: str, split: str, case: Case, defects: Defects) -> dict:
    """Write one patient's scan (and training mask) with its defects, plus truth breast and lesion masks
    aligned with the stored scan; return the patient's truth.json record."""
    spacing = case.grid.spacing
    scan, affine = to_storage(defects.scan(as_int16(case.phases[0])), spacing, defects.storage)
    save_nifti(scan, affine, phantom_dir / "seed" / split / "scans" / f"{patient_id}.nii.gz")
    if split == "train":
        mask, _ = to_storage(defects.mask(case.breast_mask), spacing, defects.storage)
        save_nifti(mask, affine, phantom_dir / "seed" / split / "masks" / f"{patient_id}.nii.gz")
    record = {"split": split, **defects.record(), "lesion_volume_mm3": round(case.lesion_volume_mm3, 3),
              "lesion_peak_enhancement": round(case.peak_enhancement, 6)}
    for name, canonical in (("breast", case.breast_mask), ("lesion", case.lesion_mask)):
        relative = f"truth/seed/{patient_id}_{name}.nii.gz"
        save_nifti(to_storage(defects.scan(canonical), spacing, defects.storage)[0], affine, phantom_dir / relative)
        record[f"{name}_mask"] = relative
    return record


def write_seed_clinical(phantom_dir: Path, table: pd.DataFrame) -> Path:
    return write_text_atomic(phantom_dir / "seed" / "clinical.csv", table.to_csv(index=False))
