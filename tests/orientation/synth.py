"""Small constructed breast-like volumes in the canonical frame, planted defects and storage variants.

Independent of the project's phantom, so the orientation tests run (and mean something) without it.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

SPACING = (1.0, 1.2, 2.0)
SHAPE = (40, 36, 20)


def anatomy(seed: int = 0, shape=SHAPE, left_bigger: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(scan float32, breast mask uint8) in the canonical frame of contracts.md.

    Body posterior (low axis-0 index) with dark lungs, two breasts of different sizes anterior to the chest
    wall, air in front, brighter bone in the most superior slices, intensities weighted by a breast-coil
    sensitivity profile (the breast half of an axial slice is the brighter one, as the seed assumes).
    """
    rng = np.random.default_rng(seed)
    h, w, d = shape
    r, c, z = np.meshgrid(np.arange(h) / h, np.arange(w) / w, np.arange(d) / d, indexing="ij")
    jitter = rng.uniform(-0.02, 0.02, size=4)
    scan = np.abs(rng.normal(0, 3, size=shape))
    body = ((r - 0.32 - jitter[0]) / 0.22) ** 2 + ((c - 0.5) / 0.42) ** 2 <= 1
    scan[body] = 90 * (1 + 0.4 * z[body])
    for col in (0.32, 0.68):
        lung = ((r - 0.3) / 0.12) ** 2 + ((c - col) / 0.1) ** 2 <= 1
        scan[lung & body] = 15
    chest = 0.54
    radii = [(0.30 + jitter[1], 0.17), (0.21 + jitter[2], 0.12)]
    if not left_bigger:
        radii = radii[::-1]
    mask = np.zeros(shape, dtype=bool)
    for (rr, rc), col in zip(radii, (0.3, 0.7)):
        taper = np.clip(1 - ((z - 0.5) / 0.45) ** 2, 0, None)
        mask |= (r >= chest) & (((r - chest) / (rr * taper + 1e-6)) ** 2 + ((c - col) / (rc * taper + 1e-6)) ** 2 <= 1)
    scan[mask] = 170 + rng.normal(0, 5, size=int(mask.sum()))
    top = z >= 0.85
    bone = top & (((r - 0.15) / 0.05) ** 2 + ((c - 0.5) / 0.35) ** 2 <= 1)
    scan[bone] = 260
    scan *= 0.3 + 0.7 * r  # receive-coil sensitivity: highest at the breasts (prone, breast coil)
    return scan.astype(np.float32), mask.astype(np.uint8)


def diag_affine(spacing=SPACING) -> np.ndarray:
    return np.diag([*spacing, 1.0])


def plant(scan, mask, scan_ud=False, scan_hf=False, mask_ud=False, mask_lr=False):
    """Planted defects as in contracts.md: scan flips also move the mask, then the mask-only flips."""
    if scan_ud:
        scan, mask = scan[::-1], mask[::-1]
    if scan_hf:
        scan, mask = scan[:, :, ::-1], mask[:, :, ::-1]
    if mask_ud:
        mask = mask[::-1]
    if mask_lr:
        mask = mask[:, ::-1]
    return np.ascontiguousarray(scan), np.ascontiguousarray(mask)


def store(array: np.ndarray, affine: np.ndarray, storage: str) -> tuple[np.ndarray, np.ndarray]:
    """Store a canonical-frame array in an alternative but affine-consistent way (same world positions)."""
    if storage == "diag":
        return np.ascontiguousarray(array), affine
    if storage == "lps":
        n0, n1 = array.shape[:2]
        flip = np.array([[-1, 0, 0, n0 - 1], [0, -1, 0, n1 - 1], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=float)
        return np.ascontiguousarray(array[::-1, ::-1, :]), affine @ flip
    if storage.startswith("transposed"):
        perm = (1, 0, 2) if storage == "transposed" else tuple(int(ch) for ch in storage.split("_")[1])
        moved = np.transpose(array, perm)
        p = np.zeros((4, 4))
        p[3, 3] = 1
        for k, old in enumerate(perm):
            p[old, k] = 1
        return np.ascontiguousarray(moved), affine @ p
    raise ValueError(storage)


def save(array, affine, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, affine), str(path))
    return path


def write_dataset(root: Path, specs: list[dict]) -> tuple[Path, Path]:
    """A seed-layout dataset plus a truth dir in the phantom's format. Each spec: pid (int), split,
    seed, scan_flip_ud, scan_flip_hf, mask_flip_ud, mask_flip_lr, storage."""
    seed_root, truth_dir = root / "seed", root / "truth"
    patients = {}
    for spec in specs:
        pid = f"Breast_MRI_{spec['pid']:03d}"
        scan, mask = anatomy(spec.get("seed", spec["pid"]), left_bigger=spec["pid"] % 2 == 0)
        truth_mask = mask
        flips = {k: bool(spec.get(k, False)) for k in ("scan_flip_ud", "scan_flip_hf", "mask_flip_ud", "mask_flip_lr")}
        scan_d, mask_d = plant(scan, mask, flips["scan_flip_ud"], flips["scan_flip_hf"],
                               flips["mask_flip_ud"], flips["mask_flip_lr"])
        truth_d, _ = plant(truth_mask, truth_mask, flips["scan_flip_ud"], flips["scan_flip_hf"])
        storage = spec.get("storage", "diag")
        s_arr, s_aff = store(scan_d, diag_affine(), storage)
        m_arr, m_aff = store(mask_d, diag_affine(), storage)
        t_arr, t_aff = store(truth_d, diag_affine(), storage)
        split = spec.get("split", "train")
        save(s_arr, s_aff, seed_root / split / "scans" / f"{pid}.nii.gz")
        if split == "train":
            save(m_arr, m_aff, seed_root / split / "masks" / f"{pid}.nii.gz")
        rel = f"truth/seed/{pid}_breast.nii.gz"
        save(t_arr, t_aff, root / rel)
        patients[pid] = {"split": split, "storage": storage, "breast_mask": rel,
                         **{k: (v if split == "train" or k.startswith("scan") else False) for k, v in flips.items()}}
    truth_dir.mkdir(parents=True, exist_ok=True)
    (truth_dir / "truth.json").write_text(json.dumps({"seed": 0, "seed_layout": {"patients": patients}}))
    return seed_root, truth_dir
