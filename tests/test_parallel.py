import math
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from breastmri.parallel import MAX_SLICE_THREADS, cpu_count, each_slice, ordered_map, slice_threads, worker_pool


@pytest.mark.parametrize("workers", [1, 2])
def test_results_in_input_order_and_errors_propagate(workers):
    items = [(2, k) for k in range(9)]
    with worker_pool(workers) as pool:
        assert list(ordered_map(pow, items, pool, progress=False, max_in_flight=3)) == [2 ** k for k in range(9)]
        with pytest.raises(ValueError):
            list(ordered_map(math.sqrt, [(4.0,), (-1.0,), (9.0,)], pool, progress=False))


@pytest.mark.parametrize("n, workers", [(0, None), (1, 3), (7, 1), (7, 2), (7, 3), (11, 16)])
def test_each_slice_calls_every_index_once_on_at_most_the_threads_asked(n, workers):
    seen, threads = [], set()

    def fn(k):
        seen.append(k)
        threads.add(threading.get_ident())

    each_slice(fn, n, workers)
    assert sorted(seen) == list(range(n))
    assert len(threads) <= max(1, min(workers or os.cpu_count(), MAX_SLICE_THREADS, n))


def test_a_pool_worker_runs_the_slices_on_one_thread():
    """A worker_pool has a process per core: threads inside each would oversubscribe the CPUs."""
    with worker_pool(2) as pool:
        assert list(ordered_map(slice_threads, [(), ()], pool, progress=False)) == [1, 1]
    with worker_pool(1) as pool:  # this process: one thread per CPU
        assert list(ordered_map(slice_threads, [()], pool, progress=False)) == [min(cpu_count(),
                                                                                    MAX_SLICE_THREADS)]


@pytest.mark.parametrize("workers", [1, 2])
def test_each_slice_raises_a_slices_exception(workers):
    def fn(k):
        if k == 5:  # not in the first thread's share: the other threads' errors must come back too
            raise ValueError("slice 5")

    with pytest.raises(ValueError, match="slice 5"):
        each_slice(fn, 6, workers)


# A pool whose every task takes minutes (a sleep), so it is killed with both workers busy. Spawned workers import
# this file as their main module: the task function is found there.
SLOW_BUILD = """
import os, sys, time
from pathlib import Path

from breastmri.parallel import ordered_map, worker_pool


def slow_patient(k):
    (Path(os.environ["POOL_MARKS"]) / str(os.getpid())).touch()
    time.sleep(300)


if __name__ == "__main__":
    with worker_pool(2) as pool:
        list(ordered_map(slow_patient, [(k,) for k in range(4)], pool, progress=False))
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


def assert_killed_pool_leaves_no_worker(script_text, tmp_path, sig):
    """Run ``script_text`` (a 2-worker pool whose tasks each touch ``$POOL_MARKS/<pid>``, then sleep for minutes),
    send ``sig`` to it once both workers are inside a task, and assert that every process it started ends too,
    instead of sleeping on as an orphan."""
    psutil = pytest.importorskip("psutil")
    script, marks = tmp_path / "slow_pool.py", tmp_path / "marks"
    script.write_text(textwrap.dedent(script_text))
    marks.mkdir()
    log = open(tmp_path / "pool.log", "w")
    parent = subprocess.Popen([sys.executable, str(script)],
                              env={**os.environ, "POOL_MARKS": str(marks)}, stdout=log, stderr=subprocess.STDOUT)
    children = []
    try:
        deadline = time.monotonic() + 180
        while len(list(marks.iterdir())) < 2:  # both workers are inside a task
            assert parent.poll() is None, (tmp_path / "pool.log").read_text()
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.2)
        children = psutil.Process(parent.pid).children(recursive=True)
        assert {int(p.name) for p in marks.iterdir()} <= {c.pid for c in children}
        parent.send_signal(sig)
        parent.wait(timeout=60)
        deadline = time.monotonic() + 20
        while _running(children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _running(children) == [], [(c.pid, c.cmdline()) for c in _running(children)]
    finally:
        for proc in [parent, *_running(children)]:  # only what this test started, by pid
            try:
                proc.kill()
            except (ProcessLookupError, psutil.NoSuchProcess):
                pass
        parent.wait()
        log.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_killed_pool_leaves_no_worker_process_running(tmp_path, sig):
    """A 2-worker pool killed mid-run (SIGTERM, or SIGKILL of the parent, which no handler sees): its worker
    processes (and multiprocessing's helper) end too, instead of sleeping on as orphans. (The orient stage's pool:
    tests/orientation/test_dataset.py; the HDF5 build's Dask workers: tests/slices/test_distributed_build.py.)"""
    assert_killed_pool_leaves_no_worker(SLOW_BUILD, tmp_path, sig)
