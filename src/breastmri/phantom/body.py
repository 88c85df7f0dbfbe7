"""Tissue layout of the canonical case: thorax, upper abdomen, shoulders (when in the field of view) and two
breasts, asymmetric or (nearly) symmetric.

Canonical frame = the working frame (docs/orientation.md): axis 0 runs posterior -> anterior (breasts at high
index), axis 1 from the patient's right to the left (the heart at +x), axis 2 runs inferior -> superior.
Every structure is an implicit shape in mm coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from breastmri.phantom.fields import smooth_field
from breastmri.phantom.geometry import Grid

AIR, SKIN, FAT, MUSCLE, LUNG, BLOOD, MYOCARDIUM, BONE, MARROW, CSF, LIVER, BREAST = range(12)
N_LABELS = 12
SKIN_MM = 2.5
THORAX_POWER = 2.4  # super-ellipse exponent of the thorax cross-section (boxier than an ellipse)


@dataclass(frozen=True)
class BreastShape:
    """One breast: base centre (x, z) on the chest wall, depth (AP), radii (LR, SI), AP profile power."""

    x: float
    z: float
    depth: float
    rx: float
    rz: float
    power: float


@dataclass
class Body:
    """Label volume plus the breast coordinates needed to place parenchyma, vessels and lesions.

    ``radius``: normalised breast radius (< 1 inside a breast, inf elsewhere); ``depth``: 0 at the chest
    wall, about 1 at the nipple; ``side``: 0 outside the breasts, else 1 + index into ``breasts``.
    """

    grid: Grid
    labels: np.ndarray
    radius: np.ndarray
    depth: np.ndarray
    side: np.ndarray
    breasts: tuple[BreastShape, BreastShape]
    chest_wall_y: float

    @property
    def breast_mask(self) -> np.ndarray:
        return self.side > 0

    def breast_box(self) -> tuple[slice, slice, slice]:
        """Bounding box of both breasts (slices into the volume)."""
        return ndimage.find_objects((self.side > 0).astype(np.int8))[0]

    def crop(self, box: tuple[slice, slice, slice]) -> "Body":
        """The body within ``box`` (one slice per axis: a smaller field of view); the breast centres and the
        chest wall follow, so the coil and every later step see the same anatomy in the new grid."""
        starts = [s.indices(n)[0] for s, n in zip(box, self.grid.shape)]
        labels = self.labels[box]
        grid = Grid(labels.shape, self.grid.spacing)
        dy, dx, dz = (start * step for start, step in zip(starts, self.grid.spacing))
        breasts = tuple(replace(b, x=b.x - dx, z=b.z - dz) for b in self.breasts)
        return Body(grid, labels, self.radius[box], self.depth[box], self.side[box], breasts, self.chest_wall_y - dy)


def _put(labels: np.ndarray, where: np.ndarray, label: int) -> None:
    labels[np.broadcast_to(where, labels.shape)] = label


def _superellipse(y, x, yc, xc, a, b, power=THORAX_POWER):
    return (np.abs(y - yc) / a) ** power + (np.abs(x - xc) / b) ** power


def _ellipsoid(coords, centre, radii):
    return sum(((c - c0) / r) ** 2 for c, c0, r in zip(coords, centre, radii))


def _segment_distance(coords, start, stop):
    """Euclidean distance (mm) of every voxel to the 3D segment start-stop."""
    start, stop = np.asarray(start, np.float32), np.asarray(stop, np.float32)
    axis = stop - start
    t = sum((c - s) * a for c, s, a in zip(coords, start, axis)) / float(axis @ axis)
    t = np.clip(t, 0.0, 1.0)
    return np.sqrt(sum((c - s - t * a) ** 2 for c, s, a in zip(coords, start, axis)))


def build_body(rng: np.random.Generator, grid: Grid, symmetric: bool = False, shoulders: bool = True) -> Body:
    """Draw one body in ``grid``: patient-specific sizes, fat thickness, breast sizes and asymmetry
    (``symmetric``: breasts of nearly equal size); ``shoulders``: the shoulder girdle lies in the superior
    slices (a field of view that ends below the shoulders has none).

    The field of view is centred on the breasts, as in breast MRI: the nipples lie just inside the
    anterior edge and the posterior thorax is cut off by the posterior edge in most cases.
    """
    y, x, z = grid.coords()
    fov_ap, fov_lr, height = grid.extent
    labels = np.zeros(grid.shape, np.uint8)
    half_width = min(rng.uniform(0.40, 0.45) * fov_lr, fov_lr / 2 - 4)
    big = BreastShape(  # the larger breast; its left-right position is set per side in _breasts
        x=0.0, z=rng.uniform(0.40, 0.47) * height, depth=rng.uniform(80.0, 115.0),
        rx=rng.uniform(0.40, 0.46) * half_width, rz=rng.uniform(0.28, 0.34) * height, power=rng.uniform(1.2, 1.8))
    thorax = _Thorax(xc=fov_lr / 2 + rng.uniform(-0.03, 0.03) * fov_lr, half_width=half_width,
                     a=rng.uniform(90.0, 105.0), fat=rng.uniform(5.0, 16.0),
                     chest_wall=fov_ap - rng.uniform(6.0, 14.0) - big.depth)
    thorax.draw(rng, labels, (y, x, z), height)
    if shoulders:
        top = slice(int(0.6 * grid.shape[2]), None)  # the shoulder girdle lies in the superior 40 %
        _shoulders(labels[..., top], thorax, (y, x, z[..., top]), height)
    radius, depth, side, breasts = _breasts(rng, grid, thorax, big, (y, x, z), symmetric)
    in_breast = side > 0
    _put(labels, in_breast, BREAST)
    _put(labels, in_breast & (radius > 1 - SKIN_MM / min(b.depth for b in breasts)), SKIN)
    return Body(grid, labels, radius, depth, side, breasts, thorax.chest_wall)


@dataclass(frozen=True)
class _Thorax:
    """Super-elliptic thorax: skin, subcutaneous fat, a muscle wall (thicker posteriorly), the cavity."""

    xc: float
    half_width: float
    a: float           # AP half-depth to the skin
    fat: float         # subcutaneous fat thickness (mm)
    chest_wall: float  # y of the anterior muscle surface at the midline

    @property
    def muscle(self) -> tuple[float, float]:
        return self.a - SKIN_MM - self.fat, self.half_width - SKIN_MM - self.fat

    @property
    def yc(self) -> float:
        return self.chest_wall - self.muscle[0]

    def wall_y(self, x: np.ndarray) -> np.ndarray:
        """y of the anterior muscle surface at each x (the chest wall the breasts sit on)."""
        a_m, b_m = self.muscle
        return self.yc + a_m * np.clip(1 - (np.abs(x - self.xc) / b_m) ** THORAX_POWER, 0, 1) ** (1 / THORAX_POWER)

    def draw(self, rng: np.random.Generator, labels: np.ndarray, coords, height: float) -> None:
        y, x, z = coords
        f = z / height
        yc, xc, (a_m, b_m) = self.yc, self.xc, self.muscle
        b = self.half_width * (1 + 0.08 * np.clip((f - 0.75) / 0.25, 0.0, 1.0))  # wider towards the shoulders
        widen = b - self.half_width
        _put(labels, _superellipse(y, x, yc, xc, self.a, b) <= 1, SKIN)
        _put(labels, _superellipse(y, x, yc, xc, self.a - SKIN_MM, b - SKIN_MM) <= 1, FAT)
        _put(labels, _superellipse(y, x, yc, xc, a_m, b_m + widen) <= 1, MUSCLE)
        ycav, a_cav, b_cav = yc + 9.0, a_m - 21.0, b_m - 14.0
        shell = _superellipse(y, x, ycav, xc, a_cav, b_cav + widen)
        cavity = shell <= 1
        _put(labels, cavity, LUNG)
        # ribs: oblique bands of the inner chest wall, descending anteriorly
        period = rng.uniform(22.0, 28.0)
        rib = (shell > 1) & (shell < 1.15) & (np.mod(z + 0.35 * (y - ycav), period) < 0.35 * period)
        _put(labels, rib & (labels == MUSCLE), BONE)
        _put(labels, cavity & (rng.random(labels.shape, dtype=np.float32) < 0.004), BLOOD)  # pulmonary vessels
        spine_y = ycav - a_cav + 12.0
        heart_centre = (ycav + 0.25 * a_cav, xc + 0.12 * b_cav)
        mediastinum = (_ellipsoid((y, x), heart_centre, (0.62 * a_cav, 0.48 * b_cav)) <= 1) | (np.abs(x - xc) < 16.0)
        _put(labels, cavity & mediastinum & (y > spine_y), FAT)
        heart = _ellipsoid((y, x, f), (*heart_centre, 0.36), (0.52 * a_cav, 0.40 * b_cav, 0.2))
        _put(labels, heart <= 1, MYOCARDIUM)
        _put(labels, heart <= 0.7, BLOOD)
        _put(labels, (_ellipsoid((y, x), (spine_y + 14.0, xc + 24.0), (11.0, 11.0)) <= 1) & (f < 0.8), BLOOD)
        _put(labels, _ellipsoid((y, x), (spine_y, xc), (15.0, 17.0)) <= 1, BONE)
        _put(labels, _ellipsoid((y, x), (spine_y - 40.0, xc), (12.0, 5.0)) <= 1, BONE)
        _put(labels, _ellipsoid((y, x), (spine_y - 24.0, xc), (7.0, 7.0)) <= 1, CSF)
        sternum = (_ellipsoid((y, x), (ycav + a_cav + 6.0, xc), (6.0, 13.0)) <= 1) & (f > 0.25)
        _put(labels, sternum, BONE)
        dome = rng.uniform(0.13, 0.19) + 0.07 * (xc - x) / b_cav  # diaphragm, higher on the liver side
        _put(labels, cavity & (f < dome), LIVER)


def _shoulders(labels: np.ndarray, thorax: _Thorax, coords, height: float) -> None:
    """Humeral heads, clavicles and scapulae in the superior slices (the bright osseous structures that make
    superior slices brighter than inferior ones). Prone with the shoulders rolled forwards, the humeral
    heads and clavicles lie just behind the level of the chest wall."""
    y, x, z = coords
    xc, b, front = thorax.xc, thorax.half_width * 1.08, thorax.chest_wall
    for sign in (-1.0, 1.0):
        humerus = _ellipsoid(coords, (front - 40.0, xc + sign * (b - 16.0), 0.97 * height), (27.0, 25.0, 30.0))
        scapula = _ellipsoid(coords, (thorax.yc - 0.7 * thorax.a, xc + sign * 0.5 * b, 0.88 * height),
                             (9.0, 0.24 * b, 0.2 * height))
        clavicle = _segment_distance(coords, (front - 8.0, xc + sign * 18.0, 0.9 * height),
                                     (front - 35.0, xc + sign * (b - 30.0), 0.93 * height))
        _put(labels, (humerus <= 1) | (scapula <= 1) | (clavicle <= 4.5), MARROW)


def _breasts(rng, grid: Grid, thorax: _Thorax, big: BreastShape, coords, symmetric: bool):
    """Two breasts on the chest wall with a wobbly outline, the smaller one 12-25 % smaller per axis; or
    (``symmetric``) 0-2 % smaller, placed and outlined as the mirror image of the other."""
    y, x, z = coords
    scale = rng.uniform(0.98, 1.0) if symmetric else rng.uniform(0.75, 0.88)
    breasts = []
    sides = rng.permutation([1.0, -1.0])
    placements = [(rng.uniform(6.0, 16.0), rng.uniform(-8.0, 8.0)) for _ in sides]  # medial gap, height offset
    if symmetric:
        placements[1] = placements[0]
    for sign, s, (gap, offset) in zip(sides, (1.0, scale), placements):
        rx = big.rx * s
        bx = thorax.xc + sign * (rx + gap)
        base = float(thorax.wall_y(np.float32(bx)))
        depth = min(big.depth * s, grid.extent[0] - 6.0 - base)
        breasts.append(BreastShape(bx, big.z + offset, depth, rx, big.rz * s, big.power))
    reach = 1.4  # the wobble can push the outline out by at most this factor
    lo = (float(np.min(thorax.wall_y(x))), min(b.x - reach * b.rx for b in breasts),
          min(b.z - reach * b.rz for b in breasts))
    hi = (grid.extent[0], max(b.x + reach * b.rx for b in breasts), max(b.z + reach * b.rz for b in breasts))
    box = tuple(slice(max(0, int(a // s)), min(n, int(b // s) + 1))
                for a, b, s, n in zip(lo, hi, grid.spacing, grid.shape))
    y, x, z = y[box[0]], x[:, box[1]], z[..., box[2]]
    shape = (y.shape[0], x.shape[1], z.shape[2])
    field = smooth_field(rng, shape, [15.0 / s for s in grid.spacing])
    if symmetric:  # mirror-image outlines
        field = _mirrored(field, np.arange(grid.shape[1])[box[1]], thorax.xc / grid.spacing[1])
    wobble = 1.0 + 0.08 * np.clip(field, -4.0, 4.0)
    wall = thorax.wall_y(x)
    radius = np.full(grid.shape, np.inf, np.float32)
    depth = np.zeros(grid.shape, np.float32)
    side = np.zeros(grid.shape, np.int8)
    r_box, d_box, s_box = radius[box], depth[box], side[box]
    for index, shape_ in enumerate(breasts, start=1):
        u = np.broadcast_to((y - wall) / shape_.depth, shape)
        u = np.where(y < thorax.wall_y(np.float32(shape_.x)) - 20.0, -1.0, u)  # not round the side of the chest
        r = np.sqrt(np.clip(u, 0.0, None) ** shape_.power + ((x - shape_.x) / shape_.rx) ** 2
                    + ((z - shape_.z) / shape_.rz) ** 2) / wobble
        inside = (u >= 0) & (r <= 1) & (r < r_box)
        labelled, count = ndimage.label(inside)
        if count > 1:  # the wobble can cut islands off the outline: keep the breast itself
            inside = labelled == 1 + np.argmax(ndimage.sum_labels(inside, labelled, range(1, count + 1)))
        r_box[inside], d_box[inside], s_box[inside] = r[inside], u[inside], index
    return radius, depth, side, tuple(breasts)


def _mirrored(field: np.ndarray, columns: np.ndarray, midline: float) -> np.ndarray:
    """``field`` (on grid ``columns`` of axis 1) made mirror-symmetric about the column position ``midline``,
    keeping its standard deviation where the two sides are independent."""
    mirror = np.clip(np.rint(2 * midline - 1 - columns).astype(int) - columns[0], 0, len(columns) - 1)
    return (field + field[:, mirror]) / np.float32(np.sqrt(2))
