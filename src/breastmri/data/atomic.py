"""Write-then-rename, so an interrupted write never leaves a file that looks complete."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
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


@contextlib.contextmanager
def atomic_dir(final: str | Path) -> Iterator[Path]:
    """Yield a new empty folder beside ``final``; it takes ``final``'s place only if the block succeeds (a folder
    already there is replaced), else it is removed, so ``final`` is never seen half written.

    The temporary folder is named like :func:`atomic_path`'s temporary files (``.<name>.<random>.tmp``), so
    :func:`remove_stale_temps` removes one a killed write left. The old folder is renamed aside, the new one
    renamed in, then the old one deleted. Parent folders are created.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    stem, suffixes = _split_name(final)
    tmp = Path(tempfile.mkdtemp(prefix=f".{stem}.", suffix=f".tmp{suffixes}", dir=final.parent))
    old = None
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700 folders; give the usual permissions
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{stem}.", suffix=f".tmp{suffixes}", dir=final.parent))
            os.replace(final, old)  # onto the empty folder just made: a name nobody else uses
        os.replace(tmp, final)
    finally:
        for leftover in (tmp, old):
            if leftover is not None:
                shutil.rmtree(leftover, ignore_errors=True)


def _split_name(path: Path) -> tuple[str, str]:
    suffixes = "".join(path.suffixes)
    return (path.name[: len(path.name) - len(suffixes)] if suffixes else path.name), suffixes


def remove_stale_temps(final: str | Path) -> list[Path]:
    """Delete the temporary files (or folders, :func:`atomic_dir`) an interrupted (killed) earlier write of
    ``final`` left beside it.

    Writers call this before writing ``final`` again, so a killed run leaves no litter in a stage's output
    folder once the stage has been re-run.
    """
    final = Path(final)
    stem, suffixes = _split_name(final)
    stale = sorted(final.parent.glob(f".{stem}.*.tmp{suffixes}"))
    for path in stale:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return stale


LOCK = ".breastmri.lock"  # the lock file a folder is locked through


@contextlib.contextmanager
def locked(folder: str | Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the folder's lock file (:data:`LOCK`, created) for the block, waiting for
    another holder to let go.

    A lock ends when its holder's descriptor is closed or its process dies, however it died. A lock file (opened
    for writing), not the folder: an NFS client emulates ``flock`` with byte-range locks, which it refuses on a
    folder."""
    fd = _lock(Path(folder), wait=True)
    try:
        yield
    finally:
        os.close(fd)


def _lock(folder: Path, wait: bool) -> int | None:
    """An open descriptor of ``folder``'s lock file holding an exclusive ``flock`` on it; ``None`` when
    ``not wait`` and another descriptor (of any process) holds one."""
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


class StagingFolder:
    """A run's staging folder ``<out_dir>/<prefix><random>``: the run writes its files there and :meth:`commit`
    moves them into ``out_dir`` beside what is there already (each by one atomic rename), so no file appears under
    its final name half written and a failed run leaves nothing.

    A context manager: entering creates ``out_dir`` and the folder and locks the folder (:func:`locked`) until
    the block ends; the folder is then removed with whatever was not moved in. The lock tells the folder of a
    live run from that of a killed one, which :func:`remove_abandoned_staging` removes.

    Runs into the same ``out_dir`` at once: each commit holds ``out_dir``'s lock, so one commit's files are moved
    in together, never interleaved with another's. Once both are done, each name holds the complete file of the
    run that committed last, and a set of names both runs write comes wholly from that run (a reader that takes no
    lock may see the set half moved in during a commit, each file complete).

    The locks are ``flock`` on lock files (:func:`locked`), which local file systems and NFS clients honour.
    """

    def __init__(self, out_dir: str | Path, prefix: str):
        self.out_dir = Path(out_dir)
        self.prefix = prefix
        self.path: Path | None = None
        self._fd: int | None = None

    def __enter__(self) -> "StagingFolder":
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with locked(self.out_dir):  # no remove_abandoned_staging sees the folder before it is locked
            self.path = Path(tempfile.mkdtemp(prefix=self.prefix, dir=self.out_dir))
            self._fd = _lock(self.path, wait=True)
        return self

    def __exit__(self, *exc) -> None:
        try:
            shutil.rmtree(self.path, ignore_errors=True)
        finally:
            os.close(self._fd)

    def commit(self, names: list[str]) -> dict[str, Path]:
        """Move the staged files ``names`` into ``out_dir``, in that order; returns {name: final path}."""
        final = {}
        with locked(self.out_dir):
            for name in names:
                os.replace(self.path / name, self.out_dir / name)
                final[name] = self.out_dir / name
        return final


def remove_abandoned_staging(out_dir: str | Path, prefix: str) -> list[Path]:
    """Remove the :class:`StagingFolder` folders named ``<prefix>*`` in ``out_dir`` that no live run holds (those
    of killed runs); returns them. Those of runs alive now, in any process, are left alone."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return []
    removed = []
    with locked(out_dir):
        for folder in sorted(out_dir.glob(f"{prefix}*")):
            try:
                fd = _lock(folder, wait=False)
            except OSError:  # not a folder, or gone
                continue
            if fd is None:
                continue
            try:
                shutil.rmtree(folder, ignore_errors=True)
            finally:
                os.close(fd)
            removed.append(folder)
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)
