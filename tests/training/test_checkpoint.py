"""Checkpoints: atomic writes, weights_only loading, refusal of pickled objects, clear errors."""

import numpy as np
import pytest
import torch

from breastmri.data.errors import DataError
from breastmri.model.unet import UNet
from breastmri.training.checkpoint import load_checkpoint, save_checkpoint


def _state():
    model = UNet(1, base=2, depth=1)
    return {"model_state": model.state_dict(), "model_config": model.config, "task": "breast", "epoch": 3,
            "params": {"lr": 0.001, "seed": 1}, "rng": {"torch": torch.get_rng_state()}, "best_val_loss": 0.25}


def test_round_trip_keeps_tensors_and_plain_values(tmp_path):
    state = _state()
    path = save_checkpoint(state, tmp_path / "models" / "best.pt")
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 3 and loaded["params"] == state["params"] and loaded["task"] == "breast"
    assert all(torch.equal(loaded["model_state"][k], v) for k, v in state["model_state"].items())
    UNet(**loaded["model_config"]).load_state_dict(loaded["model_state"])
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["best.pt"]  # no temp file left


def test_same_state_gives_the_same_bytes(tmp_path):
    state = _state()
    first = save_checkpoint(state, tmp_path / "a" / "best.pt").read_bytes()
    assert save_checkpoint(state, tmp_path / "b" / "best.pt").read_bytes() == first  # no temp name inside


class Payload:  # an arbitrary class: unpickling it would run code from the file
    def __init__(self):
        self.x = 1


@pytest.mark.parametrize("bad", [Payload(), np.arange(3), print])
def test_checkpoint_with_a_pickled_object_is_refused(tmp_path, bad):
    state = _state()
    state["params"] = {"extra": bad}
    path = tmp_path / "evil.pt"
    torch.save(state, path)
    with pytest.raises(DataError, match="refused") as err:
        load_checkpoint(path)
    assert err.value.path == path and "evil.pt" in str(err.value)


def test_missing_empty_truncated_and_foreign_files_raise_naming_the_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_checkpoint(tmp_path / "absent.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        load_checkpoint(tmp_path / "empty.pt")
    good = save_checkpoint(_state(), tmp_path / "good.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="cut.pt: cannot read checkpoint"):
        load_checkpoint(tmp_path / "cut.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(DataError, match="missing model_state"):
        load_checkpoint(tmp_path / "other.pt")


def test_save_refuses_an_incomplete_state(tmp_path):
    with pytest.raises(ValueError, match="model_config"):
        save_checkpoint({"model_state": {}, "task": "breast", "epoch": 0, "params": {}}, tmp_path / "x.pt")


def test_canonical_keeps_content_types_and_state_dict_metadata():
    from collections import OrderedDict

    from breastmri.training.checkpoint import canonical

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    state = model.state_dict()
    out = canonical({"model_state": state, "history": [{"loss": 1.0}, ("a", 2)]})
    assert type(out["model_state"]) is OrderedDict and out["model_state"]._metadata == state._metadata
    assert list(out["model_state"]) == list(state) and out["history"] == [{"loss": 1.0}, ("a", 2)]
    assert type(out["history"][1]) is tuple and out["model_state"]["0.weight"] is state["0.weight"]
    loaded_key = "".join(["lo", "ss"])  # an equal string that is a different object, as after torch.load
    assert canonical({loaded_key: 1}).popitem()[0] is canonical({"loss": 2}).popitem()[0]
