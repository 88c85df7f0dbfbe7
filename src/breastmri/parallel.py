"""A bounded, ordered worker pool: results come back in input order, few tasks in flight at a time, and the
workers end with the process that started them (the orient stage, the HDF5 build); and threads for the
independent slices of one volume (:func:`each_slice`)."""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

from tqdm import tqdm


def _init_worker() -> int:
    """One SimpleITK thread per worker, so ``workers`` is the number of cores used. Returns the old value."""
    import SimpleITK as sitk

    old = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    return old


def _exit_with_parent() -> None:
    """End this worker process as soon as its parent process ends, however it ended: a daemon thread waits on
    the parent's sentinel (a pipe only the parent holds open), so a stage killed by SIGTERM or SIGKILL, which
    runs no clean-up of its own, does not leave its workers running on as orphans."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _start_worker() -> None:
    """Process-pool initializer: the worker ends with its parent and runs SimpleITK and :func:`each_slice`
    single-threaded."""
    global _slice_threads
    _exit_with_parent()
    _init_worker()
    _slice_threads = 1


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[Executor | None]:
    """A ``spawn`` process pool of ``workers`` processes, or ``None`` (run in this process) for ``workers <= 1``.

    ``spawn`` (not ``fork``): workers start clean, whatever threads or open HDF5 files the parent has.
    Scripts that use it with ``workers > 1`` need the usual ``if __name__ == "__main__":`` guard.
    In this process SimpleITK is made single-threaded too, so ``workers`` is the number of cores used.
    Each worker ends when this process ends, even when it is killed (see :func:`_exit_with_parent`).
    """
    if workers <= 1:
        import SimpleITK as sitk

        old = _init_worker()
        try:
            yield None
        finally:
            sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(old)
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_start_worker) as pool:
        try:
            yield pool
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def ordered_map(fn: Callable, items: Iterable[tuple], pool: Executor | None, *, desc: str = "",
                progress: bool = True, max_in_flight: int | None = None) -> Iterator:
    """Yield ``fn(*item)`` for each item, in input order.

    With ``pool=None`` each item runs in this process. With a pool, at most ``max_in_flight``
    (default twice the pool's workers) items are submitted at a time, so at most that many results are
    ever held in memory; the caller consumes (writes) each result before the next one is awaited.
    """
    items = list(items)
    # progress=True leaves `disable` to tqdm's defaults, so TQDM_DISABLE=1 (set by the notebook runner) wins
    bar = tqdm(total=len(items), desc=desc, unit="patient", **({} if progress else {"disable": True}))
    try:
        if pool is None:
            for item in items:
                result = fn(*item)
                bar.update()
                yield result
            return
        limit = max_in_flight or 2 * getattr(pool, "_max_workers", 1)
        iterator = iter(items)
        pending: deque = deque()
        for item in iterator:
            pending.append(pool.submit(fn, *item))
            if len(pending) >= limit:
                break
        while pending:
            result = pending.popleft().result()
            for item in iterator:
                pending.append(pool.submit(fn, *item))
                break
            bar.update()
            yield result
    finally:
        bar.close()


#: :func:`each_slice` uses at most this many threads.
MAX_SLICE_THREADS = 4
_slice_threads: int | None = None  # 1 in a worker_pool process (workers = cores used), else one per CPU


def slice_threads() -> int:
    """The threads :func:`each_slice` uses by default: one per CPU (at most :data:`MAX_SLICE_THREADS`), one in a
    :func:`worker_pool` worker process, whose pool already has a process per core."""
    return _slice_threads or min(cpu_count(), MAX_SLICE_THREADS)


def each_slice(fn: Callable[[int], None], n: int, workers: int | None = None) -> None:
    """Call ``fn(k)`` for every ``k`` in ``range(n)`` on ``workers`` threads (default :func:`slice_threads`; at
    most :data:`MAX_SLICE_THREADS`), each taking an interleaved share (k = first, first + workers, ...).

    For the independent slices of one volume whose work is numpy / scipy that releases the GIL (``ndimage.zoom``,
    the morphology): ``fn`` writes its own slice of a preallocated output, so each slice is computed exactly as
    alone and the result does not depend on ``workers``. An exception in any thread is raised here."""
    workers = max(1, min(int(workers or slice_threads()), MAX_SLICE_THREADS, n))
    if workers == 1:
        for k in range(n):
            fn(k)
        return

    def share(first: int) -> None:
        for k in range(first, n, workers):
            fn(k)

    with ThreadPoolExecutor(workers) as pool:
        for done in [pool.submit(share, first) for first in range(workers)]:
            done.result()


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity on Linux)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
