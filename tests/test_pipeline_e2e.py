"""The whole DVC pipeline on a tiny phantom, from a copy of the repository: runs, then is a no-op."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TINY = {"synthesize": {"n_train": 6, "n_inference": 4, "n_mamamia": 4}}


def _run(cmd, cwd, env):
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def tiny_repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("e2e") / "repo"
    tracked = subprocess.check_output(["git", "ls-files"], cwd=ROOT, text=True).splitlines()
    for name in tracked:
        source = ROOT / name
        if name == "dvc.lock" or not source.is_file() or name.startswith(("reports/metrics/",)):
            continue
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, repo / name)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for section, values in TINY.items():
        params[section].update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=ci", "-c", "user.email=ci@example.org", "commit", "-qm", "tiny"]):
        _run(cmd, repo, env)
    _run(["dvc", "repro"], repo, env)
    return repo, env


@pytest.mark.slow
def test_every_stage_writes_its_executed_notebook_html_and_metrics(tiny_repo):
    repo, _ = tiny_repo
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        notebook = stage["cmd"].split()[1]
        stem = Path(notebook).stem
        assert (repo / "reports/notebooks" / f"{stem}.ipynb").is_file(), name
        assert (repo / "reports/html" / f"{stem}.html").is_file(), name
        for metric in stage.get("metrics", []):
            assert (repo / next(iter(metric))).is_file(), name
    assert not (repo / "reports/failed").exists()


@pytest.mark.slow
def test_second_repro_is_a_no_op(tiny_repo):
    repo, env = tiny_repo
    out = _run(["dvc", "repro"], repo, env)
    assert "Running stage" not in out
    assert "up to date" in out
