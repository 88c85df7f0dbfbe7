"""Breast content: fibroglandular tissue (a thresholded smooth field) and thin vessels (random walks)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from breastmri.phantom.body import Body
from breastmri.phantom.fields import smooth_field


def fibroglandular(rng: np.random.Generator, body: Body, density: float) -> np.ndarray:
    """Fraction (0..1, float32) of fibroglandular tissue per voxel; ``density`` is the share of the breast
    interior it fills. Strands are elongated along the chest-wall-to-nipple axis and denser centrally,
    with retroglandular and subcutaneous fat left free."""
    sp, box = body.grid.spacing, body.breast_box()
    shape = tuple(b.stop - b.start for b in box)
    fine = smooth_field(rng, shape, (4.5 / sp[0], 2.0 / sp[1], 2.5 / sp[2]))
    coarse = smooth_field(rng, shape, [12.0 / s for s in sp])
    radius, depth = body.radius[box], body.depth[box]
    interior = body.breast_mask[box] & (radius < 0.86) & (depth > 0.08)
    score = fine + 0.7 * coarse + 2.5 * (1.0 - np.minimum(radius, 1.0))
    threshold = np.quantile(score[interior], 1.0 - density) if interior.any() else np.inf
    fraction = np.zeros(body.grid.shape, np.float32)
    fraction[box] = np.where(interior, np.clip((score - threshold) / 0.8 + 0.5, 0.0, 1.0), 0.0)
    return fraction


def vessels(rng: np.random.Generator, body: Body, per_breast: tuple[int, int] = (3, 7),
            step_mm: float = 1.0, max_steps: int = 400) -> np.ndarray:
    """Partial-volume fraction (float32) of thin vessels: random walks from the chest wall towards the
    nipple, all vessels of a case stepped together."""
    grid = body.grid
    spacing = np.asarray(grid.spacing)
    starts, nipples = [], []
    for index in range(1, len(body.breasts) + 1):
        here = body.side == index
        candidates = np.flatnonzero(here & (body.depth < 0.12) & (body.radius < 0.8))
        if candidates.size == 0:
            continue
        chosen = rng.choice(candidates, size=int(rng.integers(*per_breast, endpoint=True)))
        starts.append((np.stack(np.unravel_index(chosen, grid.shape), axis=1) + 0.5) * spacing)
        nipple = np.unravel_index(np.argmax(np.where(here, body.depth, -1.0)), grid.shape)
        nipples.append(np.repeat([(np.asarray(nipple) + 0.5) * spacing], len(chosen), axis=0))
    occupancy = np.zeros(grid.shape, np.float32)
    if not starts:
        return occupancy
    point, nipple = np.concatenate(starts), np.concatenate(nipples)
    direction = _unit(nipple - point)
    alive = np.ones(len(point), bool)
    upper = np.asarray(grid.shape) - 1
    for _ in range(max_steps):
        voxel = np.clip((point / spacing).astype(int), 0, upper)
        alive &= body.radius[tuple(voxel.T)] <= 0.93
        if not alive.any():
            break
        occupancy[tuple(voxel[alive].T)] = 1.0
        pull = (nipple - point) / np.maximum(np.linalg.norm(nipple - point, axis=1, keepdims=True), 1.0)
        direction = _unit(direction + 0.35 * rng.standard_normal(point.shape) + 0.12 * pull)
        point = point + step_mm * direction
    box = body.breast_box()
    occupancy[box] = np.clip(1.4 * ndimage.gaussian_filter(occupancy[box], (0.5, 0.5, 0.35)), 0.0, 0.4)
    return occupancy


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
