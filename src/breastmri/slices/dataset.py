"""PyTorch access to a slice HDF5 file: random access by index, the file opened lazily per worker."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from breastmri.slices.geometry import SliceGeometry
from breastmri.slices.h5file import SliceFile


class H5SliceDataset(Dataset):
    """Items of one split of ``data/processed/<task>.h5``.

    Only the small per-slice metadata is read at construction; the file is then closed. Each process
    (DataLoader worker) opens its own read-only handle on first access, so the dataset can be pickled
    and used with ``num_workers > 0``.

    ``__getitem__(i)`` -> ``{"image": float32 (C, S, S), "mask": float32 (1, S, S), "index": i}``.
    Per-item numpy attributes: ``patient_ids``, ``slice_indices``, ``rows`` (row in the file),
    ``phase_present`` (lesion files) and ``geometry`` rows (breast files).
    """

    def __init__(self, path: str | Path, split: str = "train"):
        self.source = SliceFile(path)
        self.path, self.split = self.source.path, split
        self.rows = self.source.rows(split)
        self.patient_ids = self.source.patient_ids[self.rows]
        self.slice_indices = self.source.slice_indices[self.rows]
        self.geometry = None if self.source.geometry is None else self.source.geometry[self.rows]
        self.phase_present = None if self.source.phase_present is None else self.source.phase_present[self.rows]
        self.task, self.size, self.channels = self.source.task, self.source.size, self.source.channels
        self.params = self.source.params
        self._file: h5py.File | None = None
        self._pid: int | None = None
        self._images = self._masks = None

    def __len__(self) -> int:
        return len(self.rows)

    def _handle(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            self._file = self.source.open()
            self._pid = os.getpid()
            self._images, self._masks = self._file["images"], self._file["masks"]
        return self._file

    def __getitem__(self, i: int) -> dict:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} items")
        row = int(self.rows[i])
        self._handle()
        image = torch.from_numpy(self._images[row])
        mask = torch.from_numpy(self._masks[row].astype(np.float32))
        return {"image": image, "mask": mask, "index": int(i) % len(self)}

    def slice_geometry(self, i: int) -> SliceGeometry:
        """The resize/pad geometry of item ``i`` (breast files)."""
        if self.geometry is None:
            raise ValueError(f"{self.path} has no /geometry (task {self.task})")
        return SliceGeometry.from_row(self.geometry[i], self.size)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file, self._pid, self._images, self._masks = None, None, None, None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_file"], state["_pid"], state["_images"], state["_masks"] = None, None, None, None
        return state

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
