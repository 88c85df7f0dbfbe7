"""Writer for the MAMA-MIA layout (lesion task): DCE phases per case (some missing), expert lesion
segmentations, ``clinical_and_imaging_info.csv`` in the real column schema, and the ground truth.

Every file is stored like the real cohort's NIfTIs (``synthesize.mamamia_cohorts``): an affine that describes
the anatomy, axial bilateral LPS (DUKE, ISPY2) or sagittal unilateral P, I, R (ISPY1, NACT); the phases,
the expert segmentation and the truth masks of a case share it. No orientation defects.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from breastmri.data.atomic import write_text_atomic
from breastmri.data.io import save_nifti
from breastmri.orientation.frame import spacing_of
from breastmri.phantom.anatomy import Case
from breastmri.phantom.cohorts import MamaMiaCohort
from breastmri.phantom.seed import as_int16
from breastmri.phantom.storage import Storage

#: The header of the real ``clinical_and_imaging_info.csv``.
COLUMNS = (
    "patient_id", "dataset", "bilateral_breast_cancer", "multifocal_cancer", "nac_agent", "endocrine_therapy",
    "anti_her2_neu_therapy", "pcr", "mastectomy_post_nac", "days_to_follow_up", "days_to_recurrence",
    "days_to_metastasis", "days_to_death", "hr", "er", "pr", "her2", "mammaprint", "oncotype_score",
    "nottingham_grade", "tumor_subtype", "age", "menopause", "ethnicity", "has_implant", "weight", "patient_size",
    "bmi_group", "view", "bilateral_mri", "num_phases", "fat_suppressed", "field_strength", "image_rows",
    "image_columns", "num_slices", "pixel_spacing", "slice_thickness", "site", "manufacturer", "scanner_model",
    "high_bit", "window_center", "window_width", "echo_time", "repetition_time", "acquisition_times",
    "acquisition_date", "tcia_series_uid",
)
COHORTS = ("DUKE", "ISPY1", "ISPY2", "NACT")
#: Cohort mix of a default dataset, cycled then shuffled (DUKE largest, as in the real table's scanners).
COHORT_CYCLE = ("DUKE", "ISPY2", "DUKE", "ISPY1", "NACT", "DUKE", "ISPY2", "ISPY1")
SCANNERS = {"GE": ("Signa HDxt", "Optima MR450w", "Discovery MR750"), "SIEMENS": ("Avanto", "Skyra", "TrioTim"),
            "Philips": ("Achieva", "Intera")}


def case_ids(rng: np.random.Generator, n: int) -> tuple[list[str], list[str]]:
    """(case ids, cohorts) in the real id styles: DUKE_001, ISPY1_1001, ISPY2_123456, NACT_01."""
    cohorts = list(rng.permutation(np.resize(COHORT_CYCLE, n)))
    pools = {"DUKE": (1, 923, "DUKE_{:03d}"), "ISPY1": (1001, 1240, "ISPY1_{:d}"),
             "ISPY2": (100000, 999999, "ISPY2_{:d}"), "NACT": (1, 65, "NACT_{:02d}")}
    ids = []
    for cohort in COHORTS:
        low, high, style = pools[cohort]
        members = [i for i, c in enumerate(cohorts) if c == cohort]
        numbers = np.sort(rng.choice(np.arange(low, high), size=len(members), replace=False))
        ids.extend((i, style.format(int(k))) for i, k in zip(members, numbers))
    return [name for _, name in sorted(ids)], [str(c) for c in cohorts]


def phases_present(rng: np.random.Generator, cohorts: list[str],
                   phase_ranges: dict[str, tuple[int, int]]) -> list[list[bool]]:
    """Per case, which of its acquired phases have a file: a number of phases drawn uniformly from its cohort's
    ``phase_ranges`` entry (``(low, high)``), every one present except, in one case (with at least 4 phases when
    possible), a middle phase whose file is missing."""
    present = []
    for cohort in cohorts:
        low, high = phase_ranges[cohort]
        present.append([True] * int(rng.integers(low, high + 1)))
    if present:
        acquired = np.array([sum(p) for p in present])
        eligible = np.flatnonzero(acquired == acquired.max())
        case = int(rng.choice(eligible))
        present[case][int(rng.integers(2, acquired[case] - 1)) if acquired[case] > 3 else 1] = False
    return present


def write_mamamia_case(phantom_dir: Path, case_id: str, cohort: MamaMiaCohort, case: Case, present: list[bool],
                       storage: Storage) -> dict:
    """Write the present phases (``case.phases`` holds exactly those, in order), the expert segmentation
    and the truth masks in ``storage``; return the case's truth.json record."""
    root = phantom_dir / "mamamia"
    stored = iter(case.phases)
    for k, here in enumerate(present):
        if here:
            save_nifti(storage.store(as_int16(next(stored))), storage.affine,
                       root / "images" / case_id / f"{case_id}_{k:04d}.nii.gz")
    save_nifti(storage.store(case.lesion_mask), storage.affine, root / "segmentations" / "expert" / f"{case_id}.nii.gz")
    record = {"cohort": cohort.name, "view": cohort.view, "bilateral": cohort.bilateral, "storage": storage.name,
              "stored_to_working": storage.record()["stored_to_working"], "phases_present": list(present),
              "lesion_volume_mm3": round(case.lesion_volume_mm3, 3),
              "lesion_peak_enhancement": round(case.peak_enhancement, 6)}
    for name, canonical in (("breast", case.breast_mask), ("lesion", case.lesion_mask)):
        relative = f"truth/mamamia/{case_id}_{name}.nii.gz"
        save_nifti(storage.store(canonical), storage.affine, phantom_dir / relative)
        record[f"{name}_mask"] = relative
    return record


def imaging_columns(rng: np.random.Generator, cohort: MamaMiaCohort, case: Case, present: list[bool],
                    storage: Storage) -> dict:
    """Acquisition columns of one row (what a DICOM header would tell), of the stored files."""
    manufacturer = str(rng.choice(list(SCANNERS), p=[0.6, 0.3, 0.1]))
    acquired = len(present)
    rows, cols, slices = storage.stored_shape(case.grid.shape)
    spacing = spacing_of(storage.affine)
    return {
        "dataset": cohort.name, "bilateral_breast_cancer": 0, "has_implant": 0, "view": cohort.view,
        "bilateral_mri": int(cohort.bilateral), "num_phases": acquired, "fat_suppressed": 1,
        "field_strength": float(rng.choice([1.5, 3.0])), "image_rows": rows, "image_columns": cols,
        "num_slices": slices, "pixel_spacing": f"[{spacing[0]}, {spacing[1]}]", "slice_thickness": spacing[2],
        "manufacturer": manufacturer, "scanner_model": str(rng.choice(SCANNERS[manufacturer])), "high_bit": 15,
        "echo_time": round(float(rng.uniform(1.3, 2.8)), 3), "repetition_time": round(float(rng.uniform(3.9, 7.0)), 3),
        "acquisition_times": "[" + ", ".join(str(int(t)) for t in case.times[:acquired]) + "]",
        "tcia_series_uid": "1.3.6.1.4.1.14519.5.2.1." + "".join(str(d) for d in rng.integers(0, 10, 39)),
    }


def write_mamamia_clinical(phantom_dir: Path, rows: list[dict]) -> Path:
    """The clinical table with the real header; blank cells for everything unknown."""
    table = pd.DataFrame(rows).reindex(columns=list(COLUMNS)).sort_values("patient_id", ignore_index=True)
    return write_text_atomic(phantom_dir / "mamamia" / "clinical_and_imaging_info.csv", table.to_csv(index=False))
