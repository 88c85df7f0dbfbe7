"""Write-then-rename, so an interrupted write never leaves a file that looks complete."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it to ``final`` only if the block succeeds.

    The temporary name keeps the final suffixes (``x.nii.gz`` -> ``.x.<random>.tmp.nii.gz``) so
    writers that infer the format from the extension still work. Parent folders are created.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    stem, suffixes = _split_name(final)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".tmp{suffixes}", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def _split_name(path: Path) -> tuple[str, str]:
    suffixes = "".join(path.suffixes)
    return (path.name[: len(path.name) - len(suffixes)] if suffixes else path.name), suffixes


def remove_stale_temps(final: str | Path) -> list[Path]:
    """Delete the temporary files an interrupted (killed) earlier write of ``final`` left beside it.

    Writers call this before writing ``final`` again, so a killed run leaves no litter in a stage's output
    folder once the stage has been re-run.
    """
    final = Path(final)
    stem, suffixes = _split_name(final)
    stale = sorted(final.parent.glob(f".{stem}.*.tmp{suffixes}"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)
