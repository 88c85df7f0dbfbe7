"""Tiny slice HDF5 files in the contracts' schema (written directly with h5py) and complete tiny
hyperparameters for training tests."""

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from breastmri.stages.train import Config

ROOT = Path(__file__).resolve().parents[2]
# the repository's train_<task> values with a small network and few epochs (every other key as params.yaml)
TINY = dict(base=4, depth=2, batch_size=4, max_epochs=3, patience=5, lr=0.01, device="cpu", num_workers=0)


def tiny_hyperparameters(task: str, **changes) -> dict:
    """Every hyperparameter ``run_training`` requires: params.yaml's ``train_<task>`` section (less the paths)
    updated with :data:`TINY`, then ``changes``."""
    values = Config.from_params(ROOT / "params.yaml", [f"train_{task}"]).hyperparameters()
    unknown = sorted(set(TINY) - set(values)) + sorted(set(changes) - set(values))
    assert not unknown, f"not hyperparameters: {unknown}"
    return {**values, **TINY, **changes}


def write_slice_h5(path: Path, task: str = "breast", n_patients: int = 4, n_val: int = 2, slices: int = 6,
                   size: int = 32, seed: int = 0) -> Path:
    """Patients ``P0..``; the last ``n_val`` are validation. Masks are ellipses, images = mask + noise.

    Lesion files: 6 channels, every other slice without lesion, one validation patient lesion-free.
    """
    rng = np.random.default_rng(seed)
    channels = 1 if task == "breast" else 6
    yy, xx = np.mgrid[:size, :size]
    images, masks, pids, sidx, is_val = [], [], [], [], []
    for p in range(n_patients):
        val = p >= n_patients - n_val
        lesion_free = task == "lesion" and p == n_patients - 1
        cy, cx = rng.uniform(0.35, 0.65, 2) * size
        for k in range(slices):
            ry, rx = size * (0.15 + 0.02 * k), size * (0.25 - 0.01 * k)
            mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
            if task == "lesion" and (k % 2 == 1 or lesion_free):
                mask[:] = False
            image = mask[None].astype(np.float32) * np.linspace(1.0, 2.0, channels, dtype=np.float32)[:, None, None]
            image = image + 0.3 * rng.standard_normal((channels, size, size)).astype(np.float32)
            images.append(image)
            masks.append(mask[None].astype(np.uint8))
            pids.append(f"P{p}")
            sidx.append(k)
            is_val.append(val)
    order = rng.permutation(len(images)) if task == "lesion" else np.arange(len(images))  # any item order
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=np.stack(images)[order], chunks=(1, channels, size, size))
        f.create_dataset("masks", data=np.stack(masks)[order], chunks=(1, 1, size, size))
        f.create_dataset("patient_id", data=np.array(pids, dtype=object)[order], dtype=h5py.string_dtype("utf-8"))
        f.create_dataset("slice_index", data=np.array(sidx, dtype=np.int32)[order])
        f.create_dataset("is_validation", data=np.array(is_val, dtype=bool)[order])
        n = len(images)
        if task == "breast":
            f.create_dataset("geometry", data=np.tile(np.array([size, size, size, size, 0, 0], np.int32), (n, 1)))
        else:
            f.create_dataset("phase_present", data=np.ones((n, 6), bool))
        f.attrs.update(task=task, size=size, channels=channels, seed=seed, params=json.dumps({}))
    return path


@pytest.fixture
def breast_h5(tmp_path):
    return write_slice_h5(tmp_path / "breast.h5", "breast")


@pytest.fixture
def lesion_h5(tmp_path):
    return write_slice_h5(tmp_path / "lesion.h5", "lesion", n_patients=5, n_val=3)


@pytest.fixture
def tiny_params():
    """``tiny_params(task, **changes)``: see :func:`tiny_hyperparameters`."""
    return tiny_hyperparameters
