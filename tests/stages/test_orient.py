"""The orient stage's settings in params.yaml are valid: affine modes, failure policy, every decision's margin."""

from pathlib import Path

from breastmri.orientation.orient import AFFINE_MODES, HeuristicSettings
from breastmri.orientation.record import MARGINS
from breastmri.orientation.dataset import ON_FAILURE
from breastmri.stages import orient

PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


def test_params_yaml_gives_valid_orientation_settings():
    config = orient.Config.from_params(PARAMS)
    assert config.seed_affine in AFFINE_MODES and config.mamamia_affine in AFFINE_MODES
    assert config.on_failure in ON_FAILURE
    assert set(config.min_margin) == set(MARGINS)
    settings = config.heuristics()
    assert isinstance(settings, HeuristicSettings)
    assert settings.to_dict() == {name: getattr(config, name) for name in orient.HEURISTIC_KEYS}
