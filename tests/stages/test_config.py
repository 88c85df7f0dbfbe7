"""A stage config holds exactly its params.yaml sections' keys, each of its declared type; no defaults."""

import dataclasses

import pytest
import yaml

from breastmri.data.errors import DataError
from breastmri.stages import STAGES, orient, real_data, train
from breastmri.stages.config import StageConfig


@dataclasses.dataclass(frozen=True)
class Tiny(StageConfig):
    SECTIONS = ("tiny",)
    name: str
    count: int
    rate: float
    on: bool
    augment: dict | bool


GOOD = {"name": "a", "count": 2, "rate": 1, "on": True, "augment": False}


def test_exact_keys_and_types_are_accepted_and_frozen():
    config = Tiny.from_mapping(GOOD)
    assert config.as_dict() == GOOD and config.rate == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.count = 3


@pytest.mark.parametrize("change, message", [
    ({"cuont": 2}, "unknown key(s) cuont"),
    ({"count": None}, "'count' must be int, not None"),
    ({"count": True}, "'count' must be int, not True"),
    ({"count": 2.5}, "'count' must be int, not 2.5"),
    ({"rate": "fast"}, "'rate' must be float, not 'fast'"),
    ({"on": "yes"}, "'on' must be bool"),
    ({"augment": []}, "'augment' must be dict or bool"),
])
def test_a_typo_or_a_wrong_type_is_an_error_naming_the_file_and_key(change, message):
    values = {**GOOD, **change}
    if "cuont" in change:
        values.pop("count")
    with pytest.raises(DataError) as err:
        Tiny.from_mapping(values, "my.yaml")
    assert str(err.value).startswith("my.yaml: ") and message in str(err.value)
    if "cuont" in change:
        assert "missing key(s) count" in str(err.value)


def test_from_params_merges_the_sections_in_order(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"tiny": GOOD, "variant": {"overrides": "tiny", "count": 5}}))
    assert Tiny.from_params(path).count == 2
    assert Tiny.from_params(path, ["tiny", "variant"]).count == 5
    with pytest.raises(DataError, match="no section 'nope'"):
        Tiny.from_params(path, ["nope"])


def test_no_stage_config_field_has_a_default():
    import importlib

    for name in STAGES:
        config = importlib.import_module(f"breastmri.stages.{name}").Config
        defaulted = [f.name for f in dataclasses.fields(config)
                     if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING]
        assert not defaulted, f"{name}: {defaulted}"


def test_derived_settings(params_file):
    path = params_file(anatomy={"n_slices": 5}, train_breast_baseline={"augment": False})
    heuristics = orient.Config.from_params(path).heuristics()
    assert heuristics.n_slices == 5 and heuristics.min_margin["scan_swap"] == 0.05
    baseline = train.Config.from_params(path, ["train_breast", "train_breast_baseline"])
    assert baseline.augment is False and "out_dir" not in baseline.hyperparameters()
    assert set(baseline.hyperparameters()) | set(train.PATH_KEYS) == set(train.Config.keys())
    real = real_data.Config.from_params(path)
    assert real.lesion_settings()["checkpoint"] == "models/lesion/best.pt" and real.real_root
