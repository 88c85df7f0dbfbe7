"""Shared figures: the 3x5 orthogonal grid (sagittal/coronal/axial at 10/25/50/75/90%)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

FRACTIONS = (0.10, 0.25, 0.50, 0.75, 0.90)
VIEWS = ("sagittal", "coronal", "axial")  # slices taken along array axis 1, 0 and 2


def _view_slice(array: np.ndarray, view: str, fraction: float) -> np.ndarray:
    axis = {"sagittal": 1, "coronal": 0, "axial": 2}[view]
    index = min(int(round(fraction * (array.shape[axis] - 1))), array.shape[axis] - 1)
    plane = np.take(array, index, axis=axis)
    # axial planes are shown as stored (rows = axis 0); the other two with slices (axis 2) upwards
    return plane if view == "axial" else np.flipud(plane.T)


def plot_orthogonal_grid(volume: np.ndarray, mask: np.ndarray | None = None, title: str = "",
                         fractions: Sequence[float] = FRACTIONS, aspect: Sequence[float] | None = None):
    """3 rows (sagittal, coronal, axial) x len(fractions) columns of a 3D array, optional mask overlay.

    ``aspect``: voxel spacing (mm) so anisotropic volumes are drawn with true proportions.
    Returns the matplotlib figure.
    """
    volume = np.asarray(volume, dtype=np.float32)
    lo, hi = np.percentile(volume, [1, 99.5])
    fig, axes = plt.subplots(len(VIEWS), len(fractions), figsize=(2.2 * len(fractions), 2.2 * len(VIEWS)))
    sp = aspect or (1.0, 1.0, 1.0)
    ratio = {"sagittal": sp[2] / sp[0], "coronal": sp[2] / sp[1], "axial": sp[0] / sp[1]}
    for row, view in enumerate(VIEWS):
        for col, fraction in enumerate(fractions):
            ax = axes[row, col]
            ax.imshow(_view_slice(volume, view, fraction), cmap="gray", vmin=lo, vmax=hi,
                      aspect=ratio[view], interpolation="nearest")
            if mask is not None:
                m = _view_slice(np.asarray(mask) > 0, view, fraction)
                ax.imshow(np.ma.masked_where(~m, m), cmap="autumn", alpha=0.45, aspect=ratio[view],
                          interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if row == 0:
                ax.set_title(f"{fraction:.0%}", fontsize=8)
            if col == 0:
                ax.set_ylabel(view, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
