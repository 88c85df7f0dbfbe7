"""Tumour candidate: the largest 3D component of the brightest voxels inside the breast mask."""

from __future__ import annotations

import numpy as np

from breastmri.inference.postprocess import bounding_box, largest_component


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
    out = np.zeros(image.shape, np.uint8)
    if box is None:
        return out
    image, breast = image[box], breast[box]
    threshold = np.percentile(image[breast], percentile, overwrite_input=True)  # partitions its own copy
    out[box] = largest_component(breast & (image > threshold), connectivity)
    return out
