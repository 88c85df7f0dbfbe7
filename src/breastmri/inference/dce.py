"""One multi-phase DCE case (MAMA-MIA layout) end to end: strict phase loading, the lesion probability on the
pre-contrast phase's own grid, threshold and large 3D components. Used by the lesion inference stage and by
``breastmri-infer --phases_folder``.

Nothing here reads ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from breastmri.data.dicom import DicomPhase
from breastmri.data.errors import DataError
from breastmri.data.io import Volume, load_volume
from breastmri.data.layouts import phase_paths_in
from breastmri.inference.postprocess import DEFAULT_MIN_FRACTION, keep_large_components

AFFINE_ATOL_MM = 1e-3


@dataclass(frozen=True)
class CasePrediction:
    """Outputs for one case on the ``_0000`` file's grid (its shape, to be saved with its affine)."""

    case: str
    reference: Volume        # the pre-contrast phase _0000: the grid of every output
    display: Volume          # the first post-contrast phase present (else _0000), for figures
    probability: np.ndarray  # float32 in [0, 1]
    lesion: np.ndarray       # uint8


def same_geometry(a: Volume, b: Volume) -> bool:
    """Same array shape and affine (to ``AFFINE_ATOL_MM``)."""
    return a.shape == b.shape and np.allclose(a.affine, b.affine, atol=AFFINE_ATOL_MM)


def load_phases(folder: str | Path) -> tuple[str, list[Path | DicomPhase | None], list[Volume | None]]:
    """Case id, phase entries (files, or the phases of a DICOM series: :func:`phase_paths_in`) and the strictly
    loaded phases; every phase must share the first phase's grid."""
    folder = Path(folder)
    case = folder.name
    paths = phase_paths_in(folder, case)
    volumes: list[Volume | None] = [None if p is None else load_volume(p, case) for p in paths]
    first = volumes[0]
    for path, vol in zip(paths[1:], volumes[1:]):
        if vol is not None and not same_geometry(first, vol):
            raise DataError(path, f"phase geometry differs from {paths[0].name}: shape {vol.shape} vs "
                                  f"{first.shape}, spacing {tuple(round(s, 4) for s in vol.spacing)} vs "
                                  f"{tuple(round(s, 4) for s in first.spacing)}"
                                  + ("" if vol.shape != first.shape else " (affines differ)"))
    return case, paths, volumes


def predict_case(predictor, folder: str | Path,
                 min_component_fraction: float = DEFAULT_MIN_FRACTION) -> CasePrediction:
    """Predict one case folder with a lesion :class:`~breastmri.inference.predictor.SlicePredictor`:
    ``probability > threshold``, then the largest 3D component and every component of at least
    ``min_component_fraction`` of its size (scattered false positives go, multifocal lesions stay)."""
    case, paths, volumes = load_phases(folder)
    # NIfTI phases are resampled from their files; the phases of a DICOM series from the volumes just read
    sources = [v if isinstance(p, DicomPhase) else p for p, v in zip(paths, volumes)]
    probability = predictor.predict_lesion(sources)
    lesion = keep_large_components(predictor.binarize(probability), min_component_fraction)
    display = next((v for v in volumes[1:] if v is not None), volumes[0])
    return CasePrediction(case, volumes[0], display, probability, lesion.astype(np.uint8))
