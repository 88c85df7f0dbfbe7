"""Parameter profiles: every override names an existing key; printed as `dvc exp run -S` options."""

from pathlib import Path

import pytest
import yaml

from breastmri.data.errors import DataError
from breastmri.pipeline.params import load_params
from breastmri.cli import main as cli
from breastmri.pipeline.profile import profile_overrides, set_options

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_profile_of_the_repository_is_the_published_setting():
    params = load_params(ROOT / "params.yaml")
    gpu = profile_overrides(params, "gpu")
    assert gpu["build_hdf5.breast_size"] == 512
    assert gpu["train_breast.base"] == gpu["train_lesion.base"] == 64
    assert params["train_breast"]["base"] < 64  # the default stays CPU-sized


def test_unknown_profile_or_key_is_an_error(tmp_path):
    params = {"train": {"lr": 0.1}, "profiles": {"good": {"train.lr": 0.2}, "typo": {"train.lrr": 0.2}}}
    assert profile_overrides(params, "good") == {"train.lr": 0.2}
    with pytest.raises(DataError, match="no profile 'gpu'"):
        profile_overrides(params, "gpu")
    with pytest.raises(DataError, match="'train.lrr' is not an existing section.key"):
        profile_overrides(params, "typo")


def test_command_prints_set_options(tmp_path, capsys):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"train": {"lr": 0.1, "amp": False},
                                    "profiles": {"fast": {"train.lr": 0.2, "train.amp": True}}}, sort_keys=False))
    assert cli(["profile", "fast", "--params", str(path)]) == 0
    assert capsys.readouterr().out.split() == ["-S", "train.lr=0.2", "-S", "train.amp=true"]
    assert set_options({"a.b": "x y"}) == ["-S", "a.b=x y"]
    assert cli(["profile", "nope", "--params", str(path)]) == 1
    assert "no profile 'nope'" in capsys.readouterr().err
