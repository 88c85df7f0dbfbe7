"""One whole-breast scan end to end: orient, predict, largest component, back to the stored frame,
tumour candidate and features. Used by the inference stage and by the one-case command.

Nothing here reads ground truth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from breastmri.data.errors import DataError
from breastmri.data.io import Volume
from breastmri.inference.candidates import CandidateRule
from breastmri.inference.features import patient_features
from breastmri.inference.postprocess import (DEFAULT_MIN_FRACTION, keep_large_components, smooth_across_slices,
                                             without_skin)
from breastmri.orientation.orient import HeuristicSettings, ScanAnatomy, mask_placement, orient_scan_anatomy
from breastmri.orientation.record import OrientationRecord, to_oriented_frame, to_original_frame


@dataclass(frozen=True)
class ScanPrediction:
    """Outputs for one scan, all in the STORED frame of the scan file (its shape, to be saved with its
    affine), plus the orientation record used and the features."""

    patient_id: str
    breast: np.ndarray       # uint8
    tumor: np.ndarray        # uint8
    probability: np.ndarray  # float32 in [0, 1]
    record: OrientationRecord
    features: dict[str, float]
    qc: dict  # plausibility of the breast mask without truth (inside the body, front covered) and problems
    candidate: dict  # whether the tumour candidate's rule can be trusted here (candidates.checked_candidate)


def check_record(volume: Volume, record: OrientationRecord) -> None:
    """A stored orientation record must describe this very file (shape and affine)."""
    if tuple(volume.shape) != tuple(record.stored_shape):
        raise DataError(volume.path, f"orientation record of {record.patient_id} is for shape "
                                     f"{tuple(record.stored_shape)}, the file has {volume.shape}")
    if not np.allclose(volume.affine, record.affine, atol=1e-4):
        raise DataError(volume.path, f"orientation record of {record.patient_id} was made for another "
                                     "affine (re-run the orient stage)")


def orient(volume: Volume, record: OrientationRecord | None = None, settings: HeuristicSettings | None = None,
           affine_mode: str = "verify") -> tuple[np.ndarray, OrientationRecord]:
    """The oriented array and its record: the given record (from the orient stage) or a fresh decision; a
    fresh decision the QC cannot place is an error naming the file."""
    oriented, record, _ = _orient(volume, record, settings, affine_mode)
    return oriented, record


def _orient(volume: Volume, record: OrientationRecord | None, settings: HeuristicSettings | None,
            affine_mode: str):
    """:func:`orient` plus the body outline of the oriented scan when a fresh decision computed it (else None)."""
    if record is None:
        oriented, record, anatomy = orient_scan_anatomy(volume, settings, split="inference", affine_mode=affine_mode)
        if record.problems:
            raise DataError(volume.path, "cannot place the scan in the working frame: " + "; ".join(record.problems))
        return oriented, record, anatomy
    check_record(volume, record)
    return to_oriented_frame(volume.array, record), record, None


@dataclass(frozen=True)
class BreastSegmentation:
    """The breast mask of one scan in its STORED frame, the probability, the orientation record, the
    plausibility QC (share inside the body, of the body in front covered, problems) and the oriented scan's
    anatomy the QC judged against (for :meth:`region`)."""

    breast: np.ndarray       # uint8
    probability: np.ndarray  # float32 in [0, 1]
    record: OrientationRecord
    qc: dict
    anatomy: ScanAnatomy

    def body(self) -> np.ndarray:
        """The body the QC judged against in the stored frame
        (:meth:`~breastmri.orientation.orient.ScanAnatomy.full_body`): the air is outside it."""
        return to_original_frame(self.anatomy.full_body(), self.record)

    def region(self, spacing, skin_margin_mm: float) -> np.ndarray:
        """Where lesions and the tumour candidate may lie: the breast less its skin where it meets the air
        (:func:`~breastmri.inference.postprocess.without_skin` against :meth:`body`)."""
        return without_skin(self.breast, self.body(), spacing, skin_margin_mm)


def segment_breast(volume: Volume, predict_proba: Callable[[np.ndarray, tuple], np.ndarray], threshold: float,
                   record: OrientationRecord | None = None, settings: HeuristicSettings | None = None,
                   min_component_fraction: float = DEFAULT_MIN_FRACTION, affine_mode: str = "verify",
                   on_probability: Callable[[np.ndarray], None] | None = None) -> BreastSegmentation:
    """Orient ``volume`` as in training, predict on the oriented array (``predict_proba(oriented, spacing)``
    returns a probability volume of the same shape; ``spacing``: the working-frame spacing), smooth it across the
    axial slices (``settings.breast_smoothing_mm``; :func:`~breastmri.inference.postprocess.smooth_across_slices`),
    threshold (``> threshold``), keep the largest 3D component (and components at least ``min_component_fraction``
    of its size: both breasts; 1.0 = the largest only), check its placement, map back to the stored frame.
    ``on_probability``: called with the probability in the stored frame (the returned one) as soon as it exists,
    before the post-processing (e.g. to start writing it)."""
    settings = settings or HeuristicSettings()
    oriented, record, anatomy = _orient(volume, record, settings, affine_mode)
    prob = np.asarray(predict_proba(oriented, record.working_spacing), dtype=np.float32)
    if prob.shape != oriented.shape:
        raise ValueError(f"predictor returned shape {prob.shape} for a volume of shape {oriented.shape}")
    prob = smooth_across_slices(prob, record.working_spacing[2], settings.breast_smoothing_mm)
    stored_prob = to_original_frame(prob, record, copy=False)  # only read: written by the caller, returned
    if on_probability is not None:
        on_probability(stored_prob)
    breast_oriented = keep_large_components(prob > threshold, min_component_fraction)
    # the outline the orientation computed on this very array (fresh decisions), else computed here
    if anatomy is None:
        anatomy = ScanAnatomy(oriented, record.working_spacing, settings)
    qc = mask_placement(oriented, breast_oriented, record.working_spacing, settings, anatomy=anatomy)
    del oriented
    return BreastSegmentation(np.asarray(to_original_frame(breast_oriented, record), dtype=np.uint8),
                              stored_prob, record, qc, anatomy)


def predict_scan(volume: Volume, predict_proba: Callable[[np.ndarray, tuple], np.ndarray], threshold: float,
                 rule: CandidateRule, *, record: OrientationRecord | None = None,
                 settings: HeuristicSettings | None = None, min_component_fraction: float = DEFAULT_MIN_FRACTION,
                 affine_mode: str = "verify") -> ScanPrediction:
    """:func:`segment_breast`, then the tumour candidate of ``rule`` (inside the breast less its skin, so the bright
    skin cannot win), its check and the features on the stored scan (own spacing)."""
    seg = segment_breast(volume, predict_proba, threshold, record, settings, min_component_fraction, affine_mode)
    return scan_findings(volume, seg, rule)


def scan_findings(volume: Volume, seg: BreastSegmentation, rule: CandidateRule) -> ScanPrediction:
    """The second half of :func:`predict_scan`: the tumour candidate of ``rule`` and its check
    (:meth:`~breastmri.inference.candidates.CandidateRule.check`, on the breast less its skin) and the features of a
    :func:`segment_breast` result (for a caller that uses the segmentation, e.g. starts writing it, before these
    are done)."""
    image = np.asarray(volume.array, dtype=np.float32)
    tumor, check = rule.check(image, seg.region(volume.spacing, rule.skin_margin_mm), volume.spacing)
    features = patient_features(image, seg.breast, tumor, volume.spacing)
    return ScanPrediction(volume.patient_id, seg.breast, tumor, seg.probability, seg.record, features, seg.qc,
                          check)
