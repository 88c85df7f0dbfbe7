"""Optional in-memory copy of an HDF5 split for training on CPU.

Reading slice by slice from the compressed HDF5 file decompresses every chunk again each epoch (about
7 CPU-seconds per epoch for the default 6-channel lesion file on this machine); reading the split once
in contiguous row runs costs about 1.3 CPU-seconds in all. The copy holds the split's images and masks
(``N x C x S x S`` float32 + ``N x S x S`` uint8), so ``preload`` is meant for the small CPU default; keep
it off for large GPU-profile files and use DataLoader workers instead.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


class InMemorySlices(Dataset):
    """Same items and attributes as the wrapped ``H5SliceDataset``, served from memory."""

    def __init__(self, dataset):
        self.path, self.split = dataset.path, dataset.split
        self.patient_ids, self.slice_indices = dataset.patient_ids, dataset.slice_indices
        self.rows = np.asarray(dataset.rows)
        self.images = torch.from_numpy(dataset.source.read("images", self.rows))
        self.masks = torch.from_numpy(dataset.source.read("masks", self.rows))

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} items")
        return {"image": self.images[i], "mask": self.masks[i].float(), "index": int(i) % len(self)}
