"""Contrast-free anatomical decisions on an axial stack: which in-plane axis is anterior-posterior, which way is
anterior, which way is the head, and where a training mask belongs on its scan.

Everything is decided from the body outline, which holds in every MRI contrast (T1 with and without fat
suppression, post-contrast phases): air is dark, so the body is the filled foreground above a low threshold.

* Breasts protrude from the anterior body outline with a cleft between them: the concavities of an axial
  body outline (the convex hull minus the body) lie anterior of the body's centre, and the body is wider
  posteriorly (thorax, or a field of view that cuts the back) than anteriorly (the breasts).
* The body is mirror-symmetric left-right, never anterior-posterior.
* Superiorly the thoracic cavity holds the dark lungs; inferiorly the liver and heart fill it.

A breast mask's plausibility (:func:`placement`, the QC) needs neither the body's centre nor the fat in the axial
outline: it is judged against the :func:`body_envelope` (what the skin encloses in any of the three planes, or
lies behind it) by the share inside it and the share of the body in front of the mask that the mask covers.

Each decision function returns a :class:`Decision` ``(flip, margin)`` from a signed score in [-1, 1] whose sign gives
the decision (positive = already as the working frame wants it) and whose size is the margin. Every score is
antisymmetric under the flip it decides (flipping the input negates it).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from breastmri.parallel import each_slice

DECISION_MM = 2.0  # decisions run on a copy decimated to about this in-plane pixel size


class Decision(NamedTuple):
    flip: bool
    margin: float

    @classmethod
    def from_score(cls, score: float) -> "Decision":
        score = float(np.clip(score, -1.0, 1.0))
        return cls(flip=bool(score < 0), margin=abs(score))


def _relative(a: float, b: float) -> float:
    """(a - b) / (|a| + |b|), 0 when both are 0."""
    denominator = abs(a) + abs(b)
    return 0.0 if denominator <= 0 else float((a - b) / denominator)


# ------------------------------------------------------------------------------------------------ body
def decimation_factors(spacing, target_mm: float = DECISION_MM) -> tuple[int, int]:
    """The in-plane block sizes of :func:`decimate` (axes 0 and 1)."""
    return tuple(max(1, int(round(target_mm / float(s)))) for s in spacing[:2])


def decimate(volume: np.ndarray, spacing, target_mm: float = DECISION_MM) -> tuple[np.ndarray, tuple]:
    """In-plane block means to about ``target_mm`` pixels (axes 0 and 1; slices untouched): the decisions are
    the same on the copy and much faster on 0.7 mm matrices. Returns ``(copy, its spacing)``; rows or columns
    beyond the last whole block are dropped."""
    factors = decimation_factors(spacing, target_mm)
    out = np.asarray(volume, dtype=np.float32)
    for axis, f in enumerate(factors):
        if f > 1:
            n = out.shape[axis] // f * f
            out = out[(slice(None),) * axis + (slice(0, n),)]  # a view: splitting the axis needs no copy
            shape = list(out.shape)
            shape[axis:axis + 1] = [n // f, f]
            out = out.reshape(shape).mean(axis=axis + 1)
    return out, (float(spacing[0]) * factors[0], float(spacing[1]) * factors[1], float(spacing[2]))


def undecimate(small: np.ndarray, spacing, shape) -> np.ndarray:
    """The inverse of :func:`decimate` for a mask on the decimated grid of a volume of ``shape`` and ``spacing``:
    each voxel repeated over its block, the rows or columns that :func:`decimate` dropped copied from the last
    block (``decimate(undecimate(m)) >= 0.5`` gives ``m`` back)."""
    out = np.asarray(small)
    for axis, f in enumerate(decimation_factors(spacing)):
        out = np.repeat(out, f, axis=axis)
    return np.pad(out, [(0, shape[0] - out.shape[0]), (0, shape[1] - out.shape[1]), (0, 0)], mode="edge")


def air_threshold(volume: np.ndarray, noise_factor: float, floor_fraction: float) -> float:
    """Intensity above which a voxel is tissue, from the air alone: ``noise_factor`` times the air's level, the
    lowest clear peak of the histogram of the darker half of the voxels (a breast MRI's field of view always
    holds air around the breasts; a large uniform dark tissue forms a later peak), and at least
    ``floor_fraction`` of the 99th percentile (for images whose air is exactly zero).

    Exact zeros are padding (rows or corners the reconstruction or a resampling filled in: magnitude noise in air
    is never exactly zero over a region) and are left out of that histogram, unless they are most of its voxels
    (air exactly zero); else a band of padding would be taken for the air and the noisy air for tissue. For the
    same reason the planes at the ends of an axis where the signal rolls off (:func:`unrolled_box`) are left out
    of the histogram and the percentiles."""
    volume = np.asarray(volume, dtype=np.float32)
    values = volume[unrolled_box(volume)].ravel()
    median, high = np.percentile(values, [50.0, 99.0])
    dark = values[values <= median]
    padding = dark == 0
    if 0 < np.count_nonzero(padding) < 0.5 * dark.size:
        dark = dark[~padding]
    counts, edges = np.histogram(dark, bins=64)
    counts = ndimage.gaussian_filter1d(counts.astype(np.float64), 2.0, mode="nearest")
    local_max = counts >= ndimage.maximum_filter1d(counts, size=9, mode="nearest")
    peaks = np.flatnonzero(local_max & (counts >= 0.1 * counts.max()))
    level = float(0.5 * (edges[peaks[0]] + edges[peaks[0] + 1]))
    return max(noise_factor * level, floor_fraction * float(high))


#: A plane at an end of an axis whose darkest voxels (this percentile of every ``ROLLOFF_STRIDE``-th voxel of the
#: plane) are under :data:`ROLLOFF_RATIO` of the darkest interior plane's lies where the signal, the air's noise
#: with it, rolls off toward the field of view's end; the interior leaves out ``ROLLOFF_END`` of the planes at
#: each end.
ROLLOFF_PERCENTILE = 1.0
ROLLOFF_RATIO = 0.5
ROLLOFF_STRIDE = 4
ROLLOFF_END = 0.2


def unrolled_box(volume: np.ndarray) -> tuple[slice, ...]:
    """The volume less the planes at both ends of each axis whose darkest voxels fall under :data:`ROLLOFF_RATIO`
    of those of the darkest plane of the axis's interior (:data:`ROLLOFF_PERCENTILE`, :data:`ROLLOFF_END`): a
    reconstruction's roll-off toward the ends of the slab or the field of view, or padding, fades the noise in
    the air with the signal, so there the air is darker than anywhere inside (thermal noise does not fade), and
    its values would be taken for the air's level. Planes of air alone (in front of the breasts) are as dark as the
    interior's air and stay. The planes are stripped from each end up to the first one that is not faded (the
    interior's darkest plane never is)."""
    box = []
    for axis, n in enumerate(volume.shape):
        planes = np.moveaxis(volume, axis, 0).reshape(n, -1)[:, ::ROLLOFF_STRIDE]  # every 4th voxel: enough
        floor = np.percentile(planes, ROLLOFF_PERCENTILE, axis=1)
        end = int(ROLLOFF_END * n)
        kept = np.flatnonzero(floor >= ROLLOFF_RATIO * floor[end:n - end].min())
        box.append(slice(int(kept[0]), int(kept[-1]) + 1))
    return tuple(box)


def body_mask(volume: np.ndarray, noise_factor: float, floor_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """``(body, tissue)``: tissue = above the air threshold after a 3x3 in-plane mean; body = per axial slice
    the largest tissue component with its holes (lungs, suppressed fat) filled (the slices on threads)."""
    smooth = ndimage.uniform_filter(np.asarray(volume, dtype=np.float32), size=(3, 3, 1))
    tissue = smooth > air_threshold(smooth, noise_factor, floor_fraction)
    return filled_planes(tissue, axis=2), tissue


def filled_planes(tissue: np.ndarray, axis: int) -> np.ndarray:
    """Per plane across ``axis``: the largest tissue component with its holes filled (:func:`fill_cut_body`);
    the planes on threads."""
    tissue = np.moveaxis(tissue, axis, 2)
    out = np.zeros_like(tissue)

    def outline(k: int) -> None:
        labels, n = ndimage.label(tissue[:, :, k])
        if n:
            largest = 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))
            out[:, :, k] = fill_cut_body(labels == largest)

    each_slice(outline, tissue.shape[2])
    return np.moveaxis(out, 2, axis)


def body_envelope(body: np.ndarray, tissue: np.ndarray, spacing) -> np.ndarray:
    """The body as the placement QC sees it: ``body`` plus what the tissue, closed over 3x3x3 voxels, encloses
    in a plane across any of the three axes, plus what lies :func:`behind_skin`. Where fat lies near the noise
    floor (strong fat suppression) the axial outline loses it, but the skin still encloses the breast in the
    plane of acquisition (sagittal for a breast-only field of view); where the fat is as dark as the air and the
    chest wall barely above it (a noisy fat-suppressed exam) only the skin in front of the breast is left."""
    closed = ndimage.binary_closing(np.pad(tissue, 1, mode="edge"), np.ones((3, 3, 3), bool))[1:-1, 1:-1, 1:-1]
    envelope = body | behind_skin(tissue, spacing)
    for axis in range(3):
        envelope |= filled_planes(closed, axis)
    return envelope


#: Gaps in the skin line up to this width (mm) are bridged by :func:`behind_skin`.
SKIN_GAP_MM = 10.0


def behind_skin(tissue: np.ndarray, spacing, gap_mm: float = SKIN_GAP_MM) -> np.ndarray:
    """Per (column, slice) of the working frame, the rows posterior of the most anterior tissue voxel, the
    skin (axis 0 runs posterior -> anterior): in a prone breast exam the air lies in front of the skin or beside
    the body, never inside its front. The skin's height map is closed (grey closing) over ``gap_mm`` across the
    columns and slices, so where the skin line falls under the threshold for a few millimetres its neighbours
    bridge the gap; a wider dip (the cleft between the breasts, the air between the body and the edge of the
    field of view) stays. Air behind the back is counted too: a mask there is what ``front_covered`` catches."""
    n = tissue.shape[0]
    front = np.where(tissue.any(axis=0), n - 1 - np.argmax(tissue[::-1], axis=0), -1)
    size = [max(1, int(round(gap_mm / float(s)))) for s in spacing[1:]]
    padded = np.pad(front, [(k, k) for k in size], constant_values=-1)  # beyond the field of view: no skin
    front = ndimage.grey_closing(padded, size=size)[size[0]:-size[0], size[1]:-size[1]]
    return np.arange(n)[:, None, None] <= front[None]


def fill_cut_body(plane: np.ndarray) -> np.ndarray:
    """Fill the holes of a 2D body outline, also where the field of view cuts the body open: along each image
    edge the body touches, the stretch between its outermost touching pixels is closed before filling."""
    padded = np.pad(plane, 1)
    rows, cols = plane.shape
    for index, line in ((0, plane[0]), (rows + 1, plane[-1])):
        hit = np.flatnonzero(line)
        if hit.size:
            padded[index, hit[0] + 1:hit[-1] + 2] = True
    for index, line in ((0, plane[:, 0]), (cols + 1, plane[:, -1])):
        hit = np.flatnonzero(line)
        if hit.size:
            padded[hit[0] + 1:hit[-1] + 2, index] = True
    return ndimage.binary_fill_holes(padded)[1:-1, 1:-1] | plane


def representative_slices(body: np.ndarray, n_slices: int) -> np.ndarray:
    """The ``n_slices`` axial slices of largest body area (those through the breasts), sorted."""
    area = body.sum(axis=(0, 1))
    return np.sort(np.argsort(-area, kind="stable")[:max(1, n_slices)])


def outline_solidity(body: np.ndarray, n_slices: int) -> float:
    """Median over the representative slices of body area / convex-hull area: about 0.9 for a body whose
    outline the threshold found, about 0.6 when only the breasts and the chest wall show (a posterior body lost
    in the coil's fall-off), where the outline votes cannot be trusted."""
    values = [body[:, :, k].sum() / max(convex_hull(body[:, :, k]).sum(), 1)
              for k in representative_slices(body, n_slices)]
    return float(np.median(values)) if values else 0.0


def convex_hull(plane: np.ndarray) -> np.ndarray:
    """Filled convex hull of a 2D mask (pixel centres inside every hull facet)."""
    points = np.argwhere(plane).astype(np.float64)
    if len(points) < 3:
        return plane.copy()
    try:
        hull = ConvexHull(points)
    except QhullError:
        return plane.copy()
    grid = np.indices(plane.shape).reshape(2, -1).T.astype(np.float64)
    inside = np.all(grid @ hull.equations[:, :2].T + hull.equations[:, 2] <= 1e-6, axis=1)
    return inside.reshape(plane.shape) | plane


# ------------------------------------------------------------------------------------- in-plane votes
def _anterior_votes(plane: np.ndarray, spacing) -> np.ndarray:
    """Per in-plane axis, a signed vote in [-1, 1] that anterior lies at that axis' high index; near 0 for
    the left-right axis. Votes: hull concavities anterior of the body centre (offset / half extent), and
    the body narrower at its anterior end than at its posterior end (third-of-extent areas)."""
    votes = np.zeros(2)
    if plane.sum() < 10:
        return votes
    concave = convex_hull(plane) & ~plane
    coords = np.argwhere(plane)
    for axis in (0, 1):
        lo, hi = coords[:, axis].min(), coords[:, axis].max()
        half = max((hi - lo) / 2.0, 1.0)
        offset = 0.0
        if concave.sum() > 0:
            offset = (np.argwhere(concave)[:, axis].mean() - coords[:, axis].mean()) / half
        third = (hi - lo + 1) / 3.0
        low_part = np.count_nonzero(coords[:, axis] < lo + third)
        high_part = np.count_nonzero(coords[:, axis] > hi - third)
        votes[axis] = 0.5 * float(np.clip(offset, -1, 1)) + 0.5 * _relative(low_part, high_part)
    return votes


def _mirror_asymmetry(plane: np.ndarray) -> np.ndarray:
    """Per in-plane axis, 1 - IoU of the body with its mirror image about its own centre along that axis
    (small for the left-right axis, large for the anterior-posterior axis)."""
    out = np.zeros(2)
    coords = np.argwhere(plane)
    if len(coords) < 10:
        return out
    for axis in (0, 1):
        centre = coords[:, axis].mean()
        mirrored = coords.copy()
        mirrored[:, axis] = np.rint(2 * centre - coords[:, axis]).astype(int)
        valid = (mirrored[:, axis] >= 0) & (mirrored[:, axis] < plane.shape[axis])
        hits = np.count_nonzero(plane[tuple(mirrored[valid].T)])
        out[axis] = 1.0 - hits / (2 * len(coords) - hits)
    return out


def in_plane_axes(body: np.ndarray, spacing, n_slices: int) -> tuple[Decision, Decision]:
    """``(swap, flip_ud)`` for an axial stack: ``swap`` when the anterior-posterior axis is axis 1 rather than
    axis 0; ``flip_ud`` when, on that axis, anterior lies at low index. Medians over representative slices.

    swap score = (AP-likeness of axis 0 - of axis 1) / 2, AP-likeness = |anterior vote| + mirror asymmetry;
    flip score = the anterior vote on the chosen axis.
    """
    votes, asymmetry = [], []
    for k in representative_slices(body, n_slices):
        votes.append(_anterior_votes(body[:, :, k], spacing))
        asymmetry.append(_mirror_asymmetry(body[:, :, k]))
    votes, asymmetry = np.median(votes, axis=0), np.median(asymmetry, axis=0)
    likeness = np.abs(votes) + asymmetry
    swap = Decision(bool(likeness[1] > likeness[0]), float(abs(likeness[0] - likeness[1]) / 2.0))
    ap_axis = 1 if swap.flip else 0
    return swap, Decision.from_score(votes[ap_axis])


def head_foot(body: np.ndarray, tissue: np.ndarray, end_fraction: float) -> Decision:
    """Head at high axis-2 index? Lungs (dark cavities inside the body) fill the superior thorax; the liver and
    heart fill the inferior one. score = relative difference of the lung share of the body area in the top
    ``end_fraction`` of slices and in the bottom ``end_fraction``."""
    depth = body.shape[2]
    n = max(1, int(round(end_fraction * depth)))
    if depth < 2 * n:
        return Decision(False, 0.0)
    lungs = (body & ~tissue).sum(axis=(0, 1)).astype(np.float64)
    area = np.maximum(body.sum(axis=(0, 1)).astype(np.float64), 1.0)
    share = lungs / area
    return Decision.from_score(_relative(share[-n:].mean(), share[:n].mean()))


# ------------------------------------------------------------------------------------------ masks
def _shadow(mask: np.ndarray) -> np.ndarray:
    """Per (column, slice) of the working frame that the mask reaches: the rows from its most posterior mask row
    forwards (axis 0 runs posterior -> anterior)."""
    first = np.argmax(mask, axis=0)
    rows = np.arange(mask.shape[0])[:, None, None]
    return mask.any(axis=0)[None] & (rows >= first[None])


def mask_costs(body: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Misfit of a mask on its scan, for the four candidates ``[as is, flip ud, flip lr, flip both]`` (axes 0
    and 1 of the working frame): the share of the mask on air plus the share of body tissue it leaves
    uncovered anterior of its own posterior boundary (a breast mask covers everything in front of the chest
    wall). 0 = a perfect fit."""
    total = max(int(mask.sum()), 1)
    costs = []
    for ud in (False, True):
        for lr in (False, True):
            m = mask[::-1] if ud else mask
            m = m[:, ::-1] if lr else m
            shadow = _shadow(m)
            on_air = np.count_nonzero(m & ~body)
            uncovered = np.count_nonzero(body & shadow & ~m)
            costs.append((on_air + uncovered) / total)
    return np.array(costs)


def mask_alignment(body: np.ndarray, mask: np.ndarray) -> tuple[Decision, Decision, float]:
    """``(flip_ud, flip_lr, cost)`` of the best-fitting candidate; each margin is the cost gap between the best
    candidate and the best one that decides that flip the other way."""
    costs = mask_costs(body, mask > 0)
    best = int(np.argmin(costs))
    ud, lr = bool(best >> 1), bool(best & 1)
    other_ud = min(costs[i] for i in range(4) if bool(i >> 1) != ud)
    other_lr = min(costs[i] for i in range(4) if bool(i & 1) != lr)
    return (Decision(ud, float(other_ud - costs[best])), Decision(lr, float(other_lr - costs[best])),
            float(costs[best]))


# ---------------------------------------------------------------------------------------------- QC
def front_covered(body: np.ndarray, mask: np.ndarray) -> float:
    """Share of the body in front of the mask's posterior boundary (per column and slice of the working frame)
    that the mask covers, up to one voxel in-plane (the skin and the outline's partial-volume rim): a breast mask
    covers everything from the chest wall to the skin, a mask on the back or the chest wall leaves the body in
    front of it uncovered."""
    mask = mask > 0
    shadow = _shadow(mask) & body
    uncovered = shadow & ~ndimage.binary_dilation(mask, np.ones((3, 3, 1), bool))
    return float(1.0 - np.count_nonzero(uncovered) / max(np.count_nonzero(shadow), 1)) if mask.any() else 0.0


def placement(body: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Plausibility of a breast mask in the working frame, without truth: ``inside_body`` (share of the mask
    inside ``body``), ``front_covered`` (:func:`front_covered`) and ``body_share`` (mask volume / body volume).
    Neither needs the body's centre in view, so both hold for a breast-only field of view; pass the
    :func:`body_envelope`, which keeps fat near the noise floor."""
    mask = mask > 0
    total = int(mask.sum())
    if total == 0:
        return {"inside_body": 0.0, "front_covered": 0.0, "body_share": 0.0}
    return {"inside_body": round(np.count_nonzero(mask & body) / total, 6),
            "front_covered": round(front_covered(body, mask), 6),
            "body_share": round(total / max(int(body.sum()), 1), 6)}
