"""Whole-breast task: the stored slices of one patient (runs in a worker; the parent writes).

Normalisation is per *volume*: percentile clipping and z-score use every voxel of the patient's scan,
so all its slices share one intensity scale. Each axial slice ``scan[:, :, k]`` is then resized with
:func:`~breastmri.slices.geometry.resize_pad` (linear for the image, nearest for the mask; proportions kept in mm,
so the thick left-right slices of a sagittal exam are not squashed); the image
padding is the volume's normalised minimum (the background after clipping), the mask padding is 0.
Inference must prepare slices with :func:`prepare_volume` so that it sees exactly what training saw.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from breastmri.data.errors import DataError
from breastmri.data.io import load_volume
from breastmri.parallel import each_slice
from breastmri.slices.geometry import SliceGeometry, pixel_aspect, prepare_mask, resize_pad
from breastmri.slices.normalize import ClipZScore
from breastmri.slices.writer import PatientSlices


def prepare_volume(scan: np.ndarray, size: int, low_pct: float = 1.0, high_pct: float = 99.0,
                   spacing=None) -> tuple[np.ndarray, SliceGeometry]:
    """Every axial slice of ``scan`` (axis 2) normalised, resized and padded: float32 ``(K, 1, S, S)``.

    All slices share one :class:`SliceGeometry` (returned) since they share the in-plane shape; they are resized
    on threads (:func:`~breastmri.parallel.each_slice`), each exactly as alone. ``spacing``
    (working frame, mm): the slices keep their proportions in mm (:func:`pixel_aspect`); None: square pixels.
    """
    scan = np.asarray(scan)
    if scan.ndim != 3:
        raise ValueError(f"expected a 3D volume, got shape {scan.shape}")
    norm = ClipZScore.fit(scan, low_pct, high_pct)
    # the normalised volume's minimum, without a pass over the volume: every voxel at or under the low percentile
    # (the minimum among them) is clipped to it
    background = float(norm(np.float32(-np.inf)))
    h, w, depth = scan.shape
    aspect = pixel_aspect(spacing)
    geometry = SliceGeometry.for_shape(h, w, size, aspect)
    images = np.empty((depth, 1, geometry.size, geometry.size), dtype=np.float32)

    def prepare(k: int) -> None:  # each slice normalised as the whole volume would be, then resized
        images[k, 0], _ = resize_pad(norm(scan[:, :, k]), size, order=1, pad_value=background, pixel_aspect=aspect)

    each_slice(prepare, depth)
    return images, geometry


def breast_patient(patient_id: str, scan_path: str | Path, mask_path: str | Path, size: int,
                   low_pct: float = 1.0, high_pct: float = 99.0) -> PatientSlices:
    """Load one oriented scan and its breast mask and return all its stored slices."""
    scan = load_volume(scan_path, patient_id)
    mask = load_volume(mask_path, patient_id)
    if mask.shape != scan.shape:
        raise DataError(mask_path, f"mask shape {mask.shape} differs from its scan's {scan.shape} ({scan_path})")
    images, geometry = prepare_volume(scan.array, size, low_pct, high_pct, scan.spacing)
    masks = prepare_mask(mask.array, size, pixel_aspect(scan.spacing))
    del scan
    depth = images.shape[0]
    return PatientSlices(
        patient_id=patient_id,
        images=images,
        masks=masks,
        slice_index=np.arange(depth, dtype=np.int32),
        geometry=np.tile(geometry.as_row(), (depth, 1)),
        info={"slices": depth, "mask_slices": int(np.count_nonzero(masks.reshape(depth, -1).any(axis=1)))},
    )
