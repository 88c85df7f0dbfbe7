import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from breastmri.slices.parallel import ordered_map, worker_pool

from .synth import make_seed_layout


@pytest.mark.parametrize("workers", [1, 2])
def test_results_in_input_order_and_errors_propagate(workers):
    items = [(2, k) for k in range(9)]
    with worker_pool(workers) as pool:
        assert list(ordered_map(pow, items, pool, progress=False, max_in_flight=3)) == [2 ** k for k in range(9)]
        with pytest.raises(ValueError):
            list(ordered_map(math.sqrt, [(4.0,), (-1.0,), (9.0,)], pool, progress=False))


# A build whose every patient takes minutes (the real work replaced by a sleep), so it is killed mid-build with
# both workers busy. Spawned workers import this file as their main module: the replacement is found there.
SLOW_BUILD = """
import os, sys, time
from pathlib import Path

from breastmri.slices import breast
from breastmri.slices.build import build_breast_h5


def slow_patient(*args, **kwargs):
    (Path(os.environ["BUILD_MARKS"]) / str(os.getpid())).touch()
    time.sleep(300)


if __name__ == "__main__":
    breast.breast_patient = slow_patient
    build_breast_h5(sys.argv[1], sys.argv[2], size=16, workers=2, progress=False)
"""


def _running(procs):
    """The processes that still run (a zombie awaiting its reaper has ended)."""
    import psutil

    alive = []
    for proc in procs:
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.NoSuchProcess:
            pass
    return alive


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_killed_build_leaves_no_worker_process_running(tmp_path, sig):
    """``build_hdf5`` with 2 workers killed mid-build (SIGTERM, or SIGKILL of the parent, which no handler
    sees): its worker processes (and multiprocessing's helper) end too, instead of sleeping on as orphans."""
    psutil = pytest.importorskip("psutil")
    seed_root = make_seed_layout(tmp_path / "oriented", [(24, 20, 4)] * 4)
    script, marks = tmp_path / "slow_build.py", tmp_path / "marks"
    script.write_text(textwrap.dedent(SLOW_BUILD))
    marks.mkdir()
    log = open(tmp_path / "build.log", "w")
    build = subprocess.Popen([sys.executable, str(script), str(seed_root), str(tmp_path / "breast.h5")],
                             env={**os.environ, "BUILD_MARKS": str(marks)}, stdout=log, stderr=subprocess.STDOUT)
    children = []
    try:
        deadline = time.monotonic() + 180
        while len(list(marks.iterdir())) < 2:  # both workers are inside a patient
            assert build.poll() is None, (tmp_path / "build.log").read_text()
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.2)
        children = psutil.Process(build.pid).children(recursive=True)
        assert {int(p.name) for p in marks.iterdir()} <= {c.pid for c in children}
        build.send_signal(sig)
        build.wait(timeout=60)
        deadline = time.monotonic() + 20
        while _running(children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _running(children) == [], [(c.pid, c.cmdline()) for c in _running(children)]
    finally:
        for proc in [build, *_running(children)]:  # only what this test started, by pid
            try:
                proc.kill()
            except (ProcessLookupError, psutil.NoSuchProcess):
                pass
        build.wait()
        log.close()
