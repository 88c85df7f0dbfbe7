"""The ``--child`` protocol of the benchmarks that measure a build in a process of its own (not a benchmark).

``python <script> --child '<spec JSON>'`` runs the script's child function on the spec and prints what it returns
as one ``RESULT <JSON>`` line (:func:`main`); :func:`run_child` starts such a process, measures it (wall time,
peak RSS) and returns that result with the measurements.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

RESULT = "RESULT "


def main(parser: argparse.ArgumentParser, child: Callable[[dict], dict],
         run: Callable[[argparse.Namespace], dict]) -> int:
    """A benchmark's command line: ``parser`` gains ``--json`` (also write the figures there) and the hidden
    ``--child SPEC``; the latter prints ``child(spec)`` for :func:`run_child`, else ``run(args)`` measures."""
    parser.add_argument("--json", type=Path, help="also write all figures here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(RESULT + json.dumps(child(json.loads(args.child))), flush=True)
        return 0
    results = run(args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def start_child(script: Path, spec: dict, **popen) -> subprocess.Popen:
    """``<script> --child <spec>`` started, progress bars off."""
    return subprocess.Popen([sys.executable, str(script), "--child", json.dumps(spec)],
                            env={**os.environ, "TQDM_DISABLE": "1"}, **popen)


class TreeSampler:
    """Samples the summed RSS of a process and all its descendants in a thread; ``peak_mb`` when stopped."""

    def __init__(self, pid: int, every_s: float):
        import psutil

        self.root, self.every = psutil.Process(pid), every_s
        self.peak, self.pids = 0, {pid}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                break
            total = 0
            for p in procs:
                try:
                    total += p.memory_info().rss
                    self.pids.add(p.pid)
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self.every)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / 2**20


def run_child(script: Path, spec: dict, sample_s: float | None = None) -> dict:
    """Run ``<script> --child <spec>`` to its end; return its result with ``wall_s`` (the process's, start
    included) and ``wait4_maxrss_mb`` (the child's peak RSS by ``wait4``), and, every ``sample_s`` seconds sampled
    (:class:`TreeSampler`), ``peak_tree_rss_mb`` (its whole process tree) and ``processes``. A failed child ends
    this process with its output's tail."""
    proc = start_child(script, spec, stdout=subprocess.PIPE, text=True)
    sampler = TreeSampler(proc.pid, sample_s) if sample_s else None
    started = time.perf_counter()
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    measured = {"wall_s": time.perf_counter() - started, "wait4_maxrss_mb": usage.ru_maxrss / 1024}
    if sampler is not None:
        measured.update(peak_tree_rss_mb=sampler.stop(), processes=len(sampler.pids))
    if proc.returncode != 0:
        raise SystemExit(f"child build failed ({proc.returncode}): {out[-2000:]}")
    result = json.loads(next(line for line in out.splitlines() if line.startswith(RESULT))[len(RESULT):])
    return {**result, **measured}
