"""Tumour candidate: the 3D component of the brightest voxels inside the breast mask that holds the largest compact
core, and the check of whether that rule can be trusted on a scan (:func:`checked_candidate`).

The core of the brightest voxels is where a ball of radius ``core_mm`` fits inside them: the voxels farther than
``core_mm`` from every voxel that is not bright (:func:`~breastmri.inference.postprocess.erode_mm`). Enhancing
vessels and strips of skin thinner than the ball's diameter have none, a tumour has, so a long bright vessel cannot
outrank a smaller but compact tumour. The candidate is the whole component (not only its core) holding the most
core voxels; where no voxel is a core voxel (every bright structure is thinner than the ball) it is the largest
component, as with ``core_mm`` 0 (the published rule).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from breastmri.inference.postprocess import bounding_box, erode_mm, is_whole, largest_component


def _breast_box(image: np.ndarray, breast_mask: np.ndarray):
    """``(box, cropped image, cropped mask)`` of the mask's bounding box (the whole array when the box is; None for
    an empty mask): the region's voxels in the same order as ``image[mask]``."""
    image = np.asarray(image, dtype=np.float32)
    breast = np.asarray(breast_mask) > 0
    if image.shape != breast.shape:
        raise ValueError(f"image {image.shape} and breast mask {breast.shape} differ in shape")
    box = bounding_box(breast)
    if box is None:
        return None
    if is_whole(box, image.shape):
        box = (slice(None),) * image.ndim
    return box, image[box], breast[box]


class SettingError(ValueError):
    """A setting of the candidate rule out of its range: ``field`` (the rule's name for it) and the ``problem``,
    for a caller to report under its own name for the setting (a command's flag)."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field} {problem}")
        self.field, self.problem = field, problem


def _check_percentile(percentile: float) -> None:
    if not 0.0 <= percentile < 100.0:
        raise SettingError("percentile", f"must be in [0, 100), got {percentile}")


def _check_non_negative(field: str, value: float) -> None:
    if not value >= 0.0:  # NaN too
        raise SettingError(field, f"must be >= 0, got {value}")


def _check_bulk_ratio(max_bulk_ratio: float) -> None:
    if not 0.0 < max_bulk_ratio <= 1.0:
        raise SettingError("max_bulk_ratio", f"must be in (0, 1], got {max_bulk_ratio}")


def _check_core(core_mm: float, spacing) -> None:
    _check_non_negative("core_mm", core_mm)
    if core_mm > 0 and spacing is None:
        raise ValueError("a core_mm above 0 needs the voxel spacing")


def compact_component(above: np.ndarray, core_mm: float, spacing, connectivity: int = 1) -> np.ndarray:
    """The component of ``above`` holding the most core voxels (module docstring), ``uint8``; the largest component
    when ``core_mm`` is 0 or no voxel is a core voxel (ties: the first label)."""
    if core_mm > 0:
        inner = (slice(1, -1),) * above.ndim  # padded: the array's edge is not bright, as beyond the breast's box
        core = erode_mm(np.pad(above, 1), spacing, core_mm)[inner] > 0
        if core.any():
            return largest_component(above, connectivity, counted=core)
    return largest_component(above, connectivity)


def _largest_above(shape: tuple, box, cropped: np.ndarray, inside: np.ndarray, threshold: float,
                   connectivity: int, core_mm: float, spacing) -> np.ndarray:
    """:func:`compact_component` of the box's region voxels above ``threshold``, placed in an array of ``shape``."""
    candidate = compact_component(inside & (cropped > threshold), core_mm, spacing, connectivity)
    if candidate.shape == shape:
        return candidate
    out = np.zeros(shape, np.uint8)
    out[box] = candidate
    return out


def tumor_candidate(image: np.ndarray, breast_mask: np.ndarray, percentile: float = 98.0,
                    connectivity: int = 1, core_mm: float = 0.0, spacing=None) -> np.ndarray:
    """Voxels inside ``breast_mask`` brighter than the ``percentile``-th intensity percentile of the
    breast (strictly above it), 3D connected components (scipy.ndimage), the one with the largest core of
    ``core_mm`` on a grid of ``spacing`` (mm) kept, ``uint8`` (module docstring; 0: the largest component).

    An empty breast mask, or a breast with no voxel above the threshold (constant image), gives an empty
    candidate. Computed on the breast mask's bounding box (the same voxels, in the same order).
    """
    _check_percentile(percentile)
    _check_core(core_mm, spacing)
    found = _breast_box(image, breast_mask)
    if found is None:
        return np.zeros(np.shape(image), np.uint8)
    box, cropped, inside = found
    threshold = np.percentile(cropped[inside], percentile, overwrite_input=True)  # partitions its own copy
    return _largest_above(np.shape(image), box, cropped, inside, threshold, connectivity, core_mm, spacing)


PERCENTILE_RULE = "percentile"


def core_text(core_mm: float) -> str:
    """The component choice of the rule in words (reported with its hit rate)."""
    return (f"the 3D component with the most voxels {core_mm:g} mm inside the brightest voxels" if core_mm > 0
            else "the largest 3D component")


@dataclass(frozen=True)
class CandidateRule:
    """The whole-breast pipeline's tumour candidate and its trust test (params.yaml ``candidate``): the 3D
    component with the most voxels ``core_mm`` inside the region's voxels above its ``percentile``-th percentile
    (:func:`tumor_candidate`), the region being the breast less ``skin_margin_mm`` where it meets the air; trusted
    where the region's median is at most ``max_bulk_ratio`` of its 99th percentile (:func:`checked_candidate`)."""

    percentile: float
    core_mm: float
    skin_margin_mm: float
    max_bulk_ratio: float

    def __post_init__(self):
        _check_percentile(self.percentile)
        _check_non_negative("core_mm", self.core_mm)
        _check_non_negative("skin_margin_mm", self.skin_margin_mm)
        _check_bulk_ratio(self.max_bulk_ratio)

    def describe(self) -> str:
        """The rule in words (reported with its hit rate)."""
        return (f"{PERCENTILE_RULE}: {core_text(self.core_mm)} above the {self.percentile:g}th percentile of the "
                f"breast less its skin, trusted where the breast's median is at most {self.max_bulk_ratio:g} of its "
                "99th percentile (fat suppressed)")

    def check(self, image: np.ndarray, region: np.ndarray, spacing) -> tuple[np.ndarray, dict]:
        """:func:`checked_candidate` of ``region`` (the breast less its skin) by this rule."""
        return checked_candidate(image, region, self.percentile, self.max_bulk_ratio, core_mm=self.core_mm,
                                 spacing=spacing)


def _judged(ratio: float, max_bulk_ratio: float) -> dict:
    trusted = bool(ratio <= max_bulk_ratio)  # NaN (no breast, no signal): not trusted
    problem = None if trusted else (
        f"tumour candidate not trusted: the breast's median is {ratio:.2f} of its 99th percentile (above "
        f"{max_bulk_ratio:g}: fat looks bright, not suppressed, so the brightest voxels are fat)"
        if ratio == ratio else "tumour candidate not trusted: no breast signal to rank")
    return {"rule": PERCENTILE_RULE, "bulk_ratio": ratio, "trusted": trusted, "problem": problem}


def checked_candidate(image: np.ndarray, region: np.ndarray, percentile: float, max_bulk_ratio: float,
                      connectivity: int = 1, core_mm: float = 0.0, spacing=None) -> tuple[np.ndarray, dict]:
    """:func:`tumor_candidate` of ``region`` and whether it can be trusted on this scan, from one pass over the
    region's voxels (one gather, one partition for the three percentiles).

    The test is the region's *bulk ratio*, its median intensity over its 99th percentile (NaN for a 99th
    percentile <= 0). With fat suppressed (most DCE), the bulk of a breast (dark fat, unenhanced tissue) lies far
    below its brightest tissue (enhancement), and the ratio is low; without fat suppression the fat is both the
    bulk and near the top of the range, so the brightest voxels are fat, not a lesion, and the ratio is high. The
    candidate is ``trusted`` when the ratio is at most ``max_bulk_ratio`` (an empty region or one without signal
    never is); an untrusted one comes with the ``problem`` to report. Returns ``(candidate, {"rule", "bulk_ratio",
    "trusted", "problem"})``."""
    _check_percentile(percentile)
    _check_core(core_mm, spacing)
    _check_bulk_ratio(max_bulk_ratio)
    found = _breast_box(image, region)
    if found is None:
        return np.zeros(np.shape(image), np.uint8), _judged(float("nan"), max_bulk_ratio)
    box, cropped, inside = found
    threshold, median, top = np.percentile(cropped[inside], [percentile, 50.0, 99.0], overwrite_input=True)
    return (_largest_above(np.shape(image), box, cropped, inside, threshold, connectivity, core_mm, spacing),
            _judged(float(median / top) if top > 0 else float("nan"), max_bulk_ratio))
