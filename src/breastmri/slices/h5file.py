"""The one reader of the slice HDF5 format that :class:`~breastmri.slices.writer.H5SliceWriter` writes.

Training (:mod:`breastmri.slices.dataset`, :mod:`breastmri.training.data`), threshold selection, the
inference stages (validation split, preprocessing of old checkpoints) and the figures all open the file
through :class:`SliceFile`, so the schema's rules (required datasets, task and split attributes, which
rows a split holds) live in one place. Construction reads the attributes and the small per-slice
metadata and closes the file; image and mask rows are read on demand.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from breastmri.data.errors import DataError

SPLITS = ("train", "validation", "all")
REQUIRED = ("images", "masks", "patient_id", "slice_index", "is_validation")


class SliceFile:
    """Attributes and per-slice metadata of ``data/processed/<task>.h5``.

    ``task``: when given, a file of another task is a :class:`DataError`. Attributes: ``task``, ``size``,
    ``channels``, ``n``, ``params`` (the build's settings), ``split`` (``{"train": [...], "validation":
    [...]}`` or ``None``), ``phases`` and ``breast_box`` (lesion files: the DCE phase of each channel, the breast
    box mode; ``None`` for breast files),
    ``patient_ids``, ``slice_indices``, ``is_validation``, ``geometry`` (breast files) and ``phase_present``
    (lesion files), each with one entry per stored slice.
    """

    def __init__(self, path: str | Path, task: str | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(self.path, "HDF5 slice file not found (run the build_hdf5 stage)")
        try:
            with h5py.File(self.path, "r") as f:
                missing = [name for name in REQUIRED if name not in f]
                if missing:
                    raise KeyError(f"missing dataset(s) {', '.join(missing)}")
                self.task = str(f.attrs["task"])
                self.size = int(f.attrs["size"])
                self.params = json.loads(f.attrs["params"])
                self.split = json.loads(f.attrs["split"]) if "split" in f.attrs else None
                self.n, self.channels = int(f["images"].shape[0]), int(f["images"].shape[1])
                self.patient_ids = f["patient_id"].asstr()[:]
                self.slice_indices = f["slice_index"][:]
                self.is_validation = f["is_validation"][:].astype(bool)
                self.geometry = f["geometry"][:] if "geometry" in f else None
                self.phase_present = f["phase_present"][:] if "phase_present" in f else None
        except (OSError, KeyError, ValueError) as exc:
            raise DataError(self.path, f"not a valid slice HDF5 file: {exc}") from exc
        if task is not None and self.task != task:
            raise DataError(self.path, f"file holds task {self.task!r}, not {task!r}")
        # a lesion file records its channels' phases unless they are 0 .. channels-1, its breast box mode unless it
        # is ignore (the writer's schema)
        lesion = self.task == "lesion"
        self.phases = list(self.params.get("phases", range(self.channels))) if lesion else None
        self.breast_box = str(self.params.get("breast_box", "ignore")) if lesion else None
        if self.phases is not None and len(self.phases) != self.channels:
            raise DataError(self.path, f"the file records {len(self.phases)} channel phases {self.phases} for "
                                       f"{self.channels} image channels")

    def rows(self, split: str) -> np.ndarray:
        """Increasing row numbers of the slices of ``split`` (train, validation or all)."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        keep = {"train": ~self.is_validation, "validation": self.is_validation,
                "all": np.ones(self.n, dtype=bool)}[split]
        return np.flatnonzero(keep)

    def validation_cases(self) -> list[str]:
        """The validation cases recorded in the ``split`` attribute."""
        if self.split is None:
            raise DataError(self.path, "the file records no split attribute")
        return sorted(self.split["validation"])

    def preprocessing(self) -> dict:
        """The build settings inference must repeat (size, clip percentiles, grid spacing, the channels' phases,
        the breast box mode, ...)."""
        lesion = {} if self.phases is None else {"phases": self.phases, "breast_box": self.breast_box}
        return {"size": self.size, **self.params, **lesion}

    def open(self) -> h5py.File:
        """A read-only handle (one per process: DataLoader workers each open their own)."""
        return h5py.File(self.path, "r")

    def read(self, name: str, rows: np.ndarray) -> np.ndarray:
        """``/<name>[rows]`` for increasing ``rows``, read as runs of consecutive rows so each compressed
        chunk is decoded once."""
        rows = np.asarray(rows, dtype=np.int64)
        try:
            with self.open() as f:
                data = f[name]
                out = np.empty((len(rows),) + data.shape[1:], dtype=data.dtype)
                if len(rows) == 0:
                    return out
                if np.any(np.diff(rows) <= 0):
                    raise ValueError("rows must be strictly increasing")
                pos = 0
                for run in np.split(rows, np.flatnonzero(np.diff(rows) != 1) + 1):
                    data.read_direct(out, np.s_[int(run[0]):int(run[-1]) + 1], np.s_[pos:pos + len(run)])
                    pos += len(run)
        except (OSError, KeyError) as exc:
            raise DataError(self.path, f"cannot read /{name}: {exc}") from exc
        return out
