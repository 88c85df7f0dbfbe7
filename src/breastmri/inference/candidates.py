"""Tumour candidate: the largest 3D component of the brightest voxels inside the breast mask."""

from __future__ import annotations

import numpy as np

from breastmri.inference.postprocess import bounding_box, is_whole, largest_component


def tumor_candidate(image: np.ndarray, breast_mask: np.ndarray, percentile: float = 98.0,
                    connectivity: int = 1) -> np.ndarray:
    """Voxels inside ``breast_mask`` brighter than the ``percentile``-th intensity percentile of the
    breast (strictly above it), 3D connected components (scipy.ndimage), the largest kept (``uint8``).

    An empty breast mask, or a breast with no voxel above the threshold (constant image), gives an empty
    candidate. Computed on the breast mask's bounding box (the same voxels, in the same order).
    """
    image = np.asarray(image, dtype=np.float32)
    breast = np.asarray(breast_mask) > 0
    if image.shape != breast.shape:
        raise ValueError(f"image {image.shape} and breast mask {breast.shape} differ in shape")
    if not 0.0 <= percentile < 100.0:
        raise ValueError(f"percentile must be in [0, 100), got {percentile}")
    box = bounding_box(breast)
    if box is None:
        return np.zeros(image.shape, np.uint8)
    if is_whole(box, image.shape):
        box = (slice(None),) * image.ndim
    cropped, inside = image[box], breast[box]
    threshold = np.percentile(cropped[inside], percentile, overwrite_input=True)  # partitions its own copy
    candidate = largest_component(inside & (cropped > threshold), connectivity)
    if candidate.shape == image.shape:
        return candidate
    out = np.zeros(image.shape, np.uint8)
    out[box] = candidate
    return out
