import pickle

import pytest
import torch
from torch.utils.data import DataLoader

from breastmri.data.errors import DataError
from breastmri.slices.build import build_breast_h5, build_lesion_h5
from breastmri.slices.dataset import H5SliceDataset

from .synth import LESION


def test_breast_dataset_items_and_splits(seed_root, tmp_path):
    out = tmp_path / "breast.h5"
    build_breast_h5(seed_root, out, size=16, val_fraction=0.4, seed=0, progress=False)
    train, val, everything = (H5SliceDataset(out, s) for s in ("train", "validation", "all"))
    assert len(train) + len(val) == len(everything) == 22
    assert not set(train.patient_ids) & set(val.patient_ids)
    item = train[3]
    assert item["image"].dtype == torch.float32 and item["image"].shape == (1, 16, 16)
    assert item["mask"].dtype == torch.float32 and item["mask"].shape == (1, 16, 16) and item["index"] == 3
    assert set(torch.unique(item["mask"]).tolist()) <= {0.0, 1.0}
    assert train.slice_geometry(0).size == 16 and len(train.slice_indices) == len(train)
    with pytest.raises(IndexError):
        train[len(train)]
    # pickles without its handle and works in DataLoader worker processes
    train[0]
    clone = pickle.loads(pickle.dumps(train))
    assert clone._file is None and torch.equal(clone[5]["image"], train[5]["image"])
    batches = list(DataLoader(train, batch_size=4, num_workers=2, shuffle=False))
    assert torch.equal(torch.cat([b["image"] for b in batches]), torch.stack([train[i]["image"] for i in range(len(train))]))


def test_lesion_dataset(mamamia_root, tmp_path):
    out = tmp_path / "lesion.h5"
    build_lesion_h5(mamamia_root, out, **LESION, size=16, min_lesion_px=5, neg_exclusion_slices=4,
                    progress=False)
    ds = H5SliceDataset(out, "all")
    assert ds[0]["image"].shape == (6, 16, 16) and ds.phase_present.shape == (len(ds), 6)
    assert ds.geometry is None


def test_missing_or_invalid_file(tmp_path):
    with pytest.raises(DataError):
        H5SliceDataset(tmp_path / "none.h5")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"junk")
    with pytest.raises(DataError):
        H5SliceDataset(bad)
