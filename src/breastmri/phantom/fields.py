"""Random fields for the phantom: smooth textures, multiplicative bias, Rician noise."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage


def smooth_field(rng: np.random.Generator, shape: Sequence[int], sigma: Sequence[float] | float) -> np.ndarray:
    """Zero-mean, unit-std Gaussian random field (float32) with correlation length ``sigma`` (voxels per axis).

    Large sigmas are synthesised on a coarser grid and interpolated up, so the cost stays near one pass
    over the output whatever the correlation length.
    """
    shape = tuple(int(s) for s in shape)
    sigma = np.broadcast_to(np.asarray(sigma, dtype=float), (len(shape),))
    factor = np.maximum(1, np.floor(sigma / 2.0)).astype(int)
    coarse = tuple(int(np.ceil(n / f)) + 1 for n, f in zip(shape, factor))
    field = ndimage.gaussian_filter(rng.standard_normal(coarse, dtype=np.float32), sigma / factor, mode="wrap")
    for axis, f in enumerate(factor):
        field = _upsample(field, axis, int(f), shape[axis])
    field -= field.mean()
    return (field / max(float(field.std()), 1e-6)).astype(np.float32)


def _upsample(array: np.ndarray, axis: int, factor: int, size: int) -> np.ndarray:
    """Linear interpolation by an integer ``factor`` along ``axis``, keeping the first ``size`` samples."""
    if factor == 1:
        return np.take(array, np.arange(size), axis=axis)
    position = np.arange(size, dtype=np.float32) / factor
    below = position.astype(int)
    weight = (position - below).reshape([-1 if a == axis else 1 for a in range(array.ndim)])
    return np.take(array, below, axis=axis) * (1 - weight) + np.take(array, below + 1, axis=axis) * weight


def bias_field(rng: np.random.Generator, shape: Sequence[int], amplitude: float) -> np.ndarray:
    """Smooth positive multiplicative field: exp of a random quadratic polynomial, log-amplitude ~``amplitude``."""
    axes = [np.linspace(-1.0, 1.0, n, dtype=np.float32) for n in shape]
    grids = np.meshgrid(*axes, indexing="ij", sparse=True)
    terms = [*grids, grids[0] * grids[1], grids[0] * grids[2], grids[1] * grids[2], *(g * g for g in grids)]
    coef = rng.normal(0.0, amplitude / np.sqrt(len(terms)), size=len(terms)).astype(np.float32)
    log_field = sum(c * t for c, t in zip(coef, terms))
    return np.exp(log_field - np.mean(log_field)).astype(np.float32)


def rician(rng: np.random.Generator, signal: np.ndarray, sigma: float) -> np.ndarray:
    """Magnitude of the complex signal ``signal + N(0, sigma) + i N(0, sigma)`` (float32)."""
    real = rng.standard_normal(signal.shape, dtype=np.float32)
    real *= np.float32(sigma)
    real += signal
    imag = rng.standard_normal(signal.shape, dtype=np.float32)
    imag *= np.float32(sigma)
    real *= real
    imag *= imag
    real += imag
    return np.sqrt(real, out=real)
