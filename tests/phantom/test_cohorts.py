"""Cohort settings: validation naming the offending entry, patients split by share with a guaranteed minimum."""

from collections import Counter

import numpy as np
import pytest

from breastmri.data.errors import DataError
from breastmri.phantom.cohorts import assign, parse_mamamia_cohorts, parse_orientation, parse_seed_cohorts
from breastmri.phantom.mamamia import COHORTS
from breastmri.pipeline.params import load_params

from .conftest import PARAMS

SECTION = load_params(PARAMS)["synthesize"]


def _seed(**changes):
    """The repository's seed cohorts with entries changed (a dict: keys set, None values removed), added (any
    other value) or dropped (None)."""
    config = {name: dict(entry) for name, entry in SECTION["seed_cohorts"].items()}
    for name, change in changes.items():
        if isinstance(change, dict) and name in config:
            config[name] = {k: v for k, v in {**config[name], **change}.items() if v is not None}
        else:
            config[name] = change
    return {k: v for k, v in config.items() if v is not None}


def test_the_repository_cohorts_are_valid():
    cohorts = parse_seed_cohorts(SECTION["seed_cohorts"], SECTION["duke_matrix"])
    assert [c.name for c in cohorts] == list(SECTION["seed_cohorts"])
    assert {c.affine for c in cohorts} == {"seed", "scanner"}
    assert {c.style.contrast for c in cohorts} == {"fat_suppressed", "t1", "inverted"}
    assert {c.style.acquisition for c in cohorts} == {"phantom", "duke"} and any(c.style.symmetric for c in cohorts)
    assert all(c.style.bilateral and c.style.duke_matrix == SECTION["duke_matrix"] for c in cohorts)
    mamamia = parse_mamamia_cohorts(SECTION["mamamia_cohorts"], COHORTS)
    assert {n: (c.view, c.bilateral, c.orientation, c.fov) for n, c in mamamia.items()} == {
        "DUKE": ("axial", True, "LPS", "body"), "ISPY2": ("axial", True, "LPS", "body"),
        "ISPY1": ("sagittal", False, "PIR", "breast"), "NACT": ("sagittal", False, "PIR", "breast")}
    assert mamamia["NACT"].style.acquisition == "sagittal" and not mamamia["NACT"].style.bilateral
    assert mamamia["NACT"].style.fov == "breast" and mamamia["NACT"].style.lesion_scale > 1.0
    assert mamamia["DUKE"].style.lesion_scale == 1.0
    # the phase counts of most real cases of each cohort (num_phases of the real MAMA-MIA table)
    assert {n: c.phases for n, c in mamamia.items()} == {"DUKE": (4, 5), "ISPY1": (3, 4), "ISPY2": (6, 8),
                                                         "NACT": (3, 3)}


@pytest.mark.parametrize("acquisition, fov", [("sagittal", "breast"), ("sagittal_slab", "slab")])
def test_a_sagittal_seed_cohort_shows_one_breast_in_a_breast_field_of_view(acquisition, fov):
    cohorts = parse_seed_cohorts(_seed(duke={"acquisition": acquisition, "contrast": "dark_fat"}), 448)
    style = {c.name: c.style for c in cohorts}
    assert (style["duke"].acquisition, style["duke"].bilateral, style["duke"].fov) == ("sagittal", False, fov)
    assert style["duke"].contrast == "dark_fat"
    assert all(s.bilateral and s.fov == "body" for name, s in style.items() if name != "duke")


@pytest.mark.parametrize("changes, message", [
    ({"seedlike": {"shares": 0.4, "share": None}},
     r"seed_cohorts\.seedlike: unknown key\(s\) shares; missing key\(s\) share"),
    ({"seedlike": {"contrast": "T2"}}, r"seedlike\.contrast: 'T2' is not one of fat_suppressed, t1, inverted"),
    ({"duke": {"affine": "dicom"}}, r"duke\.affine: 'dicom' is not one of seed, scanner"),
    ({"duke": {"acquisition": "coronal"}}, r"duke\.acquisition: 'coronal' is not one of phantom, duke, sagittal"),
    ({"inverted": {"symmetric": "yes"}}, r"inverted\.symmetric: expected true or false"),
    ({"inverted": {"share": -0.1}}, r"inverted\.share: expected a number in \[0, 1\]"),
    ({"inverted": None}, r"the shares sum to 0\.9, not 1"),
    ({"extra": "scanner"}, r"seed_cohorts\.extra: expected a non-empty mapping"),
])
def test_bad_seed_cohorts_are_named(changes, message):
    with pytest.raises(DataError, match=message):
        parse_seed_cohorts(_seed(**changes), 448)


def test_bad_mamamia_cohorts_and_orientations_are_named():
    config = {name: dict(entry) for name, entry in SECTION["mamamia_cohorts"].items()}
    with pytest.raises(DataError, match=r"mamamia_cohorts: missing key\(s\) NACT"):
        parse_mamamia_cohorts({k: v for k, v in config.items() if k != "NACT"}, COHORTS)
    with pytest.raises(DataError, match=r"NACT\.orientation: stored axis 2 of a sagittal stack points L or R"):
        parse_mamamia_cohorts({**config, "NACT": {**config["NACT"], "orientation": "LPS"}}, COHORTS)
    with pytest.raises(DataError, match=r"DUKE\.view: 'coronal' is not one of axial, sagittal"):
        parse_mamamia_cohorts({**config, "DUKE": {**config["DUKE"], "view": "coronal"}}, COHORTS)
    with pytest.raises(DataError, match=r"ISPY1\.fov: 'thorax' is not one of body, breast"):
        parse_mamamia_cohorts({**config, "ISPY1": {**config["ISPY1"], "fov": "thorax"}}, COHORTS)
    with pytest.raises(DataError, match=r"ISPY2\.lesion_scale: expected a number in \[0\.5, 3\]"):
        parse_mamamia_cohorts({**config, "ISPY2": {**config["ISPY2"], "lesion_scale": 10}}, COHORTS)
    for phases in ([5, 4], [1, 3], [3], [3.0, 4], "3-4"):
        with pytest.raises(DataError, match=r"ISPY2\.phases: expected \[low, high\], whole numbers of phases with "
                                            r"2 <= low <= high"):
            parse_mamamia_cohorts({**config, "ISPY2": {**config["ISPY2"], "phases": phases}}, COHORTS)
    with pytest.raises(DataError, match=r"scanner_orientations\[1\]: stored axis 2 of a axial stack points S or I"):
        parse_orientation("PIR", "axial", "synthesize.scanner_orientations[1]")
    with pytest.raises(DataError, match=r"scanner_orientations\[0\]: 'XYZ' is not an orientation"):
        parse_orientation("XYZ", "axial", "synthesize.scanner_orientations[0]")


@pytest.mark.parametrize("n", [0, 3, 7, 10, 24, 40])
def test_patients_are_split_by_share_with_two_per_cohort_when_possible(n):
    cohorts = parse_seed_cohorts(SECTION["seed_cohorts"], 448)
    members = assign(np.random.default_rng(0), n, cohorts)
    counts = Counter(members)
    assert len(members) == n and sum(counts.values()) == n
    if n >= 2 * len(cohorts):
        assert all(counts[c.name] >= 2 for c in cohorts)
    if min(c.share for c in cohorts) * n >= 2:  # the minimum does not bind
        assert all(abs(counts[c.name] - c.share * n) < 1 for c in cohorts)
    assert assign(np.random.default_rng(0), n, cohorts) == members
    assert n < 10 or assign(np.random.default_rng(1), n, cohorts) != members  # the order is shuffled by seed


def test_a_cohort_with_no_share_gets_no_patients():
    cohorts = parse_seed_cohorts(_seed(seedlike={"share": 0.5}, duke={"share": 0.0}), 448)
    counts = Counter(assign(np.random.default_rng(0), 30, cohorts))
    assert "duke" not in counts and counts["seedlike"] == 15
