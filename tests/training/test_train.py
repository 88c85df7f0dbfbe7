"""Training stage: best checkpoint = lowest validation loss, exact resume, deterministic outputs, CLI."""

import json

import h5py
import pytest
import torch

from breastmri.cli import main as cli
from breastmri.data.errors import DataError
from breastmri.inference.predictor import resolve_preprocessing
from breastmri.stages import train as stage
from breastmri.training.checkpoint import load_checkpoint
from breastmri.training.loop import FitConfig
from breastmri.training.train import (FIT_KEYS, HYPERPARAMETER_KEYS, MODEL_KEYS, OTHER_KEYS, check_hyperparameters,
                                      run_training, train_task)


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _equal_states(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_best_checkpoint_holds_the_epoch_with_the_lowest_validation_loss(breast_h5, tmp_path, tiny_params):
    planted = {1: 0.9, 2: 0.5, 3: 0.7, 4: 0.6}
    seen = {}

    def validate(model, epoch):
        seen[epoch] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        return {"loss": planted[epoch], "dice": 0.0}

    params = tiny_params("breast", max_epochs=4, patience=10)
    metrics, result = run_training(breast_h5, tmp_path / "m", tmp_path / "live", "breast", validate_fn=validate,
                                   **params)
    best, last = load_checkpoint(tmp_path / "m/best.pt"), load_checkpoint(tmp_path / "m/last.pt")
    assert best["epoch"] == 2 and best["best_val_loss"] == 0.5 and metrics["best_epoch"] == 2
    assert _equal_states(best["model_state"], seen[2])
    assert not _equal_states(best["model_state"], seen[4])  # the weights did move after epoch 2
    assert last["epoch"] == 4 and _equal_states(last["model_state"], seen[4])
    assert _equal_states(result.model.state_dict(), seen[2])  # the returned model is the best one too
    assert [row["val_loss"] for row in last["history"]] == [0.9, 0.5, 0.7, 0.6]
    assert best["model_config"]["in_channels"] == 1 and best["params"]["lr"] == params["lr"]
    with h5py.File(breast_h5, "r") as f:
        size = int(f.attrs["size"])
    preprocessing = resolve_preprocessing(best)  # no HDF5 file needed: the checkpoint carries it
    assert (preprocessing.size, preprocessing.low_pct, preprocessing.high_pct) == (size, 1.0, 99.0)
    assert preprocessing.source == "checkpoint params"


def test_early_stopping_ends_the_run_after_patience_epochs(breast_h5, tmp_path, tiny_params):
    losses = iter([0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    metrics, _ = run_training(breast_h5, tmp_path / "m", tmp_path / "live", "breast",
                              validate_fn=lambda model, epoch: {"loss": next(losses)},
                              **tiny_params("breast", max_epochs=6, patience=2))
    assert metrics["epochs_run"] == 3 and metrics["stopped_early"] and metrics["best_epoch"] == 1


class Interrupted(Exception):
    pass


def _log(capsys) -> list[str]:
    """The lines training wrote on stderr since the last call, less progress bars."""
    return [line for line in capsys.readouterr().err.splitlines() if line.strip() and "%|" not in line]


def test_resume_after_interruption_reproduces_the_uninterrupted_run(breast_h5, tmp_path, tiny_params, capsys):
    params = tiny_params("breast", max_epochs=4, patience=10)
    straight = tmp_path / "straight"
    capsys.readouterr()
    train_task(breast_h5, straight / "m", straight / "live", "breast", **params)
    log = _log(capsys)
    assert [line.split(":")[0] for line in log] == [f"breast epoch {k}/4" for k in (1, 2, 3, 4)]

    resumed = tmp_path / "resumed"

    def interrupt(row):
        if row["epoch"] == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        run_training(breast_h5, resumed / "m", resumed / "live", "breast", on_epoch_end=interrupt, **params)
    assert load_checkpoint(resumed / "m/last.pt")["epoch"] == 2
    epochs = []
    _log(capsys)
    run_training(breast_h5, resumed / "m", resumed / "live", "breast", on_epoch_end=lambda r: epochs.append(r["epoch"]),
                 **params)
    assert epochs == [3, 4]  # resumed, not restarted
    # its log: the epochs run before, as they were written, then the rest: the unbroken run's
    assert _log(capsys) == log
    # a finished run run again (dvc repro -f) trains nothing and writes the unbroken run's log, byte for byte
    run_training(breast_h5, resumed / "m", resumed / "live", "breast", **params)
    assert _log(capsys) == log

    for name in ("last.pt", "best.pt"):  # byte-identical: DVC sees the same model folder, downstream stays put
        a, b = load_checkpoint(straight / "m" / name), load_checkpoint(resumed / "m" / name)
        assert _equal_states(a["model_state"], b["model_state"]), name
        assert a["epoch"] == b["epoch"]
        assert (straight / "m" / name).read_bytes() == (resumed / "m" / name).read_bytes(), name
    # dvclive curves and final metrics: byte-identical (deterministic, no timestamps, replayed on resume)
    assert _files(straight / "live") == _files(resumed / "live")
    assert sorted(_files(straight / "live")) == [
        "final_metrics.json", "metrics.json", "plots/metrics/lr.tsv", "plots/metrics/train/dice.tsv",
        "plots/metrics/train/loss.tsv", "plots/metrics/val/dice.tsv", "plots/metrics/val/loss.tsv"]


def test_the_learning_rate_halves_after_more_than_lr_patience_epochs_without_improvement(breast_h5, tmp_path,
                                                                                         tiny_params):
    losses = iter([0.5, 0.6, 0.7, 0.8, 0.4, 0.45])
    params = tiny_params("breast", max_epochs=6, patience=10, lr=0.01, lr_factor=0.5, lr_patience=1)
    _, result = run_training(breast_h5, tmp_path / "m", tmp_path / "live", "breast",
                             validate_fn=lambda model, epoch: {"loss": next(losses)}, **params)
    # two epochs without improvement (0.6, 0.7) exceed a patience of one: epoch 4 runs at half the rate; 0.8 is
    # only the first bad epoch after the reduction, 0.4 improves, 0.45 is again only one
    assert [row["lr"] for row in result.history] == pytest.approx([0.01, 0.01, 0.01, 0.005, 0.005, 0.005])


def test_finished_run_is_not_retrained_but_changed_params_start_afresh(breast_h5, tmp_path, tiny_params, capsys):
    params = tiny_params("breast", max_epochs=2)
    first = train_task(breast_h5, tmp_path / "m", tmp_path / "live", "breast", **params)
    epochs = []
    again, _ = run_training(breast_h5, tmp_path / "m", tmp_path / "live", "breast",
                            on_epoch_end=lambda r: epochs.append(r["epoch"]), **params)
    assert epochs == [] and again == first
    _log(capsys)
    run_training(breast_h5, tmp_path / "m", tmp_path / "live", "breast",
                 on_epoch_end=lambda r: epochs.append(r["epoch"]), **{**params, "lr": 0.002})
    assert epochs == [1, 2]
    afresh = _log(capsys)  # over the stale last.pt: the same log as in an empty folder
    run_training(breast_h5, tmp_path / "n", tmp_path / "live_n", "breast", **{**params, "lr": 0.002})
    assert afresh == _log(capsys) and len(afresh) == 2
    assert load_checkpoint(tmp_path / "m/last.pt")["params"]["lr"] == 0.002


def test_changed_training_code_starts_afresh(breast_h5, tmp_path, tiny_params, monkeypatch):
    params = tiny_params("breast", max_epochs=1)
    train_task(breast_h5, tmp_path / "m", tmp_path / "live", "breast", **params)
    monkeypatch.setattr("breastmri.training.train.code_sha256", lambda: "edited code")
    epochs = []
    run_training(breast_h5, tmp_path / "m", tmp_path / "live", "breast",
                 on_epoch_end=lambda r: epochs.append(r["epoch"]), **params)
    assert epochs == [1]
    assert load_checkpoint(tmp_path / "m/last.pt")["params"]["code_sha256"] == "edited code"


def test_lesion_task_scores_only_lesion_containing_patients(lesion_h5, tmp_path, tiny_params):
    metrics = train_task(lesion_h5, tmp_path / "m", tmp_path / "live", "lesion",
                         **tiny_params("lesion", max_epochs=1))
    assert sorted(metrics["val_dice_per_patient"]) == ["P2", "P3"]  # P4 has no lesion
    # the checkpoint carries the channels' phases (a file recording none holds phases 0 .. C-1)
    assert load_checkpoint(tmp_path / "m" / "best.pt")["params"]["preprocessing"]["phases"] == [0, 1, 2, 3, 4, 5]
    best = load_checkpoint(tmp_path / "m/best.pt")
    assert best["model_config"]["in_channels"] == 6
    assert best["params"]["loss"] == "bce_dice" and best["params"]["optimizer"] == "adamw"


def test_wrong_task_file_and_unknown_parameter_are_errors(breast_h5, tmp_path, tiny_params):
    with pytest.raises(DataError, match="holds task 'breast'"):
        train_task(breast_h5, tmp_path / "m", tmp_path / "live", "lesion", **tiny_params("lesion"))
    with pytest.raises(DataError, match="unknown training parameter.s. learning_rate"):
        train_task(breast_h5, tmp_path / "m", tmp_path / "live", "breast", learning_rate=0.1, **tiny_params("breast"))


@pytest.mark.parametrize("key, value", [("optimizer", "sgd"), ("loss", "mse"), ("up", "nearest")])
def test_a_setting_outside_its_choices_is_an_error_naming_it(breast_h5, tmp_path, tiny_params, key, value):
    with pytest.raises(DataError, match=f"training parameter {key}: '{value}' is not one of"):
        train_task(breast_h5, tmp_path / "m", tmp_path / "live", "breast", **tiny_params("breast", **{key: value}))
    assert not (tmp_path / "m").exists()


def test_every_hyperparameter_is_required(breast_h5, tmp_path, tiny_params):
    """No training default outside params.yaml: a missing key is an error naming it (and nothing is written)."""
    params = tiny_params("breast")
    del params["max_epochs"], params["augment"]
    with pytest.raises(DataError, match="missing training parameter.s. max_epochs, augment"):
        train_task(breast_h5, tmp_path / "m", tmp_path / "live", "breast", **params)
    assert not (tmp_path / "m").exists()
    with pytest.raises(TypeError, match="max_epochs"):
        FitConfig(**{k: 1 for k in FIT_KEYS if k != "max_epochs"}, positive_only=False)


def test_hyperparameters_are_exactly_the_stage_sections_keys_less_the_paths():
    assert set(HYPERPARAMETER_KEYS) == set(stage.Config.keys()) - set(stage.PATH_KEYS)
    assert len(HYPERPARAMETER_KEYS) == len(set(HYPERPARAMETER_KEYS))
    parts = MODEL_KEYS + FIT_KEYS + OTHER_KEYS  # how the run hands them out: a partition
    assert sorted(parts) == sorted(HYPERPARAMETER_KEYS)


def test_checked_hyperparameters_are_coerced_and_ordered_as_the_checkpoints_hold_them(tiny_params):
    values = {**tiny_params("lesion"), "lr": 1, "amp": 1, "max_epochs": 2.0, "augment": False}
    params = check_hyperparameters(dict(reversed(values.items())))
    assert list(params) == list(HYPERPARAMETER_KEYS)
    assert (type(params["lr"]), type(params["amp"]), type(params["max_epochs"])) == (float, bool, int)
    assert params["loss"] == "bce_dice" and params["optimizer"] == "adamw"  # the lesion section's
    assert all(entry["prob"] == 0.0 for entry in params["augment"].values())  # False: every transform off


def test_command_reads_its_params_sections(breast_h5, tmp_path, tiny_params, capsys, params_file):
    section = {"task": "breast", "h5": str(breast_h5), "out_dir": str(tmp_path / "m"),
               "live_dir": str(tmp_path / "live"), "metrics": str(tmp_path / "metrics.json"),
               **tiny_params("breast", max_epochs=1, lr=0.005)}
    variant = {"overrides": "train_breast", "augment": False, "out_dir": str(tmp_path / "m2"),
               "metrics": str(tmp_path / "metrics2.json")}
    params = params_file(train_breast=section, train_breast_variant=variant)
    assert cli(["train", "--params", str(params)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["epochs_run"] == 1 and "best epoch 1" in capsys.readouterr().out
    assert load_checkpoint(tmp_path / "m/best.pt")["params"]["lr"] == 0.005
    assert cli(["train", "--params", str(params), "--sections", "train_breast", "train_breast_variant"]) == 0
    stored = load_checkpoint(tmp_path / "m2/best.pt")["params"]  # as dvc.yaml's baseline
    assert stored["lr"] == section["lr"] and all(t["prob"] == 0.0 for t in stored["augment"].values())
    params = params_file(train_breast={**section, "lr_rate": 0.1})
    assert cli(["train", "--params", str(params)]) == 1
    assert "unknown key(s) lr_rate" in capsys.readouterr().err
    assert cli(["train", "--params", str(params), "--sections", "nope"]) == 1
    assert "no section 'nope'" in capsys.readouterr().err


def test_threads_are_a_setting_of_the_run_and_the_process_keeps_its_own(breast_h5, tmp_path, tiny_params):
    """The weights follow ``threads``, not the cores of the machine: the same run from a process on 2 threads and
    on 1 gives the same bits, and the process gets its own thread count back."""
    params = tiny_params("breast", max_epochs=1, threads=1)
    states = []
    before = torch.get_num_threads()
    try:
        for process_threads in (2, 1):
            torch.set_num_threads(process_threads)
            run_training(breast_h5, tmp_path / f"m{process_threads}", tmp_path / f"live{process_threads}", "breast",
                         **params)
            assert torch.get_num_threads() == process_threads
            states.append(load_checkpoint(tmp_path / f"m{process_threads}/best.pt")["model_state"])
    finally:
        torch.set_num_threads(before)
    assert _equal_states(*states)
    with pytest.raises(DataError, match="threads must be at least 1"):
        check_hyperparameters(tiny_params("breast", threads=0))


def test_preloaded_split_serves_the_same_items_as_the_hdf5_dataset(lesion_h5):
    from breastmri.slices.dataset import H5SliceDataset
    from breastmri.training.data import InMemorySlices

    for split in ("train", "validation"):
        ds = H5SliceDataset(lesion_h5, split)
        mem = InMemorySlices(ds)
        assert len(mem) == len(ds) and list(mem.patient_ids) == list(ds.patient_ids)
        for i in range(len(ds)):
            a, b = ds[i], mem[i]
            assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
            assert a["index"] == b["index"] == i and b["mask"].dtype == torch.float32
