"""Small constructed breast-like volumes in the working frame (A, L, S), storage variants and a seed-layout writer.

Independent of the project's phantom, so the orientation tests run (and mean something) without it.

Working frame (docs/orientation.md): axis 0 posterior -> anterior (breasts at high index), axis 1 the patient's
right -> left, axis 2 inferior -> superior.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.orientations import axcodes2ornt, inv_ornt_aff, ornt_transform

from breastmri.orientation.frame import WORKING_ORNT, frame_affine, from_working

SPACING = (2.0, 2.0, 4.0)
SHAPE = (48, 44, 20)
CONTRASTS = ("fat_suppressed", "t1", "inverted")

#: tissue intensities per contrast: thorax wall/muscle, liver, breast fat, glandular tissue
_INTENSITY = {
    "fat_suppressed": dict(thorax=60.0, liver=55.0, fat=28.0, gland=75.0),
    "t1": dict(thorax=70.0, liver=65.0, fat=170.0, gland=90.0),
    "inverted": dict(thorax=140.0, liver=120.0, fat=30.0, gland=45.0),
}


def anatomy(seed: int = 0, shape=SHAPE, contrast: str = "fat_suppressed", symmetric: bool = False,
            left_bigger: bool = True, offset: int = 3, open_outline: bool = False,
            noise: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """(scan float32, breast mask uint8) in the working frame.

    A thorax ellipse (posterior; axis-0 fractions 0.12..0.60) holding two dark lungs that grow towards the head,
    liver-like tissue filling the inferior end of the cavity; two breasts protruding anteriorly from the chest
    wall (axis-0 fraction 0.52) with a cleft between them, over the middle slices; Rayleigh air noise around.
    ``contrast``: ``fat_suppressed`` (dim fat, brighter glands), ``t1`` (breast fat brighter than the thorax)
    or ``inverted`` (breast darker than the thorax). ``symmetric``: breasts mirror images about the body's
    midline (else the ``left_bigger`` side is larger). ``offset``: the body's midline lies this many voxels
    towards the patient's left of the array centre (0 = a perfectly left-right symmetric volume when
    ``symmetric``). ``open_outline``: the posterior thorax is lost in the coil's fall-off (air-dark); only the
    breasts and a chest-wall arc remain. The mask is every body voxel anterior of the chest wall in the breast
    slices.
    """
    if contrast not in _INTENSITY:
        raise ValueError(contrast)
    value = _INTENSITY[contrast]
    rng = np.random.default_rng(seed)
    n0, n1, n2 = shape
    r, c, z = np.meshgrid((np.arange(n0) + 0.5) / n0, (np.arange(n1) + 0.5 - offset) / n1,
                          (np.arange(n2) + 0.5) / n2, indexing="ij")
    jitter = rng.uniform(-0.01, 0.01, size=4) if not (symmetric and offset == 0) else np.zeros(4)
    # air: Rayleigh noise (magnitude of complex Gaussian noise), as in magnitude MR images
    scan = noise * np.hypot(rng.normal(size=shape), rng.normal(size=shape))
    thorax = ((r - 0.36 - jitter[0]) / 0.24) ** 2 + ((c - 0.5) / 0.42) ** 2 <= 1
    # the cavity: inside the thorax wall; lungs grow towards the head; liver fills the inferior cavity
    cavity = ((r - 0.35) / 0.17) ** 2 + ((c - 0.5) / 0.34) ** 2 <= 1
    lung_size = np.clip(0.25 + 0.9 * z, 0, 1)
    lungs = np.zeros(shape, bool)
    for col in (0.33, 0.67):
        lungs |= ((r - 0.34) / (0.13 * lung_size)) ** 2 + ((c - col) / (0.12 * lung_size)) ** 2 <= 1
    lungs &= cavity & (z > 0.3)
    scan[thorax] = value["thorax"]
    scan[thorax & cavity & (z <= 0.3)] = value["liver"]
    scan[lungs] = noise * np.hypot(rng.normal(size=int(lungs.sum())), rng.normal(size=int(lungs.sum())))
    # breasts: half ellipsoids on the chest wall, tapering to nothing at both ends of the breast slices
    chest = 0.52
    big, small = (0.30 + jitter[1], 0.17), (0.22 + jitter[2], 0.13)
    if symmetric:
        radii = [big, big]
    else:
        radii = [small, big] if left_bigger else [big, small]  # [patient's right (low c), left]
    taper = np.clip(1 - ((z - 0.5) / 0.42) ** 2, 0, None)
    breasts = np.zeros(shape, bool)
    for (depth, width), col in zip(radii, (0.29, 0.71)):
        breasts |= (r >= chest) & (((r - chest) / (depth * taper + 1e-6)) ** 2
                                   + ((c - col) / (width * taper + 1e-6)) ** 2 <= 1)
    gland = breasts & (((r - chest - 0.06) / 0.08) ** 2 + ((np.abs(c - 0.5) - 0.21) / 0.07) ** 2 <= 1)
    scan[breasts] = value["fat"]
    scan[gland] = value["gland"]
    body = thorax | breasts
    if open_outline:  # coil fall-off: nothing posterior of a chest-wall arc shows above the air
        arc = thorax & ~(((r - 0.36) / 0.18) ** 2 + ((c - 0.5) / 0.36) ** 2 <= 1) & (r >= 0.44)
        lost = thorax & ~arc & ~breasts
        scan[lost] = noise * np.hypot(rng.normal(size=int(lost.sum())), rng.normal(size=int(lost.sum())))
        body = arc | breasts
    tissue = ~lungs & body
    scan[tissue] += rng.normal(0, 2.0, size=int(tissue.sum()))
    mask = body & (r >= chest) & (taper > 0.05)
    return np.clip(scan, 0, None).astype(np.float32), mask.astype(np.uint8)


# ------------------------------------------------------------------------------------------ storage
def ornt_of_codes(codes) -> np.ndarray:
    """The ``stored -> working`` ornt of a file whose stored axes point towards ``codes`` (e.g. "PIR")."""
    return ornt_transform(axcodes2ornt(tuple(codes)), WORKING_ORNT)


def stored_affine(ornt, working_shape, spacing=SPACING, rotate_deg: float = 0.0, origin=(-40.0, 12.5, 7.0)):
    """The affine of ``from_working(working_array, ornt)`` when the working array has spacing ``spacing`` and
    a true A, L, S affine (optionally rotated by ``rotate_deg`` about the world z axis: a slightly oblique
    acquisition). ``working_affine`` of the result gives back the working array's affine."""
    working = frame_affine(spacing)
    working[:3, 3] = origin
    if rotate_deg:
        t = np.deg2rad(rotate_deg)
        rot = np.eye(4)
        rot[:2, :2] = [[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]
        working = rot @ working
    stored_shape = stored_shape_of(working_shape, ornt)
    return working @ np.linalg.inv(inv_ornt_aff(np.asarray(ornt, float), stored_shape))


def stored_shape_of(working_shape, ornt) -> tuple[int, int, int]:
    return tuple(int(working_shape[int(target)]) for target, _ in np.asarray(ornt, float))


def store(array: np.ndarray, ornt, spacing=SPACING, rotate_deg: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Store a working-frame array under ``ornt`` with an affine that describes the anatomy."""
    return from_working(array, ornt), stored_affine(ornt, array.shape, spacing, rotate_deg)


#: named storages with truthful affines: (stored -> working ornt, rotation in degrees)
STORAGES = {
    "ALS": ("ALS", 0.0),
    "LPS": ("LPS", 0.0),
    "RAS": ("RAS", 0.0),
    "transposed": ("LAS", 0.0),
    "oblique": ("LPS", 5.0),
    "sagittal": ("PIR", 0.0),
}


def store_named(array, name: str, spacing=SPACING):
    codes, degrees = STORAGES[name]
    ornt = ornt_of_codes(codes)
    stored, affine = store(array, ornt, spacing, degrees)
    return stored, affine, ornt


# ----------------------------------------------------------------------- ignore-mode (seed) storage
def seed_ornt(swap: bool = False, flip_ud: bool = False, flip_hf: bool = False, mirror_lr: bool = False):
    """The ``stored -> working`` ornt of an axial stack stored with a planted swap and flips: stored axis 2 is
    the head-foot axis; with ``swap`` stored axis 0 is the left-right axis. ``flip_ud``: the stored
    anterior-posterior axis runs anterior -> posterior; ``mirror_lr``: the left-right one runs left -> right."""
    ap, lr = (1, 0) if swap else (0, 1)
    ornt = np.zeros((3, 2))
    ornt[ap] = [0, -1 if flip_ud else 1]
    ornt[lr] = [1, -1 if mirror_lr else 1]
    ornt[2] = [2, -1 if flip_hf else 1]
    return ornt


def mask_flipped(mask: np.ndarray, flip_ud: bool = False, flip_lr: bool = False) -> np.ndarray:
    """A working-frame mask with planted mask-only flips (axis 0 / axis 1)."""
    out = mask[::-1] if flip_ud else mask
    return np.ascontiguousarray(out[:, ::-1] if flip_lr else out)


def scan_aligned(array: np.ndarray, mirror_lr: bool) -> np.ndarray:
    """What ignore mode must output for a working-frame array stored with ``mirror_lr``: the working array
    with left-right as stored (ignore mode cannot tell left from right)."""
    return np.ascontiguousarray(array[:, ::-1] if mirror_lr else array)


def diag_affine(spacing=SPACING) -> np.ndarray:
    return np.diag([*spacing, 1.0])


def save(array, affine, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.asarray(array), np.asarray(affine, float)), str(path))
    return path


def write_dataset(root: Path, specs: list[dict]) -> tuple[Path, Path]:
    """A seed-layout dataset plus a truth dir in the phantom's format (docs/orientation.md).

    Each spec: ``pid`` (int), ``split`` (train | inference), ``cohort``, anatomy keywords (``seed``,
    ``contrast``, ``symmetric``, ``left_bigger``, ``offset``, ``open_outline``), the storage: either ``codes``
    (truthful affine, e.g. "LPS") or the seed-like planted ``swap`` / ``flip_ud`` / ``flip_hf`` / ``mirror_lr``
    under a plain diagonal affine, and the mask-only ``mask_flip_ud`` / ``mask_flip_lr``. A spec may also give
    ``scan`` / ``mask`` working-frame arrays directly."""
    seed_root, truth_dir = root / "seed", root / "truth"
    patients = {}
    anatomy_keys = ("seed", "contrast", "symmetric", "left_bigger", "offset", "open_outline")
    for spec in specs:
        pid = f"Breast_MRI_{spec['pid']:03d}"
        kwargs = {k: spec[k] for k in anatomy_keys if k in spec}
        kwargs.setdefault("seed", spec["pid"])
        scan, mask = anatomy(**kwargs)
        scan = spec.get("scan", scan)
        mask = spec.get("mask", mask)
        split = spec.get("split", "train")
        if "codes" in spec:
            ornt = ornt_of_codes(spec["codes"])
            affine = stored_affine(ornt, scan.shape)
        else:
            ornt = seed_ornt(*(bool(spec.get(k, False)) for k in ("swap", "flip_ud", "flip_hf", "mirror_lr")))
            affine = diag_affine()
        mflips = {k: bool(spec.get(k, False)) and split == "train" for k in ("mask_flip_ud", "mask_flip_lr")}
        save(from_working(scan, ornt), affine, seed_root / split / "scans" / f"{pid}.nii.gz")
        if split == "train":
            stored_mask = from_working(mask_flipped(mask, mflips["mask_flip_ud"], mflips["mask_flip_lr"]), ornt)
            save(stored_mask.astype(np.uint8), affine, seed_root / split / "masks" / f"{pid}.nii.gz")
        rel = f"truth/seed/{pid}_breast.nii.gz"
        save(from_working(mask, ornt).astype(np.uint8), affine, root / rel)
        patients[pid] = {"split": split, "cohort": spec.get("cohort", "default"), "breast_mask": rel,
                         "stored_to_working": [[int(a), int(f)] for a, f in ornt],
                         "affine_matches_anatomy": "codes" in spec, **mflips}
        if int(ornt[2, 0]) == 2:  # an axial stack: what ignore mode must detect (docs/orientation.md)
            patients[pid].update(scan_swap=bool(ornt[0, 0] == 1),
                                 scan_flip_ud=bool(ornt[int(np.flatnonzero(ornt[:, 0] == 0)[0]), 1] < 0),
                                 scan_flip_hf=bool(ornt[2, 1] < 0))
    truth_dir.mkdir(parents=True, exist_ok=True)
    (truth_dir / "truth.json").write_text(json.dumps({"seed": 0, "seed_layout": {"patients": patients}}))
    return seed_root, truth_dir
