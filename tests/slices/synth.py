"""Small synthetic inputs for the slice tests (built here: no phantom needed, seconds to make)."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

SIX = [0, 1, 2, 3, 4, 5]  # the default lesion channels (params.yaml build_hdf5.lesion_channels): phases 0 to 5
LESION = {"phases": SIX, "breast_box": "ignore"}  # build_lesion_h5's defaults in params.yaml (channels, no box)


def save(array, spacing, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.asarray(array), np.diag([*spacing, 1.0])), str(path))
    return path


def ellipse_volume(shape, rng, fill=1.0):
    """A bright half-ellipse 'body' in the lower half of each slice plus noise."""
    h, w, d = shape
    yy, xx = np.mgrid[0:h, 0:w]
    body = ((yy - h * 0.55) / (h * 0.4)) ** 2 + ((xx - w / 2) / (w * 0.45)) ** 2 < 1
    vol = np.zeros(shape, np.float32)
    vol[body] = fill
    vol += rng.normal(0, 0.05, shape).astype(np.float32)
    return vol, body


def make_seed_layout(root: Path, shapes: list[tuple[int, int, int]], seed: int = 0) -> Path:
    """Oriented-style seed layout ``root/train/{scans,masks}`` with one patient per shape."""
    rng = np.random.default_rng(seed)
    for i, shape in enumerate(shapes, start=1):
        vol, body = ellipse_volume(shape, rng, fill=100.0)
        mask = np.repeat(body[:, :, None], shape[2], axis=2).astype(np.uint8)
        mask[:, :, 0] = 0  # one empty mask slice
        pid = f"Breast_MRI_{i:03d}"
        save(vol * 3.0 + 7.0, (0.8, 0.8, 2.0), root / "train" / "scans" / f"{pid}.nii.gz")
        save(mask, (0.8, 0.8, 2.0), root / "train" / "masks" / f"{pid}.nii.gz")
    return root


def make_mamamia_layout(root: Path, n_cases: int = 3, missing: dict[int, list[int]] | None = None,
                        shape=(24, 20, 40), spacing=(1.5, 1.5, 1.0), seed: int = 0,
                        n_phases: dict[int, int] | None = None) -> Path:
    """MAMA-MIA layout: body in slices 4..35, a spherical lesion enhancing by 30 per phase, ``n_phases`` phases
    per case (default 6), those listed in ``missing`` absent."""
    rng = np.random.default_rng(seed)
    missing = missing or {}
    h, w, d = shape
    for c in range(n_cases):
        case = f"CASE_{c:03d}"
        vol, _ = ellipse_volume(shape, rng, fill=50.0)
        vol[:, :, :4] = rng.normal(0, 0.05, (h, w, 4))
        vol[:, :, 36:] = rng.normal(0, 0.05, (h, w, d - 36))
        ii, jj, kk = np.meshgrid(np.arange(h) * spacing[0], np.arange(w) * spacing[1], np.arange(d) * spacing[2],
                                 indexing="ij")
        centre = (h * spacing[0] * 0.6, w * spacing[1] * 0.5, 12.0 + 4 * c)
        lesion = ((ii - centre[0]) ** 2 + (jj - centre[1]) ** 2 + (kk - centre[2]) ** 2) < 5.5 ** 2
        for p in range((n_phases or {}).get(c, 6)):
            if p in missing.get(c, []) and p != 0:
                continue
            phase = vol + lesion * 30.0 * p
            save(phase.astype(np.float32), spacing, root / "images" / case / f"{case}_{p:04d}.nii.gz")
        save(lesion.astype(np.uint8), spacing, root / "segmentations" / "expert" / f"{case}.nii.gz")
    return root
