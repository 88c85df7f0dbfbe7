"""Threshold stage: 0.05-0.95 sweep of mean per-patient Dice, curve files, chosen threshold."""

import json

import numpy as np
import pytest

from breastmri.cli import main as cli
from breastmri.data.errors import DataError
from breastmri.slices.dataset import H5SliceDataset
from breastmri.training.checkpoint import load_checkpoint
from breastmri.training.metrics import per_patient_dice
from breastmri.model.unet import build_model
from breastmri.training.train import train_task
from breastmri.training.threshold import choose_threshold, curve_of, run_threshold, sweep, threshold_grid


@pytest.fixture
def trained(breast_h5, tmp_path, tiny_params):
    train_task(breast_h5, tmp_path / "m", tmp_path / "live", "breast", **tiny_params("breast", max_epochs=2))
    return tmp_path / "m/best.pt"


def test_grid_is_005_to_095_without_float_drift():
    grid = threshold_grid()
    assert len(grid) == 19 and grid[0] == 0.05 and grid[9] == 0.5 and grid[-1] == 0.95
    assert threshold_grid(0.1, 0.3, 0.1) == (0.1, 0.2, 0.3)
    with pytest.raises(ValueError):
        threshold_grid(0.0, 0.9, 0.1)


def test_choice_is_the_best_mean_dice_with_ties_closest_to_half():
    curve = [{"threshold": t, "mean_dice": d, "se": 0.0} for t, d in [(0.3, 0.8), (0.4, 0.9), (0.6, 0.9), (0.7, 0.5)]]
    for selection in ("best", "one_se"):  # with no spread the rules agree
        assert choose_threshold(curve, selection)["threshold"] == 0.4
    curve[2]["mean_dice"] = 0.91
    assert choose_threshold(curve, "best")["threshold"] == 0.6
    with pytest.raises(ValueError):
        choose_threshold([{"threshold": 0.5, "mean_dice": float("nan"), "se": 0.0}])
    with pytest.raises(ValueError, match="selection must be one of"):
        choose_threshold(curve, "max")


def test_one_se_rule_keeps_the_threshold_nearest_half_within_one_standard_error_of_the_best():
    """The default's flat curve: best 0.05 by 0.0004, standard error 0.006 -> 0.5."""
    scores = np.array([[0.975, 0.974], [0.957, 0.956], [0.951, 0.951], [0.978, 0.978]])  # 4 patients x (0.05, 0.5)
    curve = curve_of((0.05, 0.5), scores)
    assert curve[0]["se"] == pytest.approx(scores[:, 0].std(ddof=1) / 2)
    assert choose_threshold(curve, "best")["threshold"] == 0.05
    assert choose_threshold(curve, "one_se")["threshold"] == 0.5
    clear = curve_of((0.05, 0.5), scores - np.array([0.0, 0.02]))  # 0.5 worse by more than one standard error
    assert choose_threshold(clear, "one_se")["threshold"] == 0.05
    assert curve_of((0.5,), np.array([[0.9]]))[0]["se"] == 0.0  # one patient: no spread to allow


def test_sweep_equals_stacked_per_patient_dice(trained, breast_h5):
    state = load_checkpoint(trained)
    model = build_model(state["model_config"])
    model.load_state_dict(state["model_state"])
    ds = H5SliceDataset(breast_h5, "validation")
    curve, _ = sweep(model, ds, (0.3, 0.5), batch_size=5)
    import torch

    with torch.no_grad():
        probs = torch.sigmoid(model.eval()(torch.stack([ds[i]["image"] for i in range(len(ds))]))).numpy()
    masks = np.stack([ds[i]["mask"].numpy() for i in range(len(ds))]) > 0.5
    for row in curve:
        expected = per_patient_dice(probs > row["threshold"], masks, ds.patient_ids, ds.slice_indices)
        assert row["mean_dice"] == pytest.approx(np.mean(list(expected.values())))


def test_stage_writes_curve_figure_and_choice(trained, breast_h5, tmp_path):
    out = tmp_path / "thr"
    result = run_threshold(trained, breast_h5, out)
    rows = (out / "threshold_curve.csv").read_text().splitlines()
    assert rows[0] == "threshold,mean_dice,se" and len(rows) == 20 and rows[1].startswith("0.05,")
    dice = {float(t): (float(d), float(e)) for t, d, e in (r.split(",") for r in rows[1:])}
    top = max(d for d, _ in dice.values())
    assert result["best_mean_dice"] == pytest.approx(top, abs=1e-6) and result["selection"] == "one_se"
    assert dice[result["threshold"]][0] >= top - dice[result["best_threshold"]][1] - 1e-6
    assert abs(result["threshold"] - 0.5) <= abs(result["best_threshold"] - 0.5)
    assert json.loads((out / "threshold.json").read_text()) == result
    assert result["n_patients"] == 2 and result["task"] == "breast"
    assert (out / "threshold_curve.png").read_bytes()[:4] == b"\x89PNG"
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    run_threshold(trained, breast_h5, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first  # deterministic files


def test_command_with_params_sections_and_task_mismatch(trained, breast_h5, tmp_path, capsys, params_file):
    section = {"task": "breast", "checkpoint": str(trained), "h5": str(breast_h5), "out_dir": str(tmp_path / "t"),
               "start": 0.1, "stop": 0.9, "step": 0.1, "batch_size": 4, "device": "cpu", "selection": "one_se"}
    variant = {"overrides": "threshold_breast", "out_dir": str(tmp_path / "t2"), "selection": "best"}
    params = params_file(threshold_breast=section, threshold_breast_variant=variant)
    assert cli(["threshold", "--params", str(params)]) == 0
    assert len((tmp_path / "t/threshold_curve.csv").read_text().splitlines()) == 10
    assert "threshold" in capsys.readouterr().out
    assert cli(["threshold", "--params", str(params), "--sections", "data", "threshold_breast",
                "threshold_breast_variant"]) == 0
    assert json.loads((tmp_path / "t2/threshold.json").read_text())["selection"] == "best"
    with pytest.raises(DataError, match="not 'lesion'"):
        run_threshold(trained, breast_h5, tmp_path / "x", task="lesion")


def test_lesion_threshold_chosen_on_whole_volumes_where_low_thresholds_add_false_positives(tmp_path, monkeypatch):
    """A stand-in lesion model: 0.6 on the lesion, 0.3 on a decoy blob elsewhere in the volume, 0 on the rest.
    On whole volumes a threshold below 0.3 adds the decoy, one of 0.6 or above loses the lesion."""
    import nibabel as nib

    from breastmri.data.io import save_nifti
    from breastmri.inference.predictor import SlicePredictor
    from breastmri.model.unet import UNet
    from breastmri.slices.writer import H5SliceWriter
    from breastmri.training.checkpoint import save_checkpoint

    root = tmp_path / "mamamia"
    for case in ("A_1", "B_2"):
        image = np.zeros((16, 16, 12), np.float32)
        image[4:8, 4:8, 3:6] = 100.0
        save_nifti(image, np.diag([1.0, 1.0, 2.0, 1.0]), root / "images" / case / f"{case}_0000.nii.gz")
        save_nifti((image > 0).astype(np.uint8), np.diag([1.0, 1.0, 2.0, 1.0]),
                   root / "segmentations" / "expert" / f"{case}.nii.gz")
    h5 = tmp_path / "lesion.h5"
    with H5SliceWriter(h5, "lesion", 32, 6, seed=0, params={}, split={"train": [], "validation": ["A_1", "B_2"]}):
        pass  # only the split attribute is read

    def predict(self, paths, box=None):
        mask = np.asarray(nib.load(paths[0]).dataobj) > 0
        prob = 0.6 * mask
        prob[10:14, 10:14, 6:9] = 0.3
        return prob.astype(np.float32)
    monkeypatch.setattr(SlicePredictor, "predict_lesion", predict)
    model = UNet(in_channels=6, base=2, depth=2)
    ckpt = save_checkpoint({"model_state": model.state_dict(), "model_config": model.config, "task": "lesion",
                            "epoch": 1, "params": {"task": "lesion", "size": 16, "spacing_mm": 1.0}}, tmp_path / "l.pt")
    chosen = run_threshold(ckpt, h5, tmp_path / "out", task="lesion", evaluate_on="volumes", mamamia_root=root)
    lines = (tmp_path / "out" / "threshold_curve.csv").read_text().split()[1:]
    curve = {t: d for t, d, _ in (line.split(",") for line in lines)}
    assert chosen["threshold"] == 0.5 and chosen["mean_dice"] == 1.0 and chosen["evaluated_on"] == "volumes"
    assert chosen["n_patients"] == 2
    assert float(curve["0.25"]) == pytest.approx(2 * 48 / (48 + 48 + 48))  # the decoy counts below 0.3
    assert float(curve["0.60"]) == 0.0                                        # strictly above: nothing left
    with pytest.raises(DataError, match="needs the lesion task"):
        run_threshold(ckpt, h5, tmp_path / "out", task="lesion", evaluate_on="volumes", mamamia_root=None)
