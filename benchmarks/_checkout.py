"""This checkout against an earlier commit of it, in one run (not a benchmark): the earlier commit's ``src`` from a
``git worktree``, and the order in which to time the two so that machine load hits both alike."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def package_of(src: Path) -> Path:
    """Where a process with ``PYTHONPATH=src`` imports ``breastmri`` from (must be ``src`` itself)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    found = subprocess.run([sys.executable, "-c", "import breastmri; print(breastmri.__file__)"], env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    return Path(found).resolve().parent.parent


@contextlib.contextmanager
def baseline_sources(ref: str, worktree: Path) -> Iterator[dict[str, Path]]:
    """``{"current": this checkout's src, "baseline": ref's src}``, ``ref`` checked out at ``worktree`` (removed
    after). Each must be what a process with ``PYTHONPATH`` set to it imports: an installed copy must not shadow
    the checkout being timed."""
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(worktree), ref], check=True)
    try:
        sources = {"current": ROOT / "src", "baseline": worktree / "src"}
        for name, src in sources.items():
            if package_of(src) != src.resolve():
                raise SystemExit(f"{name}: breastmri is imported from {package_of(src)}, not {src}")
        yield sources
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)], check=False)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], check=False)  # a killed earlier run's


def alternating(names, repeats: int) -> Iterator[str]:
    """``repeats`` rounds over ``names``, every other round in reverse order."""
    names = list(names)
    for r in range(repeats):
        yield from (names if r % 2 == 0 else names[::-1])
