"""The training and threshold notebooks declare exactly the keys their params sections hold."""

import ast
from pathlib import Path

import papermill

from breastmri.pipeline.params import load_params
from breastmri.training import augment, threshold
from breastmri.training.stage import PATH_KEYS, default_params

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def _declared(name):
    return {k: v["default"] for k, v in papermill.inspect_notebook(str(NOTEBOOKS / name)).items()}


def test_train_notebook_parameters_are_task_paths_and_hyperparameters():
    declared = _declared("05_train.ipynb")
    expected = default_params("breast")
    assert set(declared) == {"task", *PATH_KEYS} | set(expected)
    assert augment.parse_settings(ast.literal_eval(declared.pop("augment"))) == expected.pop("augment")
    for key, value in expected.items():  # notebook defaults = the code's breast defaults
        assert declared[key].strip('"') == str(value) or float(declared[key]) == float(value), key


def test_threshold_notebook_parameters():
    declared = _declared("06_threshold.ipynb")
    data = load_params(NOTEBOOKS.parent / "params.yaml")["data"]  # the lesion sweep reads data.mamamia_root
    assert set(declared) == {"task", *threshold.PATH_KEYS} | set(threshold.DEFAULTS) | set(data)
