"""One multi-phase DCE case (MAMA-MIA layout) end to end: strict phase loading, the lesion probability on the
pre-contrast phase's own grid, threshold and large 3D components. Used by the lesion inference stage and by
``breastmri-infer --phases_folder``.

With a :class:`BreastGuide` the two pipelines are one: the whole-breast model segments the breast on one phase,
the mask less a skin margin (mm) where it meets the air (not at the chest wall, where tumours may abut it) is the
region, lesion probabilities outside it are set to zero BEFORE thresholding and post-processing (so a skin or
chest-wall false positive can neither be kept nor win "largest component"), unless
the breast mask fails its own plausibility checks, or the two models disagree (:func:`disagreement`): most of the
lesion model's own (unrestricted) lesion lies outside the region (:data:`MAX_LESION_OUTSIDE`), or the region's
boundary cuts through the lesions it keeps (:data:`MAX_LESION_CUT`; a tumour is one connected mass inside the breast,
and on the phantom the region holds at least 97% of every expert lesion). Then the lesions are left unrestricted and
the case says so: a doubtful breast mask must not silently erase a tumour, or part of one. And the
tumour candidate of the whole-breast pipeline is found inside the same region by enhancement (first
post-contrast minus pre-contrast) when a post-contrast phase exists, by the intensity percentile otherwise.

Nothing here reads ground truth.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from breastmri.data.dicom import DicomPhase
from breastmri.data.errors import DataError
from breastmri.data.io import Volume, load_volume
from breastmri.data.validation import check_scan
from breastmri.data.layouts import MamaMiaLayout, channel_entries, phase_paths_in
from breastmri.inference.candidates import tumor_candidate
from breastmri.inference.postprocess import DEFAULT_MIN_FRACTION, bounding_box, keep_large_components
from breastmri.inference.scan import segment_breast
from breastmri.orientation.orient import HeuristicSettings

AFFINE_ATOL_MM = 1e-3
#: The breast region is doubted when more than this share of the lesion model's unrestricted lesion lies outside it.
MAX_LESION_OUTSIDE = 0.5
#: ... or when more than this share of the unrestricted lesion components that reach into the region lies outside it:
#: the restriction would cut those lesions, not remove false positives beside the breast (those lie wholly outside).
#: Phantom seed 11 (a tuning seed; 32 MAMA-MIA cases with slab-cut NACT views, three breast models): at most 0.033
#: where the region kept >= 0.95 of the expert lesion, at least 0.123 where it kept < 0.9.
MAX_LESION_CUT = 0.1


@dataclass(frozen=True)
class CasePrediction:
    """Outputs for one case on the ``_0000`` file's grid (its shape, to be saved with its affine)."""

    case: str
    reference: Volume        # the pre-contrast phase _0000: the grid of every output
    display: Volume          # the first post-contrast phase present (else _0000), for figures
    probability: np.ndarray  # float32 in [0, 1]; zero outside the breast region when guided
    lesion: np.ndarray       # uint8
    breast: np.ndarray | None = None  # uint8 whole-breast mask (guided only)
    region: np.ndarray | None = None  # uint8 breast less its skin (BreastSegmentation.region): where lesions may lie
    tumor: np.ndarray | None = None   # uint8 tumour candidate of the whole-breast pipeline (guided only)
    tumor_rule: str | None = None     # "enhancement" | "percentile"
    breast_qc: dict | None = None     # plausibility of the breast mask (inside the body, front covered, problems)
    restricted: bool = False          # lesion probabilities zeroed outside ``region`` (guided, plausible breast)


@dataclass(frozen=True)
class BreastGuide:
    """The whole-breast model's part in a DCE case: ``predictor`` a breast
    :class:`~breastmri.inference.predictor.SlicePredictor`; ``phase`` the phase it segments (0 pre-contrast,
    1 first post-contrast; the pre-contrast phase when that one is absent); ``skin_margin_mm`` the skin taken
    off the breast mask where it meets the air; ``affine_mode`` how far the files' affines describe the anatomy
    (orientation);
    ``tumor_percentile`` and ``tumor_core_mm`` of the candidate rule
    (:func:`~breastmri.inference.candidates.tumor_candidate`); ``settings`` the anatomy rules of the breast mask's QC
    (``None``: their documented defaults)."""

    predictor: object
    phase: int = 1
    skin_margin_mm: float = 3.0
    affine_mode: str = "trust"
    tumor_percentile: float = 98.0
    tumor_core_mm: float = 0.0
    min_component_fraction: float = DEFAULT_MIN_FRACTION
    settings: HeuristicSettings | None = None

    def __post_init__(self):
        if self.phase not in (0, 1):
            raise DataError(None, f"breast phase must be 0 (pre-contrast) or 1 (first post-contrast), got {self.phase}")
        if self.skin_margin_mm < 0:
            raise DataError(None, f"skin margin must be >= 0 mm, got {self.skin_margin_mm}")


def same_geometry(a: Volume, b: Volume) -> bool:
    """Same array shape and affine (to ``AFFINE_ATOL_MM``)."""
    return a.shape == b.shape and np.allclose(a.affine, b.affine, atol=AFFINE_ATOL_MM)


def load_phases(folder: str | Path, phases: Sequence[int]) -> tuple[str, dict[int, Path | DicomPhase | None],
                                                                    dict[int, Volume | None]]:
    """Case id, and by phase index for each of ``phases`` (the pre-contrast phase 0 first) its entry (a file, or a
    phase of a DICOM series: :func:`phase_paths_in`; ``None`` where the case lacks it) and the phase loaded
    strictly. Only these phases are read: every one must pass the validate stage's scan check and share the
    pre-contrast phase's grid."""
    folder = Path(folder)
    case = folder.name
    entries = dict(zip(phases, channel_entries(phase_paths_in(folder, case), phases)))
    volumes = {k: None if p is None else load_volume(p, case) for k, p in entries.items()}
    for vol in volumes.values():
        if vol is not None:
            check_scan(vol, "phase")  # the validate stage's rule: >= 4 voxels per axis, not constant
    first = volumes[0]
    for k, vol in volumes.items():
        if vol is not None and not same_geometry(first, vol):
            raise DataError(entries[k], f"phase geometry differs from {entries[0].name}: shape {vol.shape} vs "
                                        f"{first.shape}, spacing {tuple(round(s, 4) for s in vol.spacing)} vs "
                                        f"{tuple(round(s, 4) for s in first.spacing)}"
                                        + ("" if vol.shape != first.shape else " (affines differ)"))
    return case, entries, volumes


def lesion_probability(predictor, folder: str | Path) -> tuple[str, dict[int, Volume | None], np.ndarray]:
    """Case id, the strictly loaded phases by index (the model's channel phases and the first post-contrast
    phase 1) and the lesion model's probability on the ``_0000`` grid. A model built within breast boxes gets the
    case's box when its MAMA-MIA layout has one (``<folder>/../../patient_info_files/<CASE>.json``)."""
    channels = list(predictor.preprocessing.phases)
    case, entries, volumes = load_phases(folder, list(dict.fromkeys([0, *channels, 1])))
    box = None
    if predictor.preprocessing.breast_box != "ignore":
        box = MamaMiaLayout(Path(folder).parent.parent).breast_box(case)
    # NIfTI phases are resampled from their files; the phases of a DICOM series from the volumes just read
    sources = [volumes[k] if isinstance(entries[k], DicomPhase) else entries[k] for k in channels]
    return case, volumes, predictor.predict_lesion(sources, box)


def disagreement(lesion: np.ndarray, region: np.ndarray) -> list[str]:
    """The problem (a one-item list) when the breast ``region`` and the unrestricted binary ``lesion`` disagree:
    more than :data:`MAX_LESION_OUTSIDE` of the lesion lies outside the region, or else more than
    :data:`MAX_LESION_CUT` of the lesion's 3D components that reach into the region (face connectivity, as the
    post-processing's) lies outside it; nothing when they agree or the lesion is empty."""
    lesion, region = np.asarray(lesion) > 0, np.asarray(region) > 0
    total = int(lesion.sum())
    outside = int((lesion & ~region).sum())
    if total and outside > MAX_LESION_OUTSIDE * total:
        return [f"the lesion model's lesion lies mostly outside the breast region ({outside / total:.0%} of "
                f"{total} voxels): the breast mask is doubted"]
    box = bounding_box(lesion)
    if box is None:
        return []
    labels, _ = ndimage.label(lesion[box])
    reached = labels[region[box]]
    reached = np.isin(labels, reached[reached > 0])
    kept = int(reached.sum())
    cut = int((reached & ~region[box]).sum())
    if cut > MAX_LESION_CUT * kept:
        return [f"the breast region cuts through the lesion model's lesion ({cut / kept:.0%} of the {kept} voxels "
                f"of the lesions reaching into it lie outside it): the breast mask is doubted"]
    return []


def warn_unrestricted(folder: str | Path, result: CasePrediction) -> None:
    """One warning line per problem of a guided case's breast mask (its lesions were left unrestricted)."""
    for problem in (result.breast_qc or {}).get("problems", []):
        print(f"WARNING: {folder}: implausible breast mask ({problem}): lesions not restricted to it", file=sys.stderr)


def predict_case(predictor, folder: str | Path, min_component_fraction: float = DEFAULT_MIN_FRACTION,
                 guide: BreastGuide | None = None) -> CasePrediction:
    """Predict one case folder with a lesion :class:`~breastmri.inference.predictor.SlicePredictor`:
    ``probability > threshold``, then the largest 3D component and every component of at least
    ``min_component_fraction`` of its size (scattered false positives go, multifocal lesions stay). With a
    ``guide`` the probability is first restricted to the breast less its skin when that mask is plausible (module
    docstring)."""
    case, volumes, probability = lesion_probability(predictor, folder)
    pre, post = volumes[0], volumes[1]
    display = next((volumes[k] for k in sorted(volumes) if k > 0 and volumes[k] is not None), pre)
    extra: dict = {}
    if guide is not None:
        seg = segment_breast(post if guide.phase == 1 and post is not None else pre,
                             guide.predictor.predict_breast, guide.predictor.threshold,
                             settings=guide.settings, min_component_fraction=guide.min_component_fraction,
                             affine_mode=guide.affine_mode)
        region = seg.region(pre.spacing, guide.skin_margin_mm)
        unrestricted = predictor.binarize(probability)
        qc = dict(seg.qc, problems=[*seg.qc["problems"], *disagreement(unrestricted, region)])
        restricted = not qc["problems"]
        if restricted:
            probability = probability * region
        rule = "enhancement" if post is not None else "percentile"
        signal = pre.array.astype(np.float32)
        if post is not None:
            signal = post.array.astype(np.float32) - signal
        tumor = tumor_candidate(signal, region, guide.tumor_percentile, core_mm=guide.tumor_core_mm,
                                spacing=pre.spacing)
        extra = dict(breast=seg.breast, region=region, tumor=tumor,
                     tumor_rule=rule, breast_qc=qc, restricted=restricted)
    binary = unrestricted if guide is not None and not restricted else predictor.binarize(probability)
    lesion = keep_large_components(binary, min_component_fraction)
    return CasePrediction(case, pre, display, probability.astype(np.float32), lesion.astype(np.uint8),
                          **extra)
