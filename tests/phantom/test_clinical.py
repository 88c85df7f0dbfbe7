"""Synthetic clinical status: codings, missing values, planted associations in the lesion specs."""

import numpy as np
import pandas as pd
from scipy import stats

from breastmri.phantom.clinical import (DUKE_SUBTYPE, MAMAMIA_SUBTYPES, draw_patients, lesion_for,
                                        mamamia_clinical, seed_table)


def _patients(n, seed=0):
    return draw_patients(np.random.default_rng(seed), n)


def test_seed_table_codings_are_consistent_with_some_blanks():
    patients = _patients(60)
    ids = [f"Breast_MRI_{k:03d}" for k in range(1, 61)]
    table = seed_table(np.random.default_rng(1), ids, patients)
    assert list(table.columns) == ["patient_id", "er", "pr", "her2", "mol_subtype", "nottingham_grade"]
    assert table.patient_id.is_unique and set(table.patient_id) == set(ids)
    for column in ("er", "pr", "her2", "nottingham_grade"):
        assert table[column].isna().sum() >= 1
    assert set(table.nottingham_grade.dropna()) <= {1, 2, 3} and set(table.mol_subtype.dropna()) <= {0, 1, 2, 3}
    for row in table.astype(object).where(table.notna(), None).itertuples():
        hr = 1 if 1 in (row.er, row.pr) else (0 if (row.er, row.pr) == (0, 0) else None)
        if hr is None or row.her2 is None:
            assert row.mol_subtype is None
        else:
            assert DUKE_SUBTYPE[(hr, row.her2)] == row.mol_subtype


def test_grade_drives_size_her2_drives_enhancement_and_er_drives_nothing():
    patients = _patients(400)
    rng = np.random.default_rng(2)
    specs = [lesion_for(rng, p) for p in patients]
    grade, her2, er = (np.array([getattr(p, k) for p in patients]) for k in ("grade", "her2", "er"))
    diameter = np.array([s.diameter_mm for s in specs])
    amplitude = np.array([s.kinetics.amplitude for s in specs])
    assert stats.spearmanr(diameter, grade)[0] > 0.5 and stats.spearmanr(amplitude, her2)[0] > 0.5
    assert stats.spearmanr(diameter, er)[1] > 0.01 and stats.spearmanr(amplitude, er)[1] > 0.01
    assert 12.0 <= diameter.min() and diameter.max() <= 35.0


def test_mamamia_rows_follow_each_cohorts_conventions():
    rng = np.random.default_rng(3)
    for patient in _patients(40):
        for cohort in ("DUKE", "ISPY1", "ISPY2", "NACT"):
            row = mamamia_clinical(rng, cohort, patient, satellite=False)
            if cohort == "ISPY2":
                assert np.isnan(row["er"]) and np.isnan(row["pr"])
            if cohort != "DUKE":
                assert pd.isna(row["nottingham_grade"])
            elif pd.notna(row["nottingham_grade"]):
                assert row["nottingham_grade"] == {1: "low", 2: "intermediate", 3: "high"}[patient.grade]
            if pd.notna(row["tumor_subtype"]):
                family = "ISPY2" if cohort == "ISPY2" else "other"
                assert MAMAMIA_SUBTYPES[family][(int(row["hr"]), int(row["her2"]))] == row["tumor_subtype"]
