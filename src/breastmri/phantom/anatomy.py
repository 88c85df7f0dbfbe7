"""One canonical phantom case: DCE phases, whole-breast mask and lesion mask in the canonical frame."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from breastmri.data.layouts import MAX_PHASES
from breastmri.phantom.body import build_body
from breastmri.phantom.geometry import Grid, draw_grid
from breastmri.phantom.kinetics import phase_times
from breastmri.phantom.lesion import LesionSpec, plant_lesions
from breastmri.phantom.parenchyma import fibroglandular, vessels
from breastmri.phantom.render import Scanner, render


@dataclass(frozen=True, eq=False)
class Case:
    """A rendered case. ``phases`` holds the requested phases (float32) in the requested order; masks are
    ``uint8``; ``times`` are the acquisition times (s) of all ``MAX_PHASES`` nominal phases."""

    grid: Grid
    phases: list[np.ndarray]
    breast_mask: np.ndarray
    lesion_mask: np.ndarray
    times: np.ndarray
    lesion_volume_mm3: float
    peak_enhancement: float


def make_case(rng: np.random.Generator, lesion: LesionSpec, phases: Sequence[int] = (1,)) -> Case:
    """Draw geometry, anatomy, lesion(s) and scanner from ``rng`` and render the ``phases`` (0 = pre-contrast).

    The lesion's peak enhancement is the largest mean relative enhancement over the nominal phase times.
    """
    grid = draw_grid(rng)
    body = build_body(rng, grid)
    fgt = fibroglandular(rng, body, density=rng.uniform(0.1, 0.4))
    vessel = vessels(rng, body)
    lesion_mask, heterogeneity = plant_lesions(rng, body, fgt, lesion)
    times = phase_times(rng, MAX_PHASES)
    scanner = Scanner.draw(rng)
    images = render(rng, body, fgt, vessel, lesion_mask, heterogeneity, lesion.kinetics,
                    parenchymal_enhancement=rng.uniform(0.05, 0.35), times=times[list(phases)], scanner=scanner)
    return Case(grid=grid, phases=images, breast_mask=body.breast_mask.astype(np.uint8),
                lesion_mask=lesion_mask.astype(np.uint8), times=times,
                lesion_volume_mm3=float(lesion_mask.sum() * grid.voxel_volume),
                peak_enhancement=float(lesion.kinetics.enhancement(times).max()))
