"""The distributed (Dask) build: the same bytes as the in-process build, shards reused only when their fingerprint
matches, errors raised on a worker, and a killed build that resumes from its shards."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import psutil
import pytest

from breastmri.data.errors import DataError
from breastmri.slices.build import _worker_setup, build_breast_h5, build_lesion_h5

from .synth import LESION, make_mamamia_layout, save


@pytest.fixture(scope="module")
def scheduler():
    """The address of a 2-process local cluster shared by this module's tests (the ``scheduler`` setting)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        yield cluster.scheduler_address


def _metrics(path):
    doc = json.loads(path.read_text())
    doc.pop("file")
    return doc


def test_two_worker_cluster_builds_the_bytes_of_the_in_process_build(seed_root, mamamia_root, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    ref = build_breast_h5(seed_root, a / "breast.h5", size=16, val_fraction=0.4, progress=False,
                          summary_path=a / "breast.json")
    dist = build_breast_h5(seed_root, b / "breast.h5", size=16, val_fraction=0.4, progress=False, workers=2,
                           summary_path=b / "breast.json")
    assert ref["executor"] == "in-process" and dist["executor"].startswith("Dask LocalCluster, 2 worker")
    assert dist["cases_computed"] == 5 and dist["cases_reused"] == 0
    assert (a / "breast.h5").read_bytes() == (b / "breast.h5").read_bytes()
    assert _metrics(a / "breast.json") == _metrics(b / "breast.json")
    kwargs = dict(**LESION, size=32, min_lesion_px=20, neg_exclusion_slices=6, neg_min_tissue_ratio=0.3,
                  progress=False)
    build_lesion_h5(mamamia_root, a / "lesion.h5", summary_path=a / "lesion.json", **kwargs)
    dist = build_lesion_h5(mamamia_root, b / "lesion.h5", summary_path=b / "lesion.json", workers=2, **kwargs)
    assert (dist["candidates_computed"], dist["cases_computed"]) == (3, 3)
    assert (a / "lesion.h5").read_bytes() == (b / "lesion.h5").read_bytes()
    assert _metrics(a / "lesion.json") == _metrics(b / "lesion.json")
    assert not (b / ".shards").exists()  # removed after a successful build (keep_shards=False)
    assert sorted(p.name for p in b.iterdir()) == ["breast.h5", "breast.json", "lesion.h5", "lesion.json"]


def test_shards_are_reused_only_for_the_same_inputs_settings_and_code(mamamia_root, seed_root, scheduler, tmp_path):
    shard_dir = tmp_path / "interim" / "shards"
    out = tmp_path / "out" / "lesion.h5"

    def build(**kw):
        return build_lesion_h5(mamamia_root, out, **LESION, scheduler=scheduler, shard_dir=shard_dir,
                               keep_shards=True, size=32, progress=False, **kw)

    def reference(**kw):
        build_lesion_h5(mamamia_root, tmp_path / "ref.h5", **LESION, size=32, progress=False, **kw)
        return (tmp_path / "ref.h5").read_bytes()

    first = build()
    assert first["executor"] == f"Dask scheduler {scheduler}" and first["cases_computed"] == 3
    assert sorted(p.name for p in (shard_dir / "lesion").iterdir()) == sorted(
        f"CASE_00{i}{ext}" for i in range(3) for ext in (".h5", ".candidates.json"))
    again = build()
    assert (again["candidates_reused"], again["cases_reused"], again["cases_computed"]) == (3, 3, 0)
    assert again["executor"] == "none: every shard reused"  # no cluster needed
    assert out.read_bytes() == reference()
    # another seed: the candidates (pass 1) are reused, the slices of cases whose choice changed are recomputed
    reseeded = build(seed=3)
    assert reseeded["candidates_reused"] == 3
    assert out.read_bytes() == reference(seed=3)
    # a touched input file: that case only
    mask = mamamia_root / "segmentations" / "expert" / "CASE_001.nii.gz"
    st = mask.stat()
    os.utime(mask, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    touched = build(seed=3)
    assert (touched["candidates_computed"], touched["cases_computed"]) == (1, 1)
    # other preprocessing settings: everything
    assert build(seed=3, spacing_mm=1.5)["candidates_computed"] == 3
    # a case gone from the data: its files are dropped from the kept shards
    import shutil

    shutil.rmtree(mamamia_root / "images" / "CASE_002")
    assert build()["n_patients"] == 2
    assert not list((shard_dir / "lesion").glob("CASE_002*"))
    # the breast task has its own folder beside it
    breast = build_breast_h5(seed_root, tmp_path / "out" / "breast.h5", size=16, scheduler=scheduler,
                             shard_dir=shard_dir, progress=False)
    assert breast["cases_computed"] == 5 and not (shard_dir / "breast").exists() and (shard_dir / "lesion").is_dir()


def test_a_data_error_on_a_worker_stops_the_build_with_that_error(tmp_path, scheduler):
    root = make_mamamia_layout(tmp_path / "mamamia", n_cases=2)
    empty = root / "segmentations" / "expert" / "CASE_001.nii.gz"
    save(np.zeros((24, 20, 40), np.uint8), (1.5, 1.5, 1.0), empty)
    out = tmp_path / "out" / "lesion.h5"
    with pytest.raises(DataError, match="lesion mask is empty") as err:
        build_lesion_h5(root, out, **LESION, size=32, scheduler=scheduler, shard_dir=tmp_path / "shards",
                        progress=False)
    assert err.value.path == empty.resolve()
    assert not out.exists()
    assert (tmp_path / "shards" / "lesion" / "CASE_000.candidates.json").is_file()  # kept for the next attempt


def test_the_stage_runs_on_the_cluster_of_its_params(seed_root, mamamia_root, scheduler, tmp_path, capsys,
                                                   params_file):
    from breastmri.cli import main as cli

    params = params_file(data={"mamamia_root": str(mamamia_root)}, build_hdf5={
        "oriented_dir": str(seed_root), "out_dir": str(tmp_path / "out"), "metrics_dir": str(tmp_path / "m"),
        "breast_size": 16, "lesion_size": 32, "scheduler": scheduler, "shard_dir": str(tmp_path / "shards"),
        "keep_shards": True})
    assert cli(["build_hdf5", "--params", str(params)]) == 0
    assert "breast: 22 slices" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "shards").iterdir()) == ["breast", "lesion"]  # kept
    assert cli(["build_hdf5", "--params", str(params)]) == 0
    line = capsys.readouterr().out
    assert "(0 cases computed, 5 reused from shards)" in line and "(0 cases computed, 3 reused from shards)" in line


def test_a_worker_running_other_code_is_refused():
    with pytest.raises(RuntimeError, match="other breastmri code"):
        _worker_setup("0" * 64)


SLOW_WORKERS = textwrap.dedent("""
    # Dask worker preload: every lesion slice task takes 0.5 s longer, so the build can be killed half-way.
    # Dask may run a preload more than once in a worker: wrap the real function once.
    import time
    from breastmri.slices import lesion
    def slow(*args, real=getattr(lesion.lesion_slices, "real", lesion.lesion_slices), **kwargs):
        time.sleep(0.5)
        return real(*args, **kwargs)
    slow.real = getattr(lesion.lesion_slices, "real", lesion.lesion_slices)
    lesion.lesion_slices = slow
""")

BUILD = textwrap.dedent("""
    import sys
    from breastmri.slices.build import build_lesion_h5
    if __name__ == "__main__":
        build_lesion_h5(sys.argv[1], sys.argv[2], phases=[0, 1, 2, 3, 4, 5], breast_box="ignore", size=32,
                        workers=2, shard_dir=sys.argv[3], progress=False)
""")


def test_a_killed_build_leaves_no_worker_and_resumes_from_its_shards(tmp_path):
    root = make_mamamia_layout(tmp_path / "mamamia", n_cases=6, missing={2: [4]})
    out, shard_dir = tmp_path / "out" / "lesion.h5", tmp_path / "shards"
    (tmp_path / "slow.py").write_text(SLOW_WORKERS)
    (tmp_path / "build.py").write_text(BUILD)
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__PRELOAD": json.dumps([str(tmp_path / "slow.py")])}
    proc = subprocess.Popen([sys.executable, str(tmp_path / "build.py"), str(root), str(out), str(shard_dir)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        done = []
        while len(done) < 2 and proc.poll() is None and time.monotonic() < deadline:
            done = list((shard_dir / "lesion").glob("CASE_*.h5")) if (shard_dir / "lesion").is_dir() else []
            time.sleep(0.02)
        assert proc.poll() is None, f"the build ended (code {proc.returncode}) before it could be killed"
        assert len(done) >= 2, "no slice shard appeared in time"
        workers = psutil.Process(proc.pid).children(recursive=True)
        assert len(workers) >= 2
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # the cluster's processes end with the process that started them
    _, alive = psutil.wait_procs(workers, timeout=30)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], "worker processes outlived the build"
    assert not out.exists()
    finished = sorted(p.name for p in (shard_dir / "lesion").glob("CASE_*.h5"))
    assert 2 <= len(finished) < 6
    assert len(list((shard_dir / "lesion").glob("CASE_*.candidates.json"))) == 6  # pass 1 was complete
    resumed = build_lesion_h5(root, out, **LESION, size=32, workers=2, shard_dir=shard_dir, progress=False)
    assert resumed["candidates_reused"] == 6 and resumed["candidates_computed"] == 0
    assert resumed["cases_reused"] == len(finished) and resumed["cases_computed"] == 6 - len(finished)
    assert not shard_dir.exists()  # the finished build leaves no shards (and so no litter of the killed one)
    build_lesion_h5(root, tmp_path / "ref.h5", **LESION, size=32, progress=False)
    assert out.read_bytes() == (tmp_path / "ref.h5").read_bytes()  # as if it had never been interrupted
