"""Aspect-preserving resize to a square with symmetric padding, and its exact geometric inverse.

Conventions (shared by training and inference):

* the longest side of an ``(h, w)`` slice becomes ``size``; the other side becomes
  ``round_half_up(side * size / max(h, w))`` (at least 1), computed in integer arithmetic;
* sides are measured in mm, not pixels: a slice whose pixels are ``pixel_aspect`` times as wide as high (a
  sagittal acquisition seen in axial slices: 0.7 mm anterior-posterior, 2 mm left-right) keeps its anatomical
  proportions, ``w`` counting as ``w * pixel_aspect``; square pixels (``pixel_aspect`` within
  :data:`SQUARE_TOLERANCE` of 1) take the integer rule above;
* the resized slice is centred: ``pad_top = (size - new_h) // 2``, ``pad_left = (size - new_w) // 2``;
* resampling uses :func:`scipy.ndimage.zoom` with ``grid_mode=True`` (pixel *centres* are aligned, the
  image edges map onto each other) and ``mode="nearest"`` at the borders; ``order=1`` (linear) for
  images, ``order=0`` (nearest neighbour) for masks.

What round-trips (``undo_resize_pad(resize_pad(x))``), verified by ``tests/slices/test_geometry.py``:

* the geometry: the undo always returns exactly the original ``(h, w)``, for every shape;
* padding: cropping ``[pad_top:pad_top+new_h, pad_left:pad_left+new_w]`` returns the resized slice exactly;
* masks (``order=0``) are recovered *exactly*, pixel for pixel, whenever ``size >= max(h, w)``
  (an upsampling or identity), for every real scale factor, not only integer ones: with centre-aligned
  nearest neighbour every original pixel owns a run of >= 1 resized pixels, and the undo samples the
  resized pixel nearest to that run's centre, which is always inside the run;
* when ``size < max(h, w)`` (a downsampling), information is lost; each recovered pixel then takes the
  value of an original pixel at most ``ceil(r / 2)`` pixels away along each axis, ``r = side / new_side``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

GEOMETRY_FIELDS = ("orig_h", "orig_w", "new_h", "new_w", "pad_top", "pad_left")
SQUARE_TOLERANCE = 1e-3  # pixel aspects closer to 1 are square (float32 affines, oblique column norms)


def pixel_aspect(spacing) -> float:
    """Width of an axial-slice pixel over its height: working-frame ``spacing[1] / spacing[0]`` (1 if None)."""
    return 1.0 if spacing is None else float(spacing[1]) / float(spacing[0])


@dataclass(frozen=True)
class SliceGeometry:
    """Where an ``(orig_h, orig_w)`` slice lies inside its ``size x size`` square."""

    orig_h: int
    orig_w: int
    new_h: int
    new_w: int
    pad_top: int
    pad_left: int
    size: int

    @classmethod
    def for_shape(cls, orig_h: int, orig_w: int, size: int, pixel_aspect: float = 1.0) -> SliceGeometry:
        """The geometry of an ``(orig_h, orig_w)`` slice resized so its longest side in mm is ``size`` pixels;
        ``pixel_aspect``: a pixel's width over its height."""
        orig_h, orig_w, size = int(orig_h), int(orig_w), int(size)
        if orig_h < 1 or orig_w < 1:
            raise ValueError(f"slice shape must be positive, got ({orig_h}, {orig_w})")
        if size < 1:
            raise ValueError(f"size must be positive, got {size}")
        if not np.isfinite(pixel_aspect) or pixel_aspect <= 0:
            raise ValueError(f"pixel aspect must be a positive number, got {pixel_aspect}")
        if abs(pixel_aspect - 1.0) <= SQUARE_TOLERANCE:
            longest = max(orig_h, orig_w)
            # round half up of side * size / longest, exactly, in integers
            new_h = max(1, (2 * orig_h * size + longest) // (2 * longest))
            new_w = max(1, (2 * orig_w * size + longest) // (2 * longest))
        else:
            width = orig_w * float(pixel_aspect)
            longest = max(orig_h, width)
            new_h = min(size, max(1, int(np.floor(orig_h * size / longest + 0.5))))
            new_w = min(size, max(1, int(np.floor(width * size / longest + 0.5))))
        return cls(orig_h, orig_w, new_h, new_w, (size - new_h) // 2, (size - new_w) // 2, size)

    def as_row(self) -> np.ndarray:
        """The six stored numbers (HDF5 ``/geometry`` row): orig_h, orig_w, new_h, new_w, pad_top, pad_left."""
        return np.array([getattr(self, f) for f in GEOMETRY_FIELDS], dtype=np.int32)

    @classmethod
    def from_row(cls, row, size: int) -> SliceGeometry:
        values = [int(v) for v in np.asarray(row).ravel()]
        if len(values) != len(GEOMETRY_FIELDS):
            raise ValueError(f"a geometry row has {len(GEOMETRY_FIELDS)} numbers, got {len(values)}")
        return cls(*values, size=int(size))

    @property
    def window(self) -> tuple[slice, slice]:
        """Index of the resized (unpadded) slice inside the square."""
        return (slice(self.pad_top, self.pad_top + self.new_h), slice(self.pad_left, self.pad_left + self.new_w))


def resize2d(image: np.ndarray, shape: tuple[int, int], order: int) -> np.ndarray:
    """Resize a 2D array to exactly ``shape`` with centre-aligned spline interpolation of ``order``."""
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"expected a 2D slice, got shape {image.shape}")
    shape = (int(shape[0]), int(shape[1]))
    if image.shape == shape:
        return image.copy()
    factors = (shape[0] / image.shape[0], shape[1] / image.shape[1])
    out = ndimage.zoom(image, factors, order=order, mode="nearest", grid_mode=True, prefilter=False)
    if out.shape != shape:  # scipy rounds h * (n / h); guard against a floating-point surprise
        raise AssertionError(f"zoom produced {out.shape}, expected {shape}")
    return out


def resize_pad(image2d: np.ndarray, size: int, order: int = 1, pad_value: float = 0.0,
               pixel_aspect: float = 1.0) -> tuple[np.ndarray, SliceGeometry]:
    """Resize so the longest side is ``size`` (aspect kept, in mm: ``pixel_aspect`` is a pixel's width over
    its height), pad symmetrically to ``size x size``.

    ``order=1`` for images, ``order=0`` for masks. The padding is ``pad_value`` (0 by default; the
    slice producers pass the normalised background value for images). The dtype is kept.
    """
    image2d = np.asarray(image2d)
    if image2d.ndim != 2:
        raise ValueError(f"expected a 2D slice, got shape {image2d.shape}")
    geometry = SliceGeometry.for_shape(image2d.shape[0], image2d.shape[1], size, pixel_aspect)
    out = np.full((geometry.size, geometry.size), pad_value, dtype=image2d.dtype)
    out[geometry.window] = resize2d(image2d, (geometry.new_h, geometry.new_w), order)
    return out, geometry


def prepare_mask(mask: np.ndarray, size: int, pixel_aspect: float = 1.0) -> np.ndarray:
    """Every axial slice of a binary mask resized with nearest neighbour and padded: uint8 ``(K, 1, S, S)``."""
    mask = (np.asarray(mask) > 0).astype(np.uint8)
    depth = mask.shape[2]
    out = np.empty((depth, 1, size, size), dtype=np.uint8)
    for k in range(depth):
        out[k, 0], _ = resize_pad(mask[:, :, k], size, order=0, pixel_aspect=pixel_aspect)
    return out


def undo_resize_pad(square2d: np.ndarray, geometry: SliceGeometry, order: int = 1) -> np.ndarray:
    """Crop the padding and resize back to the original ``(orig_h, orig_w)``.

    Use ``order=0`` for masks (probability maps may use ``order=1`` and be thresholded afterwards).
    """
    square2d = np.asarray(square2d)
    if square2d.shape != (geometry.size, geometry.size):
        raise ValueError(f"expected a {geometry.size}x{geometry.size} slice, got {square2d.shape}")
    return resize2d(square2d[geometry.window], (geometry.orig_h, geometry.orig_w), order)
