"""Lesion task: the selected slices of one MAMA-MIA case (runs in a worker; the parent writes).

1. the phases of the channel list (``build_hdf5.lesion_channels``: the DCE phase of each input channel, the
   pre-contrast phase first; :func:`~breastmri.data.layouts.channel_entries` picks them from the case's phases)
   and the lesion mask are resampled onto one isotropic grid (``spacing_mm``, SimpleITK; linear for images,
   nearest for the mask), see :mod:`breastmri.slices.resample`; with a breast box and ``box_mode`` crop or mask,
   each image is first cropped to the case's box or zeroed outside it;
2. intensities are normalised with the mean/std over all voxels of all present phases of the case;
3. slices are chosen in two passes: :func:`lesion_candidates` (pre-contrast phase and mask only) finds
   each case's positives and negative candidates, :func:`breastmri.slices.selection.balance` picks a
   1:1 set over all cases, and :func:`lesion_slices` produces the chosen slices of one case;
4. each chosen axial slice ``[:, :, k]`` of each phase is resized with
   :func:`~breastmri.slices.geometry.resize_pad` to ``size x size`` (aspect kept, padded with the
   case's normalised background) and stacked as one channel per listed phase; a listed phase the case lacks is
   an all-zero channel and ``phase_present`` says which channels are real.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from breastmri.data.errors import DataError
from breastmri.data.layouts import BreastBox
from breastmri.slices.geometry import prepare_mask, resize_pad
from breastmri.slices.normalize import CaseNormalizer
from breastmri.slices.resample import resample_case
from breastmri.slices.selection import CaseCandidates, case_candidates, tissue_ratios
from breastmri.slices.writer import PatientSlices


def prepare_phase_slices(phases: list[np.ndarray | None], size: int,
                         indices: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Stored images ``(K, C, S, S)`` of the axial slices ``indices`` (default: all) of the resampled phases of
    the ``C`` channels (``None`` for a phase the case lacks).

    Case-level normalisation (mean/std pooled over all present phases), ``resize_pad`` with the case's
    normalised minimum as padding, zero channels for missing phases. Returns ``(images, phase_present)``.
    Inference uses the same function so it sees exactly what training saw.
    """
    if not phases or phases[0] is None:
        raise ValueError("expected the phases of the channels with the first present")
    present = np.array([p is not None for p in phases], dtype=bool)
    normalise = CaseNormalizer.fit(p for p in phases if p is not None)
    background = float(normalise(np.array([min(float(p.min()) for p in phases if p is not None)]))[0])
    indices = np.arange(phases[0].shape[2]) if indices is None else np.asarray(indices)
    images = np.zeros((len(indices), len(phases), size, size), dtype=np.float32)
    for row, k in enumerate(indices):
        for c, phase in enumerate(phases):
            if phase is not None:
                images[row, c], _ = resize_pad(normalise(phase[:, :, k]), size, order=1, pad_value=background)
    return images, present


def lesion_candidates(case: str, phase_paths: list[Path | None], mask_path: Path, box: BreastBox | None, *,
                      size: int, spacing_mm: float, box_mode: str, min_lesion_px: int, neg_exclusion_slices: int,
                      neg_min_tissue_ratio: float) -> CaseCandidates:
    """Counting pass: resample the pre-contrast phase and the mask only; apply the selection rules.
    ``phase_paths``: the channels' phases (``None`` where the case lacks one); ``box``: the case's breast box
    (``None``: none), applied as ``box_mode`` says."""
    phases, mask, shape = resample_case([phase_paths[0]], mask_path, spacing_mm, box, box_mode)
    lesion_area = mask.sum(axis=(0, 1), dtype=np.int64)
    if not lesion_area.any():
        raise DataError(mask_path, "lesion mask is empty after resampling")
    stored_areas = prepare_mask(mask, size).reshape(shape[2], -1).sum(axis=1, dtype=np.int64)
    found = case_candidates(case, stored_areas, lesion_area, tissue_ratios(phases[0]), min_lesion_px=min_lesion_px,
                            neg_exclusion_slices=neg_exclusion_slices, neg_min_tissue_ratio=neg_min_tissue_ratio)
    found.info.update({"slices_in_volume": shape[2], "resampled_shape": list(shape),
                       "phases_present": int(sum(p is not None for p in phase_paths))})
    return found


def lesion_slices(case: str, phase_paths: list[Path | None], mask_path: Path, box: BreastBox | None,
                  indices: np.ndarray, *, size: int, spacing_mm: float, box_mode: str) -> PatientSlices:
    """Writing pass: resample the channels' phases (``phase_paths``, ``None`` where the case lacks one) and the
    mask, within the breast ``box`` as :func:`lesion_candidates`; return the stored arrays of slices ``indices``."""
    phases, mask, _ = resample_case(list(phase_paths), mask_path, spacing_mm, box, box_mode)
    indices = np.sort(np.asarray(indices, dtype=np.int64))
    images, present = prepare_phase_slices(phases, size, indices)
    masks = np.empty((len(indices), 1, size, size), dtype=np.uint8)
    for row, k in enumerate(indices):
        masks[row, 0], _ = resize_pad(mask[:, :, k], size, order=0)
    return PatientSlices(patient_id=case, images=images, masks=masks, slice_index=indices.astype(np.int32),
                         phase_present=np.tile(present, (len(indices), 1)))
