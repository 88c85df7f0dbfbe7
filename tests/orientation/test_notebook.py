"""The stage notebook declares exactly the keys of the params.yaml sections it runs with (data + orient), its
defaults are the params.yaml values, and they make valid stage settings."""

import ast
from pathlib import Path

import papermill
import yaml

from breastmri.orientation.orient import AFFINE_MODES, HeuristicSettings
from breastmri.orientation.record import MARGINS
from breastmri.orientation.stage import ON_FAILURE, SETTINGS_KEYS, settings_from_params
from breastmri.pipeline.notebook import check_parameters
from breastmri.pipeline.params import merged_sections

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "03_orient.ipynb"
PARAMS = ROOT / "params.yaml"
DATA_KEYS = {"seed_root", "mamamia_root", "truth_dir", "seed_affine", "mamamia_affine"}
ORIENT_KEYS = {"out_dir", "record_path", "metrics_path", "workers", "n_slices", "end_fraction", "noise_factor",
               "floor_fraction", "min_solidity", "min_margin", "min_inside_body", "min_anterior", "min_breast_ml", "on_failure",
               "n_preview", "real_examples"}


def _declared():
    return {name: ast.literal_eval(p["default"]) for name, p in papermill.inspect_notebook(str(NOTEBOOK)).items()}


def _params():
    return yaml.safe_load(PARAMS.read_text())


def test_notebook_declares_exactly_the_data_and_orient_keys():
    declared = _declared()
    assert set(declared) == DATA_KEYS | ORIENT_KEYS
    values = merged_sections(_params(), ["data", "orient"], PARAMS)
    check_parameters(NOTEBOOK, values)  # what the DVC stage runs with: no unknown, no missing key


def test_notebook_defaults_are_the_params_values_and_valid():
    declared = _declared()
    values = merged_sections(_params(), ["data", "orient"], PARAMS)
    assert declared == values
    assert declared["seed_affine"] in AFFINE_MODES and declared["mamamia_affine"] in AFFINE_MODES
    assert declared["on_failure"] in ON_FAILURE
    assert set(declared["min_margin"]) == set(MARGINS)
    assert set(SETTINGS_KEYS) <= set(declared)
    settings = settings_from_params(declared)
    assert settings.to_dict() == {name: declared[name] for name in SETTINGS_KEYS}
    assert settings == HeuristicSettings(**{name: declared[name] for name in SETTINGS_KEYS})
