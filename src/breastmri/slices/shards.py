"""Per-case shards of a distributed build: one HDF5 file per case, reused when its fingerprint matches.

Layout of a task's shard folder (``<shard_dir>/<task>/``)::

    <case>.h5                 one case's stored slices (PatientSlices), written by the worker that made them
    <case>.candidates.json    lesion task, pass 1: the case's positives and negative candidates

Every file is written under a temporary name and renamed when complete (:func:`~breastmri.data.atomic.atomic_path`),
so a file under its final name is always whole; a killed build leaves only ``.<case>.*.tmp.*`` litter, removed by
:meth:`ShardStore.clean_temps` when the build is resumed.

Each file records the **fingerprint** of what made it (:func:`fingerprint`): the case, every input file's resolved
path, size and modification time (each file of a DICOM folder), the settings that shape the case's arrays and a
hash of the ``breastmri.slices`` and ``breastmri.data`` source (:func:`code_version`). A file whose fingerprint is not
the one the current build asks for (other settings, other or touched input files, other code) is recomputed, never
reused. Settings that only the merge applies (compression, the train/validation split) are not part of it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from breastmri.data.atomic import atomic_path
from breastmri.data.errors import DataError
from breastmri.data.io import write_json
from breastmri.slices.selection import CaseCandidates
from breastmri.slices.writer import PatientSlices

FORMAT = 1  # bump when the shard layout changes


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """SHA-256 of the source files of ``breastmri.slices`` and ``breastmri.data`` (what shapes a shard's arrays)."""
    import breastmri.data
    import breastmri.slices

    digest = hashlib.sha256()
    for package in (breastmri.data, breastmri.slices):
        root = Path(package.__file__).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(f"{package.__name__}/{path.relative_to(root).as_posix()}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _describe_input(item) -> object:
    """What identifies one input: resolved path, size and mtime (every file of a folder); ``None`` stays None."""
    if item is None:
        return None
    index = getattr(item, "index", None)  # a DicomPhase: the series folder and the phase's index
    path = Path(os.fspath(item))
    try:
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file())
            entries = [[p.relative_to(path).as_posix(), p.stat().st_size, p.stat().st_mtime_ns] for p in files]
            described = {"folder": str(path.resolve()), "files": entries}
        else:
            st = path.stat()
            described = {"file": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    except OSError as exc:
        raise DataError(path, f"cannot read the input's size and time: {exc}") from exc
    if index is not None:
        described["phase_index"] = int(index)
    return described


def fingerprint(kind: str, case: str, inputs: list, settings: dict, code: str | None = None) -> str:
    """SHA-256 (hex) of what makes one case's shard: ``kind`` (e.g. ``"breast slices"``), the case id, its input
    files (paths, DICOM phases or ``None``), the ``settings`` (JSON-serialisable) and the code version."""
    doc = {"format": FORMAT, "kind": kind, "case": case, "inputs": [_describe_input(i) for i in inputs],
           "settings": settings, "code": code or code_version()}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode("utf-8")).hexdigest()


_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")


def _file_stem(case: str) -> str:
    """``case`` itself when it is a plain file name, else a name derived from its hash."""
    if _SAFE.fullmatch(case) and not case.endswith(".candidates"):
        return case
    return "case-" + hashlib.sha1(case.encode("utf-8")).hexdigest()[:20]


def write_shard(path: str | Path, batch: PatientSlices, fp: str) -> Path:
    """Write one case's slices to ``path`` atomically (uncompressed: shards are read once, by the merge)."""
    extra = "geometry" if batch.geometry is not None else "phase_present"
    values = batch.geometry if batch.geometry is not None else batch.phase_present
    if values is None:
        raise ValueError(f"{batch.patient_id}: a shard needs geometry (breast) or phase_present (lesion)")
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("images", data=np.asarray(batch.images, dtype=np.float32))
            f.create_dataset("masks", data=np.asarray(batch.masks, dtype=np.uint8))
            f.create_dataset("slice_index", data=np.asarray(batch.slice_index, dtype=np.int32))
            f.create_dataset(extra, data=np.asarray(values))
            f.attrs["patient_id"] = batch.patient_id
            f.attrs["info"] = json.dumps(batch.info) if batch.info is not None else ""
            f.attrs["fingerprint"] = fp
    return Path(path)


def shard_fingerprint(path: str | Path) -> str | None:
    """The fingerprint a complete shard records; ``None`` when there is none (missing or unreadable file)."""
    try:
        with h5py.File(path, "r") as f:
            return str(f.attrs["fingerprint"])
    except (OSError, KeyError):
        return None


def read_shard(path: str | Path, fp: str) -> PatientSlices:
    """One case's slices from its shard; a :class:`DataError` unless the shard records fingerprint ``fp``."""
    try:
        with h5py.File(path, "r") as f:
            if str(f.attrs["fingerprint"]) != fp:
                raise DataError(path, "shard was replaced by one of other inputs or settings during the build")
            geometry = f["geometry"][:] if "geometry" in f else None
            present = f["phase_present"][:] if "phase_present" in f else None
            info = str(f.attrs["info"])
            return PatientSlices(patient_id=str(f.attrs["patient_id"]), images=f["images"][:], masks=f["masks"][:],
                                 slice_index=f["slice_index"][:], geometry=geometry, phase_present=present,
                                 info=json.loads(info) if info else None)
    except (OSError, KeyError) as exc:
        raise DataError(path, f"cannot read the shard: {exc}") from exc


def write_candidates(path: str | Path, found: CaseCandidates, fp: str) -> Path:
    """Write one case's pass-1 result (positives, negative candidates, facts) to ``path`` atomically."""
    doc = {"fingerprint": fp, "case": found.case, "positives": [int(k) for k in found.positives],
           "negatives": [int(k) for k in found.negatives], "n_slices": int(found.n_slices), "info": found.info}
    return write_json(doc, path)


def read_candidates(path: str | Path, fp: str) -> CaseCandidates | None:
    """The pass-1 result stored at ``path`` if it records fingerprint ``fp``, else ``None``."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("fingerprint") != fp:
        return None
    return CaseCandidates(doc["case"], np.asarray(doc["positives"], dtype=np.int64),
                          np.asarray(doc["negatives"], dtype=np.int64), int(doc["n_slices"]), doc["info"])


@dataclass(frozen=True)
class ShardStore:
    """The shard folder of one task: ``<root>/<task>/``."""

    root: Path
    task: str

    @property
    def folder(self) -> Path:
        return Path(self.root) / self.task

    def shard(self, case: str) -> Path:
        return self.folder / f"{_file_stem(case)}.h5"

    def candidates(self, case: str) -> Path:
        return self.folder / f"{_file_stem(case)}.candidates.json"

    def clean_temps(self) -> list[Path]:
        """Delete the temporary files a killed build left (one build per shard folder at a time)."""
        if not self.folder.is_dir():
            return []
        stale = sorted(p for p in self.folder.glob(".*.tmp.*") if p.is_file())
        for path in stale:
            path.unlink(missing_ok=True)
        return stale

    def prune(self, cases: list[str]) -> list[Path]:
        """Delete the files of cases not in ``cases`` (left by an earlier build of another case list)."""
        if not self.folder.is_dir():
            return []
        keep = {self.shard(c).name for c in cases} | {self.candidates(c).name for c in cases}
        stale = sorted(p for p in self.folder.iterdir() if p.is_file() and p.name not in keep)
        for path in stale:
            path.unlink(missing_ok=True)
        return stale

    def remove(self) -> None:
        """Delete the task's shard folder, and the shard root when nothing else is left in it."""
        shutil.rmtree(self.folder, ignore_errors=True)
        try:
            Path(self.root).rmdir()
        except OSError:
            pass

