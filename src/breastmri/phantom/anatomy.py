"""One canonical phantom case: DCE phases, whole-breast mask and lesion mask in the canonical (working) frame."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from breastmri.phantom.body import Body, build_body
from breastmri.phantom.geometry import DUKE_MATRIX, Grid, draw_acquisition
from breastmri.phantom.kinetics import phase_times
from breastmri.phantom.lesion import LesionSpec, plant_lesions
from breastmri.phantom.parenchyma import fibroglandular, vessels
from breastmri.phantom.render import Scanner, contrast_for, render


@dataclass(frozen=True)
class Style:
    """How a case is acquired and looks: the acquisition grid (:data:`geometry.ACQUISITIONS`; ``duke_matrix``
    is the in-plane matrix of ``duke``), the contrast (:data:`render.CONTRAST_NAMES`), breasts of nearly equal size
    (``symmetric``), both breasts in the field of view (``bilateral``) or only the one with the lesion, a field
    of view of the whole axial body cross-section (``fov="body"``) or of the breast and a few cm of chest wall
    (``"breast"``, as many sagittal exams: :func:`breast_field_of_view`) or that one narrowed left-right into the
    breast (``"slab"``: :func:`slab_columns`), and ``lesion_scale`` times the lesion diameter
    the clinical draw gives (neoadjuvant cohorts such as I-SPY enrolled tumours of 3 cm and more)."""

    acquisition: str = "phantom"
    contrast: str = "fat_suppressed"
    symmetric: bool = False
    bilateral: bool = True
    duke_matrix: int = DUKE_MATRIX
    fov: str = "body"
    lesion_scale: float = 1.0


FIELDS_OF_VIEW = ("body", "breast", "slab")
#: Breast field of view: margins (mm) behind the breast's base (chest wall, pectoral muscle), in front of its
#: tip, and above/below it; drawn per case.
BREAST_FOV_POSTERIOR_MM = (15.0, 45.0)
BREAST_FOV_ANTERIOR_MM = (5.0, 25.0)
BREAST_FOV_HEAD_FOOT_MM = (10.0, 35.0)
#: Slab field of view: the share of the breast's left-right width cut off at each side, drawn per side and case
#: (a sagittal slab narrower than the breast's base, as the real NACT exams' 120 mm of 2 mm slices)
SLAB_CUT = (0.05, 0.2)


@dataclass(frozen=True, eq=False)
class Case:
    """A rendered case. ``phases`` holds the requested phases (float32) in the requested order; masks are
    ``uint8``; ``times`` are the acquisition times (s) of all ``n_phases`` acquired phases."""

    grid: Grid
    phases: list[np.ndarray]
    breast_mask: np.ndarray
    lesion_mask: np.ndarray
    times: np.ndarray
    lesion_volume_mm3: float
    peak_enhancement: float


def make_case(rng: np.random.Generator, lesion: LesionSpec, *, n_phases: int, phases: Sequence[int] = (1,),
              style: Style = Style()) -> Case:
    """Draw geometry, anatomy, lesion(s) and scanner from ``rng`` and render the ``phases`` (0 = pre-contrast) of a
    DCE acquisition of ``n_phases`` phases.

    The lesion's peak enhancement is the largest mean relative enhancement over the acquired phases' times.
    """
    if not phases or min(phases) < 0 or max(phases) >= n_phases:
        raise ValueError(f"phases {list(phases)} are not phases of a {n_phases}-phase acquisition")
    if style.lesion_scale != 1.0:
        lesion = replace(lesion, diameter_mm=lesion.diameter_mm * style.lesion_scale)
    grid = draw_acquisition(rng, style.acquisition, style.duke_matrix)
    body = build_body(rng, grid, symmetric=style.symmetric, shoulders=style.acquisition != "duke")
    fgt = fibroglandular(rng, body, density=rng.uniform(0.1, 0.4))
    vessel = vessels(rng, body)
    lesion_mask, heterogeneity = plant_lesions(rng, body, fgt, lesion)
    if not style.bilateral:
        box = (slice(None), unilateral_columns(body, lesion_mask), slice(None))
        body, fgt, vessel, lesion_mask, heterogeneity = _crop(box, body, fgt, vessel, lesion_mask, heterogeneity)
    if style.fov in ("breast", "slab"):  # the breast field of view keeps every column: the slab's are the same
        rows, columns, slices = breast_field_of_view(rng, body)
        if style.fov == "slab":
            columns = slab_columns(rng, body, lesion_mask)
        box = (rows, columns, slices)
        body, fgt, vessel, lesion_mask, heterogeneity = _crop(box, body, fgt, vessel, lesion_mask, heterogeneity)
    times = phase_times(rng, n_phases)
    scanner = Scanner.draw(rng)
    images = render(rng, body, fgt, vessel, lesion_mask, heterogeneity, lesion.kinetics,
                    parenchymal_enhancement=rng.uniform(0.05, 0.35), times=times[list(phases)], scanner=scanner,
                    contrast=contrast_for(rng, style.contrast))
    return Case(grid=body.grid, phases=images, breast_mask=body.breast_mask.astype(np.uint8),
                lesion_mask=lesion_mask.astype(np.uint8), times=times,
                lesion_volume_mm3=float(lesion_mask.sum() * body.grid.voxel_volume),
                peak_enhancement=float(lesion.kinetics.enhancement(times).max()))


def _crop(box: tuple[slice, slice, slice], body: Body, *arrays: np.ndarray) -> tuple:
    return (body.crop(box), *(a[box] for a in arrays))


def breast_field_of_view(rng: np.random.Generator, body: Body) -> tuple[slice, slice, slice]:
    """A breast field of view: the breasts' bounding box widened by margins drawn from
    :data:`BREAST_FOV_POSTERIOR_MM` (behind the breast's base), :data:`BREAST_FOV_ANTERIOR_MM` (in front of the
    tip) and :data:`BREAST_FOV_HEAD_FOOT_MM` (above and below), within the grid; left-right unchanged. Most of
    the thorax is outside it, so the body is cut open at the posterior edge of the field of view."""
    rows, _, slices = body.breast_box()
    spacing = body.grid.spacing

    def voxels(mm_range, axis: int) -> int:
        return int(round(rng.uniform(*mm_range) / spacing[axis]))

    n0, _, n2 = body.grid.shape
    return (slice(max(0, rows.start - voxels(BREAST_FOV_POSTERIOR_MM, 0)),
                  min(n0, rows.stop + voxels(BREAST_FOV_ANTERIOR_MM, 0))),
            slice(None),
            slice(max(0, slices.start - voxels(BREAST_FOV_HEAD_FOOT_MM, 2)),
                  min(n2, slices.stop + voxels(BREAST_FOV_HEAD_FOOT_MM, 2))))


def slab_columns(rng: np.random.Generator, body: Body, lesion: np.ndarray) -> slice:
    """The columns (axis 1) of a slab narrower than the breast: its left-right extent less a share drawn from
    :data:`SLAB_CUT` of its width at each side, never cutting the lesion."""
    _, columns, _ = body.breast_box()
    width = columns.stop - columns.start
    lesion_columns = np.flatnonzero(lesion.any(axis=(0, 2)))
    start, stop = (int(round(rng.uniform(*SLAB_CUT) * width)) for _ in range(2))
    return slice(int(min(columns.start + start, lesion_columns.min())),
                 int(max(columns.stop - stop, lesion_columns.max() + 1)))


def unilateral_columns(body: Body, lesion: np.ndarray) -> slice:
    """The columns (axis 1) of a unilateral field of view: the breast holding the lesion out to its lateral
    edge of the grid, medially to half-way across the gap to the other breast (the rest of the chest is cut)."""
    kept = int(np.bincount(body.side[lesion]).argmax())
    columns = [np.flatnonzero((body.side == k).any(axis=(0, 2))) for k in (kept, 3 - kept)]
    lesion_columns = np.flatnonzero(lesion.any(axis=(0, 2)))
    if columns[0].mean() > columns[1].mean():
        return slice(int(min((columns[0].min() + columns[1].max() + 1) // 2, lesion_columns.min())), None)
    return slice(0, int(max((columns[0].max() + 1 + columns[1].min()) // 2, lesion_columns.max() + 1)))
