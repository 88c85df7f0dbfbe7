import json

import numpy as np
import pytest
import torch
from inference_helpers import tiny_checkpoint

from breastmri.data.errors import DataError
from breastmri.slices.writer import H5SliceWriter
from breastmri.inference.predictor import (Preprocessing, SlicePredictor, load_predictor, read_threshold,
                                           resolve_device, resolve_preprocessing)


def test_preprocessing_sources(tmp_path):
    state = {"task": "breast", "params": {"size": 64, "low_pct": 2.0}}
    assert resolve_preprocessing(state).size == 64 and resolve_preprocessing(state).low_pct == 2.0
    state = {"task": "breast", "preprocessing": {"size": 48}, "params": {}}
    assert resolve_preprocessing(state).size == 48
    h5 = tmp_path / "breast.h5"
    with H5SliceWriter(h5, "breast", 96, 1, seed=0, params={"size": 96, "low_pct": 0.5, "high_pct": 99.5}):
        pass  # an empty slice file: only its attributes are read
    p = resolve_preprocessing({"task": "breast", "params": {"threshold": 0.5}}, h5_path=h5)
    assert (p.size, p.low_pct, p.high_pct) == (96, 0.5, 99.5)
    with pytest.raises(DataError, match="task 'breast'"):
        resolve_preprocessing({"task": "lesion", "params": {}}, h5_path=h5)
    with pytest.raises(DataError, match="^best.pt: the checkpoint records no slice preprocessing"):
        resolve_preprocessing({"task": "lesion", "params": {}}, source="best.pt")  # never a guessed default


def test_a_lesion_model_reads_the_channel_phases_its_checkpoint_records(tmp_path):
    recorded = load_predictor(tiny_checkpoint(tmp_path / "a.pt", task="lesion", phases=[0, 4]), device="cpu")
    assert recorded.preprocessing.phases == (0, 4)
    with pytest.raises(ValueError, match=r"expected the phases of the 2 channels \[0, 4\], got 6 entries"):
        recorded.lesion_inputs([None] * 6)
    old = load_predictor(tiny_checkpoint(tmp_path / "b.pt", task="lesion"), device="cpu")
    assert old.preprocessing.phases == (0, 1, 2, 3, 4, 5)  # none recorded: from before the list, phases 0 .. C-1
    state = torch.load(tmp_path / "a.pt", weights_only=True)
    for phases, problem in (([0, 4, 5], r"c.pt: the preprocessing records 3 channel phases \[0, 4, 5\] for a model "
                                         r"of 2 input channels"),
                            ([4, 0], r"c.pt: unusable slice preprocessing in the checkpoint params: phases: the "
                                     r"first channel must be the pre-contrast phase 0")):
        state["params"]["phases"] = phases
        torch.save(state, tmp_path / "c.pt")
        with pytest.raises(DataError, match=problem):
            load_predictor(tmp_path / "c.pt", device="cpu")


def test_threshold_file_and_device(tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"threshold": 0.35, "mean_dice": 0.9}))
    assert read_threshold(path) == 0.35
    path.write_text("{}")
    with pytest.raises(DataError, match="no 'threshold'"):
        read_threshold(path)
    with pytest.raises(DataError, match="not found"):
        read_threshold(tmp_path / "none.json")
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(DataError, match="CUDA"):
            resolve_device("cuda")


def test_load_predictor_checks_task_and_weights(tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "b.pt", threshold=0.3)
    predictor = load_predictor(ckpt, device="cpu")
    assert predictor.task == "breast" and predictor.threshold == 0.3 and predictor.preprocessing.size == 32
    assert load_predictor(ckpt, device="cpu", threshold=0.6).threshold == 0.6
    with pytest.raises(DataError, match="'breast' task"):
        load_predictor(ckpt, task="lesion")
    state = torch.load(ckpt, weights_only=True)
    state["model_config"]["base"] = 4
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(DataError, match="bad.pt.*model_config"):
        load_predictor(tmp_path / "bad.pt")
    with pytest.raises(DataError, match="cannot predict"):
        predictor.predict_lesion([None] * 6)


def test_batches_do_not_change_predictions():
    torch.manual_seed(0)
    from breastmri.model.unet import UNet

    model = UNet(in_channels=1, base=2, depth=2)
    vol = np.random.default_rng(0).normal(size=(20, 30, 9)).astype(np.float32)
    a = SlicePredictor(model, Preprocessing("breast", 32), batch_size=1).predict_breast(vol)
    b = SlicePredictor(model, Preprocessing("breast", 32), batch_size=9).predict_breast(vol)
    assert a.shape == vol.shape
    np.testing.assert_allclose(a, b, atol=1e-5)


class _LeftHalf(torch.nn.Module):
    """A 'model' whose logit is the input where the column lies in the left half of the slice, else -10."""

    def forward(self, x):
        out = torch.full_like(x[:, :1], -10.0)
        out[..., : x.shape[-1] // 2] = x[:, :1, :, : x.shape[-1] // 2]
        return out


def test_mirror_tta_averages_the_mirrored_prediction_mirrored_back():
    images = np.random.default_rng(1).normal(size=(3, 1, 8, 8)).astype(np.float32)
    plain = SlicePredictor(_LeftHalf(), Preprocessing("breast", 8)).forward_slices(images)
    tta = SlicePredictor(_LeftHalf(), Preprocessing("breast", 8), mirror_tta=True).forward_slices(images)
    sig = 1 / (1 + np.exp(-images[:, 0].astype(np.float64)))
    low = 1 / (1 + np.exp(10.0))
    np.testing.assert_allclose(plain[..., :4], sig[..., :4], rtol=1e-5)
    np.testing.assert_allclose(plain[..., 4:], low, rtol=1e-4)
    # the mirrored pass sees column j at 7 - j: its left half scores the original right half
    np.testing.assert_allclose(tta, (sig + low) / 2, rtol=1e-4)


def test_mirror_tta_prediction_of_a_mirror_symmetric_scan_is_mirror_symmetric():
    torch.manual_seed(0)
    from breastmri.model.unet import UNet

    model = UNet(in_channels=1, base=2, depth=2)
    vol = np.random.default_rng(0).normal(size=(20, 30, 4)).astype(np.float32)
    sym = np.concatenate([vol[:, :15], vol[:, :15][:, ::-1]], axis=1)  # left-right mirror-symmetric volume
    plain = SlicePredictor(model, Preprocessing("breast", 32)).predict_breast(sym)
    tta = SlicePredictor(model, Preprocessing("breast", 32), mirror_tta=True).predict_breast(sym)
    assert not np.allclose(plain, plain[:, ::-1], atol=1e-3)  # the untrained model itself is not symmetric
    np.testing.assert_allclose(tta, tta[:, ::-1], atol=1e-5)


def test_restore_slices_in_threads_equals_one_by_one():
    from breastmri.inference.predictor import restore_slices
    from breastmri.slices.geometry import SliceGeometry, undo_resize_pad

    rng = np.random.default_rng(5)
    geometry = SliceGeometry.for_shape(57, 43, 32, pixel_aspect=1.3)
    probs = rng.uniform(-0.2, 1.2, size=(11, 32, 32)).astype(np.float32)  # out of range values: clipped
    alone = restore_slices(probs, geometry, undo_resize_pad, workers=1)
    assert alone.shape == (57, 43, 11) and alone.dtype == np.float32 and alone.min() >= 0 and alone.max() <= 1
    for workers in (2, 3, 16):
        assert restore_slices(probs, geometry, undo_resize_pad, workers=workers).tobytes() == alone.tobytes()
