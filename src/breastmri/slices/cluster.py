"""Dask distributed for the slice builds: a client on a local cluster or on a running scheduler, and a run of
independent per-case tasks with a progress bar.

* ``scheduler=""``: a :class:`distributed.LocalCluster` of ``workers`` processes with one thread each (``spawn``ed
  children of this process: they end with it, also when it is killed);
* ``scheduler="tcp://host:8786"`` (or any address :class:`distributed.Client` accepts): an existing cluster, e.g.
  ``dask scheduler`` on one machine and ``dask worker tcp://host:8786 --nthreads 1 --nworkers <cores>`` on each
  of the others, a SLURM / PBS / LSF job array from ``dask-jobqueue`` (``SLURMCluster(...).scheduler_address``)
  or a Kubernetes cluster from ``dask-kubernetes`` (the scheduler service's address). ``workers`` is then the
  cluster's business. Every worker must run the same ``breastmri`` code (the tasks check it) and see the inputs
  and the shard folder under the same paths (a shared file system).

Imports of ``distributed`` are lazy: the in-process build and the readers do not need it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator

from tqdm import tqdm


@contextlib.contextmanager
def dask_client(workers: int, scheduler: str = "") -> Iterator[tuple[object, str]]:
    """``(client, description)``: a client of a new local cluster (``scheduler=""``) or of ``scheduler``."""
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler, set_as_default=False) as client:
            yield client, f"Dask scheduler {scheduler}"
        return
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    # memory_limit=0: no per-worker cap (as the process pool this replaced: a case too large fails as in one process);
    # dashboard on a free port (":0"), so several builds or clusters on one machine do not compete for 8787
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                      memory_limit=0, silence_logs=logging.ERROR) as cluster, \
            Client(cluster, set_as_default=False) as client:
        yield client, f"Dask LocalCluster, {workers} worker processes"


def run_tasks(client, fn: Callable, jobs: dict[str, tuple], *, total: int | None = None, desc: str = "",
              progress: bool = True) -> dict[str, object]:
    """Run ``fn(*args)`` for every ``name: args`` of ``jobs`` on the cluster; ``{name: result}``.

    The first task that fails cancels the others and its exception is raised here (the tasks finished before stay
    finished: their shards are on disk). ``total``: the bar's length when some of it (``total - len(jobs)``,
    reused shards) is already done.
    """
    from distributed import as_completed

    total = len(jobs) if total is None else total
    # progress=True leaves `disable` to tqdm's defaults, so TQDM_DISABLE=1 (set by the notebook runner) wins
    bar = tqdm(total=total, initial=total - len(jobs), desc=desc, unit="case",
               **({} if progress else {"disable": True}))
    futures = {client.submit(fn, *args, pure=False): name for name, args in jobs.items()}
    results = {}
    try:
        for future in as_completed(futures, loop=client.loop):
            results[futures[future]] = future.result()
            bar.update()
    except BaseException:
        client.cancel(list(futures))
        raise
    finally:
        bar.close()
    return results
