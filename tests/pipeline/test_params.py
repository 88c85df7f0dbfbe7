import pytest

from breastmri.data.errors import DataError
from breastmri.pipeline.params import call_with_section


def _stage(root, out_dir, n_preview=6):
    return root, out_dir, n_preview


def test_call_with_section_passes_settings_by_name():
    params = {"data": {"root": "r"}, "stage": {"out_dir": "o", "n_preview": 2}}
    assert call_with_section(_stage, params, "stage", root="r") == ("r", "o", 2)


def test_typo_missing_section_and_a_fixed_key_in_the_section_are_errors():
    with pytest.raises(DataError, match="params.yaml.*unknown key.*n_preveiw"):
        call_with_section(_stage, {"stage": {"out_dir": "o", "n_preveiw": 2}}, "stage", root="r")
    with pytest.raises(DataError, match="no section 'stage'"):
        call_with_section(_stage, {"data": {}}, "stage", root="r")
    with pytest.raises(DataError, match="unknown key.*root"):  # set by the command, not by the section
        call_with_section(_stage, {"stage": {"out_dir": "o", "root": "x"}}, "stage", root="r")
