"""Orient one patient in memory: the affine's working frame (or, for affines that do not describe the anatomy,
the contrast-free heuristics), mask alignment against the scan, and the plausibility checks.

:func:`orient_scan` is the scan-only entry point (inference); :func:`orient_pair` orients a training scan and
aligns its mask. Both return the oriented arrays and the :class:`OrientationRecord` that maps them back
(:func:`breastmri.orientation.record.to_original_frame`). Nothing here raises for an implausible result:
problems are listed in ``record.problems`` and the stage decides (error or exclusion).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import ndimage

from breastmri.data.errors import DataError
from breastmri.data.io import Volume
from breastmri.orientation import heuristics as h
from breastmri.orientation.frame import IDENTITY, spacing_of, to_working, working_ornt, working_spacing
from breastmri.orientation.record import MARGINS, OrientationRecord, correction_ornt, to_oriented_frame

AFFINE_MODES = ("trust", "verify", "ignore")


@dataclass(frozen=True)
class HeuristicSettings:
    """Knobs of the decisions and checks (params.yaml ``anatomy`` section; the defaults are for direct library use)."""

    n_slices: int = 7
    end_fraction: float = 0.2
    noise_factor: float = 2.5
    floor_fraction: float = 0.03
    min_solidity: float = 0.8
    min_margin: dict = field(default_factory=lambda: {name: 0.05 for name in MARGINS})
    min_inside_body: float = 0.9
    min_front_covered: float = 0.8
    min_breast_ml: float = 50.0
    breast_smoothing_mm: float = 2.0

    def __post_init__(self):
        if int(self.n_slices) < 1:
            raise ValueError(f"n_slices must be >= 1, got {self.n_slices}")
        if not 0.0 < self.end_fraction <= 0.5:
            raise ValueError(f"end_fraction must be in (0, 0.5], got {self.end_fraction}")
        if not float(self.breast_smoothing_mm) >= 0.0:
            raise ValueError(f"breast_smoothing_mm must be >= 0, got {self.breast_smoothing_mm}")
        unknown = sorted(set(self.min_margin) ^ set(MARGINS))
        if unknown:
            raise ValueError(f"min_margin must name exactly {', '.join(MARGINS)} (got {sorted(self.min_margin)})")
        object.__setattr__(self, "min_margin", {k: float(self.min_margin[k]) for k in MARGINS})

    def to_dict(self) -> dict:
        return asdict(self)


def _as_volume(volume) -> Volume:
    if isinstance(volume, Volume):
        return volume
    return Volume(array=np.asarray(volume), affine=np.eye(4), patient_id="", path=None)


def _check_scan(volume: Volume) -> None:
    if volume.array.ndim != 3:
        raise DataError(volume.path, f"expected a 3D scan, got shape {volume.array.shape}")
    lo, hi = np.min(volume.array), np.max(volume.array)  # NaN propagates to both; an infinity is one of them
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise DataError(volume.path, "scan holds NaN or infinite voxels")
    if float(hi - lo) <= 0:
        raise DataError(volume.path, "scan is constant: its orientation cannot be determined")


#: A mask under ``min_breast_ml`` is implausible only when it is also under this share of the body in view (a
#: small body or a field of view cropped to the breast gives a small breast a large share).
SMALL_BODY_SHARE = 0.05


class ScanAnatomy:
    """The decimated working-frame copy of a scan and its body outline (computed once per scan)."""

    def __init__(self, array: np.ndarray, spacing, settings: HeuristicSettings):
        self.full_spacing = spacing
        self.full_shape = tuple(np.shape(array))
        self.small, self.spacing = h.decimate(array, spacing)
        self.body, self.tissue = h.body_mask(self.small, settings.noise_factor, settings.floor_fraction)
        self._envelope = None

    @property
    def envelope(self) -> np.ndarray:
        """:func:`~breastmri.orientation.heuristics.body_envelope` of this scan (computed on first use)."""
        if self._envelope is None:
            self._envelope = h.body_envelope(self.body, self.tissue, self.spacing)
        return self._envelope

    def check(self, array: np.ndarray, spacing) -> None:
        """A reused outline must be that of a scan of this shape and spacing."""
        if tuple(np.shape(array)) != self.full_shape or tuple(float(s) for s in spacing) != \
                tuple(float(s) for s in self.full_spacing):
            raise ValueError(f"the anatomy was computed for shape {self.full_shape}, spacing {self.full_spacing}, "
                             f"not shape {np.shape(array)}, spacing {tuple(spacing)}")

    def decimate(self, mask: np.ndarray) -> np.ndarray:
        return h.decimate(mask.astype(np.float32), self.full_spacing)[0] >= 0.5

    def full_body(self) -> np.ndarray:
        """The envelope at the scan's own resolution, less the outline's one-voxel partial-volume rim in-plane
        (the 3x3 mean before the threshold grows the outline by it): where the body meets the air."""
        core = ndimage.binary_erosion(self.envelope, np.ones((3, 3, 1), bool), border_value=1)
        return h.undecimate(core, self.full_spacing, self.full_shape)

    def placement(self, mask: np.ndarray, settings: HeuristicSettings) -> tuple[dict, list[str]]:
        """The :func:`~breastmri.orientation.heuristics.placement` shares of a full-resolution mask on this scan,
        and the QC problems they raise."""
        mask = np.asarray(mask) > 0
        qc = h.placement(self.envelope, self.decimate(mask))
        volume_ml = float(np.count_nonzero(mask) * np.prod(self.full_spacing)) / 1000.0
        qc["volume_ml"] = round(volume_ml, 3)
        problems = []
        if 0 < volume_ml < settings.min_breast_ml and qc["body_share"] < SMALL_BODY_SHARE:
            problems.append(f"mask volume {qc['volume_ml']:.0f} ml is implausibly small for a breast "
                            f"(< {settings.min_breast_ml:g} ml and {qc['body_share']:.1%} of the body in view)")
        if qc["inside_body"] < settings.min_inside_body:
            problems.append(f"mask lies outside the body ({qc['inside_body']:.0%} inside)")
        if qc["front_covered"] < settings.min_front_covered:
            problems.append(f"mask is not the anterior body: it covers {qc['front_covered']:.0%} of the body in "
                            "front of its posterior boundary")
        return qc, problems


def _scan_decisions(anatomy: ScanAnatomy, settings: HeuristicSettings):
    swap, ud = h.in_plane_axes(anatomy.body, anatomy.spacing, settings.n_slices)
    body = anatomy.body.transpose(1, 0, 2) if swap.flip else anatomy.body
    tissue = anatomy.tissue.transpose(1, 0, 2) if swap.flip else anatomy.tissue
    hf = h.head_foot(body, tissue, settings.end_fraction)
    return swap, ud, hf


def _margin_problems(decisions: dict[str, h.Decision], settings: HeuristicSettings, verb: str) -> list[str]:
    return [f"{name} undecidable ({verb} margin {d.margin:.3f} < {settings.min_margin[name]:g})"
            for name, d in decisions.items() if d.margin < settings.min_margin[name]]


def orient_scan(volume, settings: HeuristicSettings | None = None, split: str = "", affine_mode: str = "verify") \
        -> tuple[np.ndarray, OrientationRecord]:
    """Orient a scan without a mask: ``(oriented_array, record)``.

    ``affine_mode``: ``trust`` (the affine alone), ``verify`` (the affine, then the heuristics must agree) or
    ``ignore`` (only the spacing is read from the affine; the heuristics decide swap and flips of an axial
    stack). A bare array is taken as stored with an identity affine.
    """
    oriented, record, _ = _orient_scan(volume, settings, split, affine_mode)
    return oriented, record


def orient_scan_anatomy(volume, settings: HeuristicSettings | None = None, split: str = "",
                        affine_mode: str = "verify") -> tuple[np.ndarray, OrientationRecord, ScanAnatomy]:
    """:func:`orient_scan` plus the decimated body outline of the oriented scan that the decisions were made
    on: pass it to :func:`mask_placement` (``anatomy=``) to check a mask predicted on the oriented scan without
    computing the outline again (the same numbers either way)."""
    return _orient_scan(volume, settings, split, affine_mode)


def _orient_scan(volume, settings: HeuristicSettings | None, split: str, affine_mode: str):
    """:func:`orient_scan` plus the body outline of the oriented scan (for mask alignment and QC)."""
    if affine_mode not in AFFINE_MODES:
        raise ValueError(f"affine_mode must be one of {AFFINE_MODES}, got {affine_mode!r}")
    settings = settings or HeuristicSettings()
    volume = _as_volume(volume)
    _check_scan(volume)
    spacing = spacing_of(volume.affine)
    frame = IDENTITY if affine_mode == "ignore" else working_ornt(volume.affine, volume.path)
    framed = to_working(volume.array, frame)
    anatomy = ScanAnatomy(framed, working_spacing(spacing, frame), settings)
    swap, ud, hf = _scan_decisions(anatomy, settings)
    decisions = {"scan_swap": swap, "scan_flip_ud": ud, "scan_flip_hf": hf}
    solidity = h.outline_solidity(anatomy.body, settings.n_slices)
    problems = []
    if affine_mode == "ignore":
        if solidity < settings.min_solidity:
            problems.append(f"body outline not closed (solidity {solidity:.2f} < {settings.min_solidity:g}): "
                            "cannot place this scan from its anatomy")
        problems += _margin_problems(decisions, settings, "decision")
        applied = decisions
    else:
        if affine_mode == "verify":
            problems += [f"affine contradicts the anatomy: {name} (margin {d.margin:.3f})"
                         for name, d in decisions.items()
                         if d.flip and d.margin >= settings.min_margin[name] and solidity >= settings.min_solidity]
        applied = {name: h.Decision(False, d.margin) for name, d in decisions.items()}
    record = OrientationRecord(
        patient_id=volume.patient_id, split=split, affine_mode=affine_mode, stored_shape=volume.shape,
        stored_affine=volume.affine, frame_ornt=frame,
        **{name: d.flip for name, d in applied.items()},
        margins={name: round(d.margin, 6) for name, d in decisions.items()}, solidity=round(solidity, 6),
        problems=tuple(problems), source_scan=None if volume.path is None else str(volume.path))
    if any(d.flip for d in applied.values()):
        oriented = to_oriented_frame(volume.array, record)
        anatomy = ScanAnatomy(oriented, record.working_spacing, settings)
    else:  # no correction: the oriented scan is the framed one, voxel for voxel (no second copy)
        oriented = np.ascontiguousarray(framed)
    return oriented, record, anatomy


def orient_pair(scan, mask, settings: HeuristicSettings | None = None, split: str = "train",
                affine_mode: str = "verify") -> tuple[np.ndarray, np.ndarray, OrientationRecord]:
    """Orient a training scan and align its mask: ``(oriented_scan, oriented_mask uint8, record)``.

    The mask is brought into the frame like its scan (through its own affine unless the affine is ignored), then
    put where it fits its scan best: the four up/down x left-right candidates are scored by
    :func:`~breastmri.orientation.heuristics.mask_costs`. The aligned mask must then lie inside the body and cover
    the body in front of it (:func:`~breastmri.orientation.heuristics.placement`); failures land in ``problems``.
    """
    settings = settings or HeuristicSettings()
    scan, mask = _as_volume(scan), _as_volume(mask)
    oriented_scan, scan_record, anatomy = _orient_scan(scan, settings, split, affine_mode)
    if mask.array.ndim != 3:
        raise DataError(mask.path, f"expected a 3D mask, got shape {mask.array.shape}")
    binary = np.asarray(mask.array) > 0
    if not binary.any():
        raise DataError(mask.path, "mask is empty (no foreground voxels)")
    mask_frame = IDENTITY if affine_mode == "ignore" else working_ornt(mask.affine, mask.path)
    following = to_working(binary, mask_frame)
    if following.shape != to_working(scan.array, scan_record.frame_ornt).shape:
        raise DataError(mask.path, f"mask shape {mask.shape} does not match its scan {scan.path or ''} of shape "
                                   f"{scan.shape} (in the working frame: {following.shape} vs "
                                   f"{oriented_scan.shape})")
    following = to_working(following, correction_ornt(scan_record))
    ud, lr, cost = h.mask_alignment(anatomy.body, anatomy.decimate(following))
    record = scan_record.with_mask(mask_frame, ud, lr, cost, None if mask.path is None else str(mask.path))
    oriented_mask = to_oriented_frame(binary.astype(np.uint8), record, kind="mask")
    qc, placement_problems = anatomy.placement(oriented_mask, settings)
    problems = [*record.problems, *_margin_problems({"mask_flip_ud": ud, "mask_flip_lr": lr}, settings, "fit"),
                *placement_problems]
    record = record.replace(qc=qc, problems=tuple(problems))
    return oriented_scan, oriented_mask, record


def mask_alignment_steps(scan, mask, record: OrientationRecord) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(scan, mask) pairs in the working frame for the overlay figures: as the frame alone puts them, after the
    scan's own corrections (the mask following its scan), and after the mask's alignment (final)."""
    scan, mask = _as_volume(scan), _as_volume(mask)
    binary = np.asarray(mask.array) > 0
    framed_scan = to_working(scan.array, record.frame_ornt)
    framed_mask = to_working(binary, record.mask_frame_ornt)
    oriented = to_oriented_frame(scan.array, record)
    return {"frame only": (framed_scan, framed_mask),
            "after the scan's corrections": (oriented, to_working(framed_mask, correction_ornt(record))),
            "after mask alignment": (oriented, to_oriented_frame(binary, record, kind="mask"))}


def mask_placement(oriented_scan: np.ndarray, mask: np.ndarray, spacing,
                   settings: HeuristicSettings | None = None, anatomy: ScanAnatomy | None = None) -> dict:
    """Plausibility of a (predicted) breast mask on its oriented scan, without truth: the
    :func:`~breastmri.orientation.heuristics.placement` shares and ``problems`` (empty when plausible).

    ``anatomy``: the body outline of this oriented scan from :func:`orient_scan_anatomy` (made with the same
    ``settings``), reused instead of computed again."""
    settings = settings or HeuristicSettings()
    if anatomy is None:
        anatomy = ScanAnatomy(oriented_scan, spacing, settings)
    else:
        anatomy.check(oriented_scan, spacing)
    qc, problems = anatomy.placement(mask, settings)
    if qc["body_share"] == 0.0:
        problems.append("mask is empty")
    return {**qc, "problems": problems}
