"""The orient stage's settings in params.yaml are valid: affine modes, failure policy, every decision's margin;
the anatomy section reaches every stage that segments breasts."""

import dataclasses
from pathlib import Path

from breastmri.orientation.orient import AFFINE_MODES, HeuristicSettings
from breastmri.orientation.record import MARGINS
from breastmri.orientation.dataset import ON_FAILURE
from breastmri.stages import orient
from breastmri.stages.anatomy import AnatomyConfig

PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


def test_params_yaml_gives_valid_orientation_settings():
    config = orient.Config.from_params(PARAMS)
    assert config.seed_affine in AFFINE_MODES and config.mamamia_affine in AFFINE_MODES
    assert config.on_failure in ON_FAILURE
    assert set(config.min_margin) == set(MARGINS)
    settings = config.heuristics()
    assert isinstance(settings, HeuristicSettings)
    assert settings.to_dict() == {f.name: getattr(config, f.name) for f in dataclasses.fields(AnatomyConfig)}


def test_the_anatomy_rules_reach_every_stage_that_places_scans_or_judges_breast_masks(params_file):
    from breastmri.stages import infer, infer_lesion, real_data, transfer

    path = params_file(anatomy={"min_breast_ml": 80.0, "min_front_covered": 0.7})
    for stage in (orient, infer, infer_lesion, real_data, transfer):
        settings = stage.Config.from_params(path).heuristics()
        assert (settings.min_breast_ml, settings.min_front_covered) == (80.0, 0.7), stage.__name__
    assert infer_lesion.Config.from_params(path).lesion_settings()["settings"].min_breast_ml == 80.0
