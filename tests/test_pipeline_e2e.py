"""The whole DVC pipeline on a tiny phantom, from a copy of the repository.

One module-scoped run of ``dvc repro``; then: every stage left its executed notebook, HTML and outputs;
predicted masks have their scan's geometry; a second run is a no-op; ``dvc push`` then ``dvc pull`` in a
fresh clone restores every output without re-running; a queued grid of two experiments runs with
``dvc queue start -j 2`` and is compared (exp show, metrics diff, plots diff); retraining from scratch gives the same
files (determinism through DVC's own hashes); a run killed inside the training stage leaves no stage
output half-written and the next ``dvc repro`` resumes and completes; with ``data.truth_dir: ""`` (real data)
every stage still runs.
"""

import importlib
import json
import os
import signal
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "synthesize": {"n_train": 6, "n_inference": 4, "n_mamamia": 4},
    "build_hdf5": {"breast_size": 64, "lesion_size": 64, "lesion_min_area_px": 5},
    "train_breast": {"base": 4, "max_epochs": 2, "batch_size": 16},
    "train_lesion": {"base": 4, "max_epochs": 4, "batch_size": 4},
    "infer": {"n_preview": 2},
    "infer_lesion": {"n_preview": 2},
    "transfer": {"n_scans": 5, "duke_matrix": 64},
}
# The default run's phantom MAMA-MIA cases have 3-8 phases; the tiny run's have 9-11 (real MAMA-MIA: 3 to 11), so the
# pipeline is shown to build, train and infer cases with more phases than the model's 6 channels, sagittal and
# unilateral ones included.
LONG_PHASES = {"DUKE": [9, 11], "ISPY1": [9, 10], "ISPY2": [10, 11], "NACT": [9, 11]}
STAGES = {"synthesize", "validate", "eda", "orient", "build_hdf5", "train@breast", "train@lesion",
          "train@breast_baseline", "threshold@breast", "threshold@breast_baseline", "threshold@lesion", "infer",
          "infer_lesion", "real_data", "transfer", "correlate"}
pytestmark = pytest.mark.slow


def _run(cmd, cwd, env, timeout=1200):
    """Run one command; a hung DVC lock (e.g. ``exp show`` against a queue worker) fails the test, not CI."""
    try:
        result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(cmd)} did not finish within {timeout} s:\n{exc.stdout}\n{exc.stderr}")
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def _lock(repo):
    return yaml.safe_load((repo / "dvc.lock").read_text())["stages"]


@pytest.fixture(scope="module")
def tiny_repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("e2e") / "repo"
    tracked = subprocess.check_output(["git", "ls-files"], cwd=ROOT, text=True).splitlines()
    for name in tracked:
        source = ROOT / name
        if name == "dvc.lock" or not source.is_file() or name.startswith(("reports/", "models/")):
            continue
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, repo / name)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for section, values in TINY.items():
        params[section].update(values)
    for cohort, phases in LONG_PHASES.items():
        params["synthesize"]["mamamia_cohorts"][cohort]["phases"] = phases
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.org", "commit", "-qm", "tiny"]):
        _run(cmd, repo, env)
    _run(["dvc", "repro"], repo, env)
    return repo, env


def test_every_stage_writes_its_executed_notebook_html_and_outputs(tiny_repo):
    repo, _ = tiny_repo
    lock = _lock(repo)
    assert set(lock) == STAGES
    for name, stage in lock.items():
        args = stage["cmd"].split()
        notebook = importlib.import_module(f"breastmri.stages.{args[1]}").NOTEBOOK  # breastmri <stage> --report
        stem = args[args.index("--name") + 1] if "--name" in args else Path(notebook).stem
        assert (repo / "reports/notebooks" / f"{stem}.ipynb").is_file(), name
        assert (repo / "reports/html" / f"{stem}.html").is_file(), name
        for out in stage.get("outs", []):
            assert (repo / out["path"]).exists(), (name, out["path"])
    assert not (repo / "reports/failed").exists()
    for executed in (repo / "reports/notebooks").glob("*.ipynb"):  # reproducible wherever the clone lives
        text = executed.read_text()
        assert str(repo) not in text and sys.prefix not in text, executed.name
    threshold = json.loads((repo / "reports/threshold/breast/threshold.json").read_text())
    assert 0.05 <= threshold["threshold"] <= 0.95
    infer = json.loads((repo / "reports/metrics/infer_breast.json").read_text())
    assert infer["n_patients"] == TINY["synthesize"]["n_inference"]
    build = json.loads((repo / "reports/metrics/build_hdf5_lesion.json").read_text())
    split = build["split"]
    lesion = json.loads((repo / "reports/metrics/infer_lesion.json").read_text())
    assert sorted(lesion["per_case"]) == sorted(split["validation"]) and lesion["n_evaluated"] >= 1
    # every case acquired 9-11 phases (the phantom drops one middle phase's file of one case): the model's 6
    # channels are read and the rest counted as ignored, in training and in the held-out cases inferred
    assert split["train"] and build["phases"] == list(range(6))
    files = {case: len(list((repo / "data/raw/phantom/mamamia/images" / case).glob(f"{case}_00*.nii.gz")))
             for case in build["per_case"]}
    for case, info in build["per_case"].items():
        assert info["phases_present"] + info["phases_ignored"] == files[case] >= 8, (case, info)
        assert info["phases_ignored"] >= 2 and info["phases_present"] >= 5, (case, info)
    assert sum(n < 9 for n in files.values()) <= 1 and max(files.values()) >= 10
    assert lesion["breast_restricted"] and set(lesion["by_cohort"]) <= {"DUKE", "ISPY1", "ISPY2", "NACT"}
    transfer = json.loads((repo / "reports/metrics/transfer.json").read_text())
    assert set(transfer["rows"]) == {"model", "classical", "baseline"} and transfer["rows"]["model"]["all"]["dice"]["n"] == 5
    # the copy has no ../shared beside it: the real-data stage records that rather than failing
    assert json.loads((repo / "reports/metrics/real_data.json").read_text())["available"] is False


def test_predicted_masks_have_the_input_shape_and_affine(tiny_repo):
    repo, _ = tiny_repo
    scans = sorted((repo / "data/raw/phantom/seed/inference/scans").glob("*.nii.gz"))
    assert len(scans) == TINY["synthesize"]["n_inference"]
    for scan_path in scans:
        scan = nib.load(scan_path)
        pid = scan_path.name.removesuffix(".nii.gz")
        for kind in ("breast", "tumor"):
            mask = nib.load(repo / "data/predictions/breast" / f"{pid}_{kind}.nii.gz")
            assert mask.shape == scan.shape, (pid, kind)
            np.testing.assert_array_equal(mask.affine, scan.affine)
            assert set(np.unique(np.asarray(mask.dataobj))) <= {0, 1}
    lesion_preds = sorted((repo / "data/predictions/lesion").glob("*_pred.nii.gz"))
    assert lesion_preds
    for pred_path in lesion_preds:
        case = pred_path.name.removesuffix("_pred.nii.gz")
        phase = nib.load(repo / "data/raw/phantom/mamamia/images" / case / f"{case}_0000.nii.gz")
        pred = nib.load(pred_path)
        assert pred.shape == phase.shape, case
        np.testing.assert_array_equal(pred.affine, phase.affine)


def test_second_repro_is_a_no_op(tiny_repo):
    repo, env = tiny_repo
    out = _run(["dvc", "repro"], repo, env)
    assert "Running stage" not in out
    assert "up to date" in out


def test_push_then_pull_in_a_fresh_clone_restores_everything_without_rerunning(tiny_repo):
    repo, env = tiny_repo
    git = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.org"]
    _run(["git", "add", "-A"], repo, env)
    _run(git + ["commit", "-qm", "pipeline run"], repo, env)
    _run(["dvc", "push"], repo, env)  # the default remote: ../breastmri-dvc-remote beside the repository
    assert (repo.parent / "breastmri-dvc-remote").is_dir()
    clone = repo.parent / "clone"
    _run(["git", "clone", "-q", str(repo), str(clone)], repo.parent, env)
    assert not (clone / "models/breast/best.pt").exists()
    _run(["dvc", "pull"], clone, env)
    assert "up to date" in _run(["dvc", "status"], clone, env)
    for path in ("models/breast/best.pt", "models/lesion/best.pt", "reports/html/07_infer.html",
                 "reports/correlate/heatmap_all.png", "data/predictions/breast/features.csv",
                 "reports/metrics/infer_breast.json"):
        assert (clone / path).read_bytes() == (repo / path).read_bytes(), path


def test_queued_grid_of_experiments_runs_two_at_a_time_and_is_compared(tiny_repo, tmp_path):
    repo, env = tiny_repo
    git = ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.org"]
    _run(["git", "add", "-A"], repo, env)
    _run(git + ["commit", "-qm", "before experiments", "--allow-empty"], repo, env)
    # the grid targets the training stage only, so each experiment is one short training, not the whole pipeline
    _run(["dvc", "exp", "run", "--queue", "-S", "train_breast.lr=0.001,0.01", "train@breast"], repo, env)
    try:
        _run(["dvc", "queue", "start", "-j", "2"], repo, env)
        deadline, status = time.monotonic() + 900, ""
        while time.monotonic() < deadline:
            try:  # a status call can wait on a worker's lock (treeverse/dvc#8762): ask again rather than hang
                status = subprocess.run(["dvc", "queue", "status"], cwd=repo, env=env, capture_output=True,
                                        text=True, timeout=60).stdout
            except subprocess.TimeoutExpired:
                continue
            if "Queued" not in status and "Running" not in status:
                break
            time.sleep(2)
        assert status.count("Success") == 2, status
    finally:
        subprocess.run(["dvc", "queue", "stop", "--kill"], cwd=repo, env=env, capture_output=True, timeout=120)
    rows = json.loads(_run(["dvc", "exp", "show", "--json"], repo, env, timeout=300))
    runs = {}
    for row in (exp for baseline in rows for exp in baseline.get("experiments") or []):
        data = row["revs"][0]["data"]
        lr = data["params"]["params.yaml"]["data"]["train_breast"]["lr"]
        runs[lr] = (row["revs"][0]["name"], data["metrics"]["reports/metrics/train_breast.json"]["data"])
    assert set(runs) == {0.001, 0.01}
    assert runs[0.001][1]["best_val_loss"] != runs[0.01][1]["best_val_loss"]
    name = runs[0.01][0]
    assert "train_breast.json" in _run(["dvc", "metrics", "diff", "HEAD", name], repo, env)
    _run(["dvc", "plots", "diff", "HEAD", name, "-o", str(tmp_path / "plots")], repo, env)
    html = (tmp_path / "plots" / "index.html").read_text()
    assert "train/loss" in html and name in html


def test_retraining_from_scratch_reproduces_the_model_and_metrics(tiny_repo):
    """A forced re-run (which resumes the finished training from its kept last.pt) and a training from scratch
    both give the locked outputs, the report included."""
    repo, env = tiny_repo
    metrics = (repo / "reports/metrics/train_breast.json").read_bytes()
    report = (repo / "reports/notebooks/05_train_breast.ipynb").read_bytes()
    _run(["dvc", "repro", "--force", "--single-item", "train@breast"], repo, env)
    assert (repo / "reports/notebooks/05_train_breast.ipynb").read_bytes() == report
    assert "changed" not in _run(["dvc", "status"], repo, env)
    shutil.rmtree(repo / "models/breast")
    _run(["dvc", "repro", "--single-item", "train@breast"], repo, env)
    assert (repo / "reports/metrics/train_breast.json").read_bytes() == metrics
    assert "changed" not in _run(["dvc", "status"], repo, env)  # same hashes as the locked run


def test_repro_killed_in_training_leaves_nothing_half_written_and_resumes(tiny_repo):
    repo, env = tiny_repo
    metrics = json.loads((repo / "reports/metrics/train_lesion.json").read_text())
    models = {name: (repo / "models/lesion" / name).read_bytes() for name in ("best.pt", "last.pt")}
    report = (repo / "reports/notebooks/05_train_lesion.ipynb").read_bytes()
    shutil.rmtree(repo / "models/lesion")
    shutil.rmtree(repo / "reports/train/lesion/live")
    epochs_logged = repo / "reports/train/lesion/live/plots/metrics/train/loss.tsv"
    proc = subprocess.Popen(["dvc", "repro", "--single-item", "train@lesion"], cwd=repo, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if epochs_logged.is_file() and len(epochs_logged.read_text().splitlines()) >= 2:  # header + epoch 1
            break
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (repo / "reports/notebooks/05_train_lesion.ipynb").exists()
    assert not (repo / "reports/html/05_train_lesion.html").exists()
    assert (repo / "models/lesion/last.pt").is_file()  # persisted resumable state
    assert "changed" in _run(["dvc", "status", "train@lesion"], repo, env)
    _run(["dvc", "repro"], repo, env)
    assert (repo / "reports/notebooks/05_train_lesion.ipynb").read_bytes() == report  # the unbroken run's report
    resumed = json.loads((repo / "reports/metrics/train_lesion.json").read_text())
    assert resumed == metrics  # the resumed run ends where the uninterrupted one did
    for name, data in models.items():  # byte for byte, so DVC hashes match and downstream stages stay put
        assert (repo / "models/lesion" / name).read_bytes() == data, name
    assert "changed" not in _run(["dvc", "status"], repo, env)
    assert not list(repo.rglob("*.tmp*"))


def test_real_data_mode_without_ground_truth_runs_every_stage(tiny_repo, tmp_path):
    """``data.truth_dir: ""`` (real data): every stage still runs and writes its declared metrics, unevaluated."""
    repo, env = tiny_repo
    real = tmp_path / "real"
    shutil.copytree(repo, real, symlinks=True)
    params = yaml.safe_load((real / "params.yaml").read_text())
    params["data"]["truth_dir"] = ""
    (real / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    out = _run(["dvc", "repro"], real, env)
    assert "Running stage 'infer'" in out and "Running stage 'correlate'" in out
    assert json.loads((real / "reports/metrics/infer_breast.json").read_text())["evaluated"] is False
    assert json.loads((real / "reports/metrics/orientation.json").read_text())["evaluated"] is False
    assert "planted_recovered" not in json.loads((real / "reports/metrics/correlation.json").read_text())
    assert "changed" not in _run(["dvc", "status"], real, env)
