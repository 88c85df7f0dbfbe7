"""Writer for the seed layout (whole-breast task): single-sequence scans, training masks, clinical.csv,
and the per-patient ground truth (truth masks stored like their scan)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from breastmri.data.atomic import write_text_atomic
from breastmri.data.io import save_nifti
from breastmri.phantom.anatomy import Case
from breastmri.phantom.defects import Defects
from breastmri.phantom.truth import ignore_mode_truth

SEED_PHASE = 1  # the first post-contrast phase: the lesion bright
SEED_ACQUIRED = 6  # of a 6-phase DCE (the truth's peak enhancement is over its phase times)


def as_int16(image: np.ndarray) -> np.ndarray:
    """Scanner-like integer intensities."""
    return np.clip(np.rint(image), 0, np.iinfo(np.int16).max).astype(np.int16)


def write_seed_patient(phantom_dir: Path, patient_id: str, split: str, cohort: str, case: Case,
                       defects: Defects) -> dict:
    """Write one patient's scan (and training mask, with its flips) in the patient's storage, plus truth breast
    and lesion masks stored like the scan; return the patient's truth.json record."""
    storage = defects.storage(case.grid)
    save_nifti(storage.store(as_int16(case.phases[0])), storage.affine,
               phantom_dir / "seed" / split / "scans" / f"{patient_id}.nii.gz")
    if split == "train":
        save_nifti(storage.store(defects.mask(case.breast_mask)), storage.affine,
                   phantom_dir / "seed" / split / "masks" / f"{patient_id}.nii.gz")
    record = {"split": split, "cohort": cohort, **storage.record(), **ignore_mode_truth(storage.stored_to_working),
              **defects.record(), "lesion_volume_mm3": round(case.lesion_volume_mm3, 3),
              "lesion_peak_enhancement": round(case.peak_enhancement, 6)}
    for name, canonical in (("breast", case.breast_mask), ("lesion", case.lesion_mask)):
        relative = f"truth/seed/{patient_id}_{name}.nii.gz"
        save_nifti(storage.store(canonical), storage.affine, phantom_dir / relative)
        record[f"{name}_mask"] = relative
    return record


def write_seed_clinical(phantom_dir: Path, table: pd.DataFrame) -> Path:
    return write_text_atomic(phantom_dir / "seed" / "clinical.csv", table.to_csv(index=False))
