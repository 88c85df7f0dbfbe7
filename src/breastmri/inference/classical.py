"""A weight-free whole-breast baseline: body from an air threshold, a chest-wall boundary, morphology.

No public pretrained breast-MRI model installs offline, so this is the honest floor a learned model must beat.
It works on a scan in the working frame (:mod:`breastmri.orientation.frame`: axis 0 posterior -> anterior,
axis 1 right -> left, axis 2 inferior -> superior) and uses only the body outline, which every contrast shows:

1. body: the orientation stage's air threshold and filled outline (:func:`~breastmri.orientation.heuristics.body_mask`);
2. chest wall, per axial slice: the concavities of the body outline (convex hull minus body) anterior of the
   body's centre are the cleft between the breasts and, on each side, the fold where a breast meets the thorax.
   Their deepest points, joined from side to side (and held flat beyond the outermost), form the boundary; a slice
   without an anterior concavity shows no breast;
3. breast: body anterior of that plane, opened with a ball of ``opening_mm`` (strips of skin and arm go), its large
   3D components kept.

It assumes an axial view of both breasts (no cleft otherwise).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from breastmri.inference.postprocess import DEFAULT_MIN_FRACTION, keep_large_components, mm_ball
from breastmri.orientation.heuristics import convex_hull, body_mask
from breastmri.orientation.orient import HeuristicSettings


def wall_profile(plane: np.ndarray) -> np.ndarray | None:
    """Chest-wall row per column of one axial body outline (module docstring, step 2); ``None`` when the outline
    has no anterior concavity (no breast protrudes)."""
    rows = np.nonzero(plane)[0]
    if rows.size < 3:
        return None
    labels, n = ndimage.label(convex_hull(plane) & ~plane)
    points = []
    for index in range(1, n + 1):
        r, c = np.nonzero(labels == index)
        if r.mean() > rows.mean() and r.size >= 4:
            points.append((float(np.mean(c[r == r.min()])), float(r.min())))
    if not points:
        return None
    points.sort()
    return np.interp(np.arange(plane.shape[1]), [p[0] for p in points], [p[1] for p in points])


def classical_breast_mask(oriented: np.ndarray, spacing, settings: HeuristicSettings | None = None,
                          wall_offset_mm: float = 0.0, opening_mm: float = 2.0,
                          min_component_fraction: float = DEFAULT_MIN_FRACTION) -> np.ndarray:
    """The baseline breast mask (``uint8``) of a working-frame scan (module docstring)."""
    settings = settings or HeuristicSettings()
    body, _ = body_mask(oriented, settings.noise_factor, settings.floor_fraction)
    rows = np.arange(body.shape[0])[:, None]
    breast = np.zeros_like(body)
    offset = wall_offset_mm / float(spacing[0])
    for k in range(body.shape[2]):
        wall = wall_profile(body[:, :, k])
        if wall is not None:
            breast[:, :, k] = body[:, :, k] & (rows > wall[None, :] - offset)
    if opening_mm > 0:
        breast = ndimage.binary_opening(breast, structure=mm_ball(spacing, opening_mm))
    return keep_large_components(breast, min_component_fraction)
