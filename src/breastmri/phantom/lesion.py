"""Enhancing lesions: lobulated blobs (a thresholded smooth field around a rotated ellipsoid) in a breast."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

from breastmri.phantom.body import Body
from breastmri.phantom.fields import smooth_field
from breastmri.phantom.kinetics import LesionKinetics


@dataclass(frozen=True)
class LesionSpec:
    """What to plant: equivalent diameter of the main lesion (mm), border irregularity (0.1-0.5), rim
    enhancement, an optional smaller satellite, and the contrast kinetics."""

    diameter_mm: float
    irregularity: float
    rim: bool
    satellite: bool
    kinetics: LesionKinetics


def _blob(rng: np.random.Generator, body: Body, centre_mm: np.ndarray, diameter_mm: float,
          irregularity: float, rim: bool) -> tuple[tuple[slice, ...], np.ndarray, np.ndarray]:
    """(crop slices, mask, heterogeneity) of one lobulated blob centred at ``centre_mm``."""
    spacing = np.asarray(body.grid.spacing)
    radii = diameter_mm / 2 * np.exp(rng.normal(0.0, 0.15, 3))
    radii *= (diameter_mm / 2) / np.cbrt(np.prod(radii))  # keep the equivalent diameter
    half = np.ceil(1.7 * radii.max() / spacing).astype(int) + 2
    centre = np.floor(centre_mm / spacing).astype(int)
    lo = np.maximum(centre - half, 0)
    hi = np.minimum(centre + half + 1, body.grid.shape)
    crop = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    offsets = np.meshgrid(*[(np.arange(a, b) + 0.5) * s - c for a, b, s, c in zip(lo, hi, spacing, centre_mm)],
                          indexing="ij")
    rotation = Rotation.from_quat(rng.standard_normal(4)).as_matrix()  # uniform random rotation
    local = [sum(rotation[i, j] * offsets[j] for j in range(3)) / radii[i] for i in range(3)]
    ellipse = np.sqrt(sum(q * q for q in local))
    shape = tuple(b - a for a, b in zip(lo, hi))
    lobes = smooth_field(rng, shape, 0.3 * (diameter_mm / 2) / spacing)
    mask = ndimage.binary_fill_holes((ellipse + irregularity * lobes < 1.0) | (ellipse < 0.5))  # solid core
    heterogeneity = 1.0 + 0.12 * smooth_field(rng, shape, 1.5)
    if rim:
        heterogeneity *= 0.55 + 0.45 * np.clip(ellipse, 0.0, 1.0)
    return crop, mask, heterogeneity


def plant_lesions(rng: np.random.Generator, body: Body, fibroglandular: np.ndarray,
                  spec: LesionSpec) -> tuple[np.ndarray, np.ndarray]:
    """(mask bool, heterogeneity float32 with mean 1 inside the mask) of the lesion(s) of one case.

    The main lesion sits in the inner part of a random breast, preferably in fibroglandular tissue; the
    satellite (if any) lies next to it in the same breast. Lesions never reach the skin.
    """
    grid = body.grid
    spacing = np.asarray(grid.spacing)
    side = int(rng.integers(1, len(body.breasts) + 1))
    here = body.side == side
    allowed = here & (body.radius < 0.5) & (body.depth > 0.2) & (body.depth < 0.7)
    if not allowed.any():
        allowed = here & (body.radius < 0.8)
    candidates = np.flatnonzero(allowed)
    weights = 0.2 + fibroglandular.ravel()[candidates]
    centre = (np.asarray(np.unravel_index(rng.choice(candidates, p=weights / weights.sum()), grid.shape))
              + 0.5) * spacing
    blobs = [(centre, spec.diameter_mm, spec.rim)]
    if spec.satellite:
        size = spec.diameter_mm * rng.uniform(0.35, 0.5)
        direction = rng.standard_normal(3)
        offset = direction / np.linalg.norm(direction) * (spec.diameter_mm / 2 + size / 2 + rng.uniform(5.0, 12.0))
        blobs.append((centre + offset, size, False))
    mask = np.zeros(grid.shape, bool)
    heterogeneity = np.ones(grid.shape, np.float32)
    for point, diameter, rim in blobs:
        voxel = tuple(np.clip((point / spacing).astype(int), 0, np.asarray(grid.shape) - 1))
        if body.side[voxel] != side or body.radius[voxel] > 0.8:
            continue
        crop, blob, het = _blob(rng, body, point, diameter, spec.irregularity, rim)
        mask[crop] |= blob
        heterogeneity[crop] = np.where(blob, het, heterogeneity[crop])
    mask &= here & (body.radius < 0.92)
    labelled, count = ndimage.label(mask)
    if count > 1:  # keep the main lesion and, if present, the satellite: the two largest pieces
        sizes = ndimage.sum_labels(mask, labelled, range(1, count + 1))
        keep = np.argsort(sizes)[::-1][: len(blobs)] + 1
        mask = np.isin(labelled, keep)
    heterogeneity /= heterogeneity[mask].mean()
    return mask, np.where(mask, heterogeneity, 1.0).astype(np.float32)
