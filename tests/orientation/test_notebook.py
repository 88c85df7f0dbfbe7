"""The stage notebook declares exactly the data keys plus the orient section, and its defaults are valid."""

from pathlib import Path

import papermill

from breastmri.orientation.orient import HeuristicSettings
from breastmri.orientation.stage import settings_from_params

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "03_orient.ipynb"
DATA_KEYS = {"seed_root", "mamamia_root", "truth_dir"}
ORIENT_KEYS = {"out_dir", "record_path", "metrics_path", "workers", "n_slices", "central_span", "end_fraction",
               "brightness_percentile", "background_fraction", "n_preview"}


def test_notebook_parameters_and_defaults():
    declared = papermill.inspect_notebook(str(NOTEBOOK))
    assert set(declared) == DATA_KEYS | ORIENT_KEYS
    defaults = {name: eval(p["default"]) for name, p in declared.items()}  # noqa: S307 (literals only)
    assert settings_from_params(defaults) == HeuristicSettings()
