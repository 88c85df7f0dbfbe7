"""Shared phantoms: a tiny complete one (every layout feature) and a 40-patient inference set."""

import pytest

from breastmri.phantom.synthesize import synthesize

SMALL = {"seed": 5, "n_train": 3, "n_inference": 3, "n_mamamia": 3}
COHORT = {"seed": 42, "n_train": 0, "n_inference": 40, "n_mamamia": 0}


@pytest.fixture(scope="session")
def small_phantom(tmp_path_factory):
    """(root, summary, parameters) of a tiny phantom with defaults for the rates."""
    root = tmp_path_factory.mktemp("small_phantom")
    return root, synthesize(root, **SMALL), SMALL


@pytest.fixture(scope="session")
def cohort_phantom(tmp_path_factory):
    """(root, summary) of 40 inference patients: enough for the planted associations and hit rates."""
    root = tmp_path_factory.mktemp("cohort_phantom")
    return root, synthesize(root, **COHORT)
