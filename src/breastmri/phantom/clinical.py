"""Synthetic patients: receptor status and grade, the lesion they imply (planted associations), and the
clinical tables written for the seed (Duke coding) and MAMA-MIA (real column schema) layouts.

Planted associations: the main lesion's diameter rises with Nottingham grade (so does its volume) and the
lesion enhances more when HER2 is positive. ER is the null variable: no lesion property depends on it, and
it is balanced across the HER2 x grade groups (see :func:`draw_patients`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from breastmri.phantom.kinetics import CURVE_LATE_SLOPE, LesionKinetics
from breastmri.phantom.lesion import LesionSpec

GRADE_P = (0.2, 0.4, 0.4)
DIAMETER_BY_GRADE_MM = {1: 17.0, 2: 22.0, 3: 28.0}
DIAMETER_RANGE_MM = (12.0, 35.0)
ENHANCEMENT = 1.5         # median peak relative enhancement of a HER2-negative lesion
HER2_ENHANCEMENT_GAIN = 1.6
ASSOCIATIONS = {
    "planted": [
        {"feature": "tumor_volume_mm3", "truth_key": "lesion_volume_mm3", "variable": "nottingham_grade", "sign": 1},
        {"feature": "tumor_to_breast_mean_ratio", "truth_key": "lesion_peak_enhancement", "variable": "her2",
         "sign": 1},
    ],
    "null": ["er"],
}
#: Duke ``Mol Subtype`` codes by (HR, HER2).
DUKE_SUBTYPE = {(1, 0): 0, (1, 1): 1, (0, 1): 2, (0, 0): 3}


@dataclass(frozen=True)
class Patient:
    """True clinical status (complete; blanks are added only when tables are written)."""

    er: int
    pr: int
    her2: int
    grade: int
    age: float

    @property
    def hr(self) -> int:
        return int(self.er or self.pr)


def draw_patients(rng: np.random.Generator, n: int) -> list[Patient]:
    """``n`` patients: HER2+ 30 %, grade 1/2/3 = 20/40/40 %, ER+ 65 % assigned by stratified sampling
    within each (HER2, grade) group so that ER is balanced against what drives the lesion, also in a small
    sample; PR mostly follows ER."""
    her2 = (rng.random(n) < 0.3).astype(int)
    grade = rng.choice([1, 2, 3], size=n, p=GRADE_P)
    er = np.zeros(n, int)
    for stratum in {(h, g) for h, g in zip(her2, grade)}:
        members = np.flatnonzero((her2 == stratum[0]) & (grade == stratum[1]))
        positives = int(np.floor(0.65 * len(members) + rng.random()))
        er[rng.choice(members, size=positives, replace=False)] = 1
    pr = (rng.random(n) < np.where(er == 1, 0.8, 0.1)).astype(int)
    age = np.clip(rng.normal(51.0, 11.0, n), 26.0, 84.0).round()
    return [Patient(int(e), int(p), int(h), int(g), float(a)) for e, p, h, g, a in zip(er, pr, her2, grade, age)]


def lesion_for(rng: np.random.Generator, patient: Patient) -> LesionSpec:
    """The lesion a patient's grade and HER2 status imply (diameter from grade, enhancement from HER2)."""
    diameter = DIAMETER_BY_GRADE_MM[patient.grade] * np.exp(rng.normal(0.0, 0.18))
    amplitude = ENHANCEMENT * np.exp(rng.normal(0.0, 0.18)) * (HER2_ENHANCEMENT_GAIN if patient.her2 else 1.0)
    kinetics = LesionKinetics(amplitude=float(np.clip(amplitude, 0.9, 4.0)), wash_in_s=float(rng.uniform(40, 90)),
                              curve=str(rng.choice(list(CURVE_LATE_SLOPE), p=[0.2, 0.4, 0.4])))
    return LesionSpec(diameter_mm=float(np.clip(diameter, *DIAMETER_RANGE_MM)),
                      irregularity=float(0.12 + 0.07 * patient.grade + rng.uniform(0.0, 0.08)),
                      rim=bool(patient.grade == 3 and diameter > 22 and rng.random() < 0.4),
                      satellite=bool(rng.random() < 0.15), kinetics=kinetics)


def _missing(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """Exactly ``round(rate * n)`` (at least one when ``n >= 4``) randomly placed True values."""
    count = min(n, max(int(round(rate * n)), 1 if n >= 4 else 0))
    mask = np.zeros(n, bool)
    mask[rng.choice(n, size=count, replace=False)] = True
    return mask


def seed_table(rng: np.random.Generator, ids: list[str], patients: list[Patient],
               receptor_missing: float = 0.05, grade_missing: float = 0.1) -> pd.DataFrame:
    """``clinical.csv`` of the seed layout: Duke codings, blanks for unknown, ``mol_subtype`` derived from
    the (reported) receptors so the two always agree."""
    n = len(ids)
    table = pd.DataFrame({"patient_id": ids})
    for column in ("er", "pr", "her2"):
        values = pd.array([getattr(p, column) for p in patients], dtype="Int64")
        values[_missing(rng, n, receptor_missing)] = pd.NA
        table[column] = values
    known = {c: [None if pd.isna(v) else int(v) for v in table[c]] for c in ("er", "pr", "her2")}
    hr = [1 if 1 in (e, p) else (0 if (e, p) == (0, 0) else None) for e, p in zip(known["er"], known["pr"])]
    table["mol_subtype"] = pd.array([None if h is None or h2 is None else DUKE_SUBTYPE[(h, h2)]
                                     for h, h2 in zip(hr, known["her2"])], dtype="Int64")
    grade = pd.array([p.grade for p in patients], dtype="Int64")
    grade[_missing(rng, n, grade_missing)] = pd.NA
    table["nottingham_grade"] = grade
    return table.sort_values("patient_id", ignore_index=True)


#: MAMA-MIA ``tumor_subtype`` labels by cohort family and (HR, HER2), as in the real table: ISPY2 splits
#: luminal tumours by HER2 and calls HR-/HER2+ her2_enriched; the other cohorts call HR+/HER2+
#: her2_enriched and HR-/HER2+ her2_pure.
MAMAMIA_SUBTYPES = {
    "ISPY2": {(1, 0): "luminal_a", (1, 1): "luminal_b", (0, 1): "her2_enriched", (0, 0): "triple_negative"},
    "other": {(1, 0): "luminal", (1, 1): "her2_enriched", (0, 1): "her2_pure", (0, 0): "triple_negative"},
}
GRADE_TEXT = {1: "low", 2: "intermediate", 3: "high"}
#: MAMA-MIA ``menopause`` texts as the real table writes them; a quarter of the real rows are blank.
MENOPAUSE_TEXT = {
    "pre": "pre (<6 months since LMP AND no prior bilateral ovariectomy AND not on estrogen replacement)",
    "peri": "peri (6-12 months since LMP AND no prior bilateral ovariectomy AND not on estrogen replacement)",
    "post": "post"}
MENOPAUSE_BLANK = 0.27


def menopause_text(rng: np.random.Generator, age: float) -> str:
    """A menopausal status plausible for ``age`` (pre under 45, post over 55, a mix between), in the real
    table's words, or blank (:data:`MENOPAUSE_BLANK`)."""
    if rng.random() < MENOPAUSE_BLANK:
        return ""
    if age < 45:
        return MENOPAUSE_TEXT["pre"]
    if age > 55:
        return MENOPAUSE_TEXT["post"]
    return MENOPAUSE_TEXT[str(rng.choice(["pre", "peri", "post"], p=[0.4, 0.2, 0.4]))]


def mamamia_clinical(rng: np.random.Generator, cohort: str, patient: Patient, satellite: bool) -> dict:
    """Clinical columns of one MAMA-MIA row with the real table's per-cohort conventions: floats 0.0/1.0,
    ER/PR blank for ISPY2, Nottingham grade (text) for DUKE only, menopausal status from age, some unknown values."""
    known = not (cohort == "NACT" and rng.random() < 0.2)
    family = "ISPY2" if cohort == "ISPY2" else "other"
    has_er_pr = known and cohort != "ISPY2"
    pcr_p = 0.5 if patient.her2 else (0.35 if not patient.hr else 0.12)
    grade_known = cohort == "DUKE" and rng.random() < 0.7
    return {
        "er": float(patient.er) if has_er_pr else np.nan,
        "pr": float(patient.pr) if has_er_pr else np.nan,
        "hr": float(patient.hr) if known else np.nan,
        "her2": float(patient.her2) if known else np.nan,
        "tumor_subtype": MAMAMIA_SUBTYPES[family][(patient.hr, patient.her2)] if known else np.nan,
        "nottingham_grade": GRADE_TEXT[patient.grade] if grade_known else np.nan,
        "pcr": float(rng.random() < pcr_p) if rng.random() < 0.95 else np.nan,
        "multifocal_cancer": float(satellite),
        "age": patient.age,
        "menopause": menopause_text(rng, patient.age),
    }
