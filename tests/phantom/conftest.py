"""Shared phantoms from the repository's params.yaml: a small complete one (every cohort of both layouts, every
planted defect) and a 40-patient inference set."""

from pathlib import Path

import pytest

from breastmri.phantom.synthesize import synthesize
from breastmri.stages.synthesize import Config

PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"
#: every seed cohort twice per split (10 per split for the 5 default cohorts), every MAMA-MIA cohort
SMALL = {"seed": 5, "n_train": 10, "n_inference": 10, "n_mamamia": 5, "duke_matrix": 96}
COHORT = {"seed": 42, "n_train": 0, "n_inference": 40, "n_mamamia": 0, "duke_matrix": 96}


def phantom_settings(out_dir, **overrides) -> dict:
    """The keyword arguments of ``synthesize``: params.yaml's section with ``overrides``."""
    return Config.from_params(PARAMS).updated(out_dir=out_dir, **overrides).as_dict()


@pytest.fixture(scope="session")
def small_phantom(tmp_path_factory):
    """(root, summary, settings) of a small phantom with the params.yaml cohorts and rates."""
    root = tmp_path_factory.mktemp("small_phantom")
    values = phantom_settings(root, **SMALL)
    return root, synthesize(**values), values


@pytest.fixture(scope="session")
def cohort_phantom(tmp_path_factory):
    """(root, summary) of 40 inference patients: enough for the planted associations and hit rates."""
    root = tmp_path_factory.mktemp("cohort_phantom")
    return root, synthesize(**phantom_settings(root, **COHORT))
