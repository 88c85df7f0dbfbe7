"""Helpers for the inference tests (a uniquely named module: other test folders have their own conftest.py).

Small phantom-like volumes in the working frame's anatomy, stored in several ways whose affines describe that
anatomy (as scanner files do), a tiny checkpoint, and stand-in predictors (tests must stay fast: no phantom
generator, no training)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from breastmri.data.io import save_nifti
from breastmri.orientation.frame import frame_affine, working_ornt

SPACING = (0.8, 0.7, 2.5)
SHAPE = (48, 40, 20)  # non-square in-plane


def phantom_like(shape=SHAPE, seed=0, lesion_centre=(34, 12, 9), lesion_radius=3):
    """Canonical anatomy (see contracts): body at low axis-0 rows, two unequal breasts at high rows,
    air in front, brighter superior slices (a bright band in the body of the top slices)."""
    rng = np.random.default_rng(seed)
    h, w, d = shape
    rows, cols = np.mgrid[:h, :w]
    scan = np.zeros(shape, np.float32)
    body = rows < int(0.45 * h)
    centres = ((int(0.45 * h), int(0.3 * w), 0.30 * w, 0.36 * h), (int(0.45 * h), int(0.72 * w), 0.2 * w, 0.28 * h))
    breast2d = np.zeros((h, w), bool)
    for r0, c0, rc, rr in centres:
        breast2d |= (rows >= r0) & (((rows - r0) / rr) ** 2 + ((cols - c0) / rc) ** 2 <= 1)
    r0 = centres[0][0]
    breast2d[r0:r0 + 2, int(0.1 * w):int(0.9 * w)] = True   # chest-wall band: one connected mask
    breast = np.repeat(breast2d[:, :, None], d, axis=2)
    scan[np.repeat(body[:, :, None], d, axis=2)] = 20
    scan[:int(0.35 * h), :, int(0.8 * d):] = 160      # osseous structures: superior slices brighter
    scan[breast] = 100
    z, y, x = np.ogrid[:h, :w, :d]
    lesion = ((z - lesion_centre[0]) ** 2 + (y - lesion_centre[1]) ** 2
              + ((x - lesion_centre[2]) * SPACING[2] / SPACING[0]) ** 2) <= lesion_radius ** 2
    lesion &= breast
    scan[lesion] = 220
    scan = np.abs(scan + rng.normal(0, 2, shape)).astype(np.float32)  # magnitude image: noise is never negative
    return scan, breast.astype(np.uint8), lesion.astype(np.uint8)


def _flip_affine(affine, shape, axis):
    """Affine of an array reversed along ``axis`` so every voxel keeps its world position."""
    out = np.array(affine, dtype=float)
    out[:3, 3] += out[:3, axis] * (shape[axis] - 1)
    out[:3, axis] *= -1
    return out


def store(arrays, storage="diag", flip_ud=False, flip_hf=False, spacing=SPACING):
    """Working-frame arrays -> (stored arrays, affine that describes them): ``flip_ud``/``flip_hf`` reverse axis
    0 / 2 (stored posterior-first / head-first), ``storage``: diag (A, L, S as is), lps (axes 0/1 reversed
    too), transposed (axes 0/1 swapped). Every variant lands on the same working-frame array."""
    affine = frame_affine(spacing)
    out = [np.asarray(a) for a in arrays]
    shape = out[0].shape
    if flip_ud:
        affine = _flip_affine(affine, shape, 0)
    if flip_hf:
        affine = _flip_affine(affine, shape, 2)
    if flip_ud:
        out = [a[::-1] for a in out]
    if flip_hf:
        out = [a[:, :, ::-1] for a in out]
    if storage == "lps":
        shape = out[0].shape
        affine = _flip_affine(_flip_affine(affine, shape, 0), shape, 1)
        out = [a[::-1, ::-1] for a in out]
    elif storage == "transposed":
        affine = affine[:, [1, 0, 2, 3]]
        out = [a.transpose(1, 0, 2) for a in out]
    elif storage != "diag":
        raise ValueError(storage)
    return [np.ascontiguousarray(a) for a in out], affine


def threshold_predictor(oriented, spacing=None):
    """Stand-in model on the ORIENTED array: bright tissue in the lower 60% of each axial image
    (it would miss the breasts if orientation had failed)."""
    oriented = np.asarray(oriented)
    prob = (oriented >= 90).astype(np.float32)
    prob[: int(0.4 * oriented.shape[0])] = 0
    return prob


class IdentityNet(torch.nn.Module):
    """'Identity model': logits = 10 x the normalised input, i.e. voxels brighter than the volume mean."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return 10.0 * x[:, :1] + 0.0 * self.dummy


def tiny_checkpoint(path: Path, task="breast", size=32, with_size=True, threshold=0.5, phases=None, breast_box=None):
    """A small untrained checkpoint; a lesion one records ``phases`` (one input channel each) and ``breast_box`` when
    given, else none (as checkpoints from before they existed: 6 channels, no box)."""
    from breastmri.model.unet import UNet
    from breastmri.training.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = UNet(in_channels=1 if task == "breast" else len(phases or range(6)), base=2, depth=2)
    params = {"threshold": threshold, "task": task}
    if with_size:
        params.update(size=size, low_pct=1.0, high_pct=99.0, spacing_mm=2.0)
    if phases is not None:
        params.update(phases=list(phases))
    if breast_box is not None:
        params.update(breast_box=breast_box)
    return save_checkpoint({"model_state": model.state_dict(), "model_config": model.config, "task": task,
                            "epoch": 1, "params": params}, path)


VARIANTS = [  # (patient number, storage, flip_ud, flip_hf)
    (1, "diag", False, False),
    (2, "diag", True, False),
    (3, "lps", False, False),
    (4, "lps", True, True),
    (5, "transposed", False, True),
]


def write_seed(root: Path, variants=VARIANTS, with_truth=True):
    """A seed layout with inference scans in several storages, and a truth record in the ORIGINAL frame."""
    patients = {}
    for number, storage, ud, hf in variants:
        pid = f"Breast_MRI_{number:03d}"
        scan, breast, lesion = phantom_like(seed=number)
        (s, b, l), affine = store([scan, breast, lesion], storage, ud, hf)
        save_nifti(s.astype(np.float32), affine, root / "seed" / "inference" / "scans" / f"{pid}.nii.gz")
        save_nifti(b, affine, root / "truth" / "seed" / f"{pid}_breast.nii.gz")
        save_nifti(l, affine, root / "truth" / "seed" / f"{pid}_lesion.nii.gz")
        patients[pid] = {"split": "inference", "cohort": storage, "affine_matches_anatomy": True,
                         "stored_to_working": working_ornt(affine).tolist(), "mask_flip_ud": False,
                         "mask_flip_lr": False, "storage": storage, "lesion_volume_mm3": float(l.sum()),
                         "lesion_peak_enhancement": 1.0, "breast_mask": f"truth/seed/{pid}_breast.nii.gz",
                         "lesion_mask": f"truth/seed/{pid}_lesion.nii.gz"}
    if with_truth:
        (root / "truth" / "truth.json").write_text(json.dumps({"seed": 0, "seed_layout": {"patients": patients}}))
    return root / "seed", root / "truth"
