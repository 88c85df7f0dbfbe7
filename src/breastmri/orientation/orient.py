"""Orient one patient in memory: affine canonicalisation, then the heuristic decisions, then the record.

:func:`orient_scan` is the scan-only entry point (inference); :func:`orient_pair` orients a training scan
and aligns its mask. Both return the oriented arrays and the :class:`OrientationRecord` that maps them back
(:func:`breastmri.orientation.record.to_original_frame`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from breastmri.data.errors import DataError
from breastmri.data.io import Volume
from breastmri.orientation import heuristics as h
from breastmri.orientation.canonical import canonical_ornt, to_canonical
from breastmri.orientation.record import OrientationRecord, to_oriented_frame


@dataclass(frozen=True)
class HeuristicSettings:
    """Knobs of the heuristics (params.yaml ``orient`` section)."""

    n_slices: int = h.DEFAULT_N_SLICES
    central_span: tuple[float, float] = h.DEFAULT_CENTRAL_SPAN
    end_fraction: float = h.DEFAULT_END_FRACTION
    brightness_percentile: float = h.DEFAULT_BRIGHTNESS_PERCENTILE
    background_fraction: float = h.DEFAULT_BACKGROUND_FRACTION

    def __post_init__(self):
        object.__setattr__(self, "central_span", tuple(float(v) for v in self.central_span))
        if int(self.n_slices) < 1:
            raise ValueError(f"n_slices must be >= 1, got {self.n_slices}")
        lo, hi = self.central_span
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"central_span must be 0 <= lo <= hi <= 1, got {self.central_span}")
        if not 0.0 < self.end_fraction <= 0.5:
            raise ValueError(f"end_fraction must be in (0, 0.5], got {self.end_fraction}")
        if not 50.0 <= self.brightness_percentile <= 100.0:
            raise ValueError(f"brightness_percentile must be in [50, 100], got {self.brightness_percentile}")
        if not 0.0 < self.background_fraction < 1.0:
            raise ValueError(f"background_fraction must be in (0, 1), got {self.background_fraction}")

    def to_dict(self) -> dict:
        out = asdict(self)
        out["central_span"] = list(self.central_span)
        return out


def _as_volume(volume) -> Volume:
    if isinstance(volume, Volume):
        return volume
    array = np.asarray(volume)
    return Volume(array=array, affine=np.eye(4), patient_id="", path=None)


def _check_scan(volume: Volume) -> None:
    if volume.array.ndim != 3:
        raise DataError(volume.path, f"expected a 3D scan, got shape {volume.array.shape}")
    if not np.all(np.isfinite(volume.array)):
        raise DataError(volume.path, "scan holds NaN or infinite voxels")
    if float(np.ptp(volume.array)) <= 0:
        raise DataError(volume.path, "scan is constant: its orientation cannot be determined")


def _scan_decisions(canonical: np.ndarray, settings: HeuristicSettings):
    ud = h.scan_up_down(canonical, settings.n_slices, settings.central_span, settings.background_fraction)
    hf = h.scan_head_foot(canonical, settings.n_slices, settings.end_fraction, settings.brightness_percentile)
    return ud, hf


def orient_scan(volume, settings: HeuristicSettings | None = None, split: str = "") \
        -> tuple[np.ndarray, OrientationRecord]:
    """Orient a scan without a mask (the inference path): ``(oriented_array, record)``.

    ``volume`` is a :class:`~breastmri.data.io.Volume` (or a bare array, taken as stored with an identity
    affine). The record's ``to_original_frame`` maps arrays (e.g. predictions) back to the stored frame.
    """
    settings = settings or HeuristicSettings()
    volume = _as_volume(volume)
    _check_scan(volume)
    ornt = canonical_ornt(volume.affine, volume.path)
    canonical = to_canonical(volume.array, ornt)
    ud, hf = _scan_decisions(canonical, settings)
    record = OrientationRecord(
        patient_id=volume.patient_id, split=split, stored_shape=volume.shape, stored_affine=volume.affine,
        canonical_ornt=ornt, scan_flip_ud=ud.flip, scan_flip_hf=hf.flip, scan_ud_margin=ud.margin,
        scan_hf_margin=hf.margin, source_scan=None if volume.path is None else str(volume.path))
    return to_oriented_frame(volume.array, record), record


def orient_pair(scan, mask, settings: HeuristicSettings | None = None, split: str = "train") \
        -> tuple[np.ndarray, np.ndarray, OrientationRecord]:
    """Orient a training scan and align its mask: ``(oriented_scan, oriented_mask uint8, record)``.

    The mask first receives its scan's transforms; then its own up/down (mask geometry) and left-right
    (least overlap with the scan's background) decisions are made on the oriented scan.
    """
    settings = settings or HeuristicSettings()
    scan, mask = _as_volume(scan), _as_volume(mask)
    oriented_scan, scan_record = orient_scan(scan, settings, split=split)
    if mask.array.ndim != 3:
        raise DataError(mask.path, f"expected a 3D mask, got shape {mask.array.shape}")
    mask_ornt = canonical_ornt(mask.affine, mask.path)
    binary = np.asarray(mask.array) > 0
    if not binary.any():
        raise DataError(mask.path, "mask is empty (no foreground voxels)")
    canonical_mask = to_canonical(binary, mask_ornt)
    if canonical_mask.shape != oriented_scan.shape:
        raise DataError(mask.path, f"mask shape {mask.shape} does not match its scan "
                                   f"{scan.path or ''} of shape {scan.shape} (after canonical reorientation: "
                                   f"{canonical_mask.shape} vs {oriented_scan.shape})")
    following = canonical_mask
    if scan_record.scan_flip_ud:
        following = following[::-1, :, :]
    if scan_record.scan_flip_hf:
        following = following[:, :, ::-1]
    ud = h.mask_up_down(following)
    if ud.flip:
        following = following[::-1, :, :]
    lr = h.mask_left_right(oriented_scan, following, settings.background_fraction)
    record = OrientationRecord(
        **{**_fields(scan_record), "mask_canonical_ornt": mask_ornt, "mask_flip_ud": ud.flip,
           "mask_flip_lr": lr.flip, "mask_ud_margin": ud.margin, "mask_lr_margin": lr.margin,
           "source_mask": None if mask.path is None else str(mask.path)})
    oriented_mask = to_oriented_frame(binary.astype(np.uint8), record, kind="mask")
    return oriented_scan, oriented_mask, record


def _fields(record: OrientationRecord) -> dict:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


def mask_alignment_steps(scan, mask, record: OrientationRecord) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(scan, mask) pairs for the overlay figures: before any correction (affine-canonical arrays only),
    after the up/down fix (scan flips + mask up/down) and after left-right alignment (final)."""
    scan, mask = _as_volume(scan), _as_volume(mask)
    c_scan = to_canonical(scan.array, record.canonical_ornt)
    c_mask = to_canonical(np.asarray(mask.array) > 0, record.mask_canonical_ornt)
    oriented = to_oriented_frame(scan.array, record)
    after_ud = c_mask
    if record.scan_flip_ud:
        after_ud = after_ud[::-1]
    if record.scan_flip_hf:
        after_ud = after_ud[:, :, ::-1]
    if record.mask_flip_ud:
        after_ud = after_ud[::-1]
    final = to_oriented_frame(np.asarray(mask.array) > 0, record, kind="mask")
    return {"before any correction": (c_scan, c_mask),
            "after up/down fix": (oriented, np.ascontiguousarray(after_ud)),
            "after left-right alignment": (oriented, final)}
