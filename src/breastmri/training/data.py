"""Optional in-memory copy of an HDF5 split for training on CPU.

Reading slice by slice from the compressed HDF5 file decompresses every chunk again each epoch (about
7 CPU-seconds per epoch for the default 6-channel lesion file on this machine); reading the split once
in contiguous row runs costs about 1.3 CPU-seconds in all. The copy holds the split's images and masks
(``N x C x S x S`` float32 + ``N x S x S`` uint8), so ``preload`` is meant for the small CPU default; keep
it off for large GPU-profile files and use DataLoader workers instead.
"""

from __future__ import annotations

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from breastmri.data.errors import DataError


class InMemorySlices(Dataset):
    """Same items and attributes as the wrapped ``H5SliceDataset``, served from memory."""

    def __init__(self, dataset):
        self.path, self.split = dataset.path, dataset.split
        self.patient_ids, self.slice_indices = dataset.patient_ids, dataset.slice_indices
        self.rows = np.asarray(dataset.rows)
        try:
            with h5py.File(self.path, "r") as f:
                self.images = torch.from_numpy(_read_rows(f["images"], self.rows))
                self.masks = torch.from_numpy(_read_rows(f["masks"], self.rows))
        except (OSError, KeyError) as exc:
            raise DataError(self.path, f"cannot read slices into memory: {exc}") from exc

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} items")
        return {"image": self.images[i], "mask": self.masks[i].float(), "index": int(i) % len(self)}


def _read_rows(data: h5py.Dataset, rows: np.ndarray) -> np.ndarray:
    """``data[rows]`` read as runs of consecutive rows (each compressed chunk decoded once)."""
    out = np.empty((len(rows),) + data.shape[1:], dtype=data.dtype)
    if len(rows) == 0:
        return out
    if np.any(np.diff(rows) <= 0):
        raise ValueError("rows must be strictly increasing")
    pos = 0
    for run in np.split(rows, np.flatnonzero(np.diff(rows) != 1) + 1):
        data.read_direct(out, np.s_[int(run[0]):int(run[-1]) + 1], np.s_[pos:pos + len(run)])
        pos += len(run)
    return out
