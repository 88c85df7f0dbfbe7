"""Acceptance 2: patient-level split, disjoint, identical for the same seed."""

import pytest

from breastmri.slices.split import split_patients, validation_flags

IDS = [f"Breast_MRI_{i:03d}" for i in range(1, 42)]


def test_split_is_disjoint_complete_and_sized():
    s = split_patients(IDS, 0.2, seed=3)
    assert not set(s["train"]) & set(s["validation"])
    assert sorted(s["train"] + s["validation"]) == IDS
    assert len(s["validation"]) == round(0.2 * len(IDS))


def test_split_depends_only_on_the_set_and_seed():
    assert split_patients(IDS, 0.2, 3) == split_patients(list(reversed(IDS)), 0.2, 3)
    assert split_patients(IDS, 0.2, 3) != split_patients(IDS, 0.2, 4)


def test_small_and_edge_cases():
    assert split_patients(["a"], 0.5, 0) == {"train": ["a"], "validation": []}
    assert len(split_patients(["a", "b", "c"], 0.01, 0)["validation"]) == 1
    assert split_patients(["a", "b"], 0.0, 0)["validation"] == []
    with pytest.raises(ValueError):
        split_patients(IDS, 1.0, 0)
    with pytest.raises(ValueError):
        validation_flags({"train": ["a"], "validation": ["a"]})
