"""Shared figures: the 3x5 orthogonal grid (sagittal/coronal/axial at 10/25/50/75/90%), panel grids of
planes with a mask overlay, and byte-stable atomic PNG saving."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from breastmri.data.atomic import atomic_path

FRACTIONS = (0.10, 0.25, 0.50, 0.75, 0.90)
VIEWS = ("sagittal", "coronal", "axial")  # slices taken along array axis 1, 0 and 2


def _view_slice(array: np.ndarray, view: str, fraction: float) -> np.ndarray:
    axis = {"sagittal": 1, "coronal": 0, "axial": 2}[view]
    index = min(int(round(fraction * (array.shape[axis] - 1))), array.shape[axis] - 1)
    plane = np.take(array, index, axis=axis)
    # axial planes are shown as stored (rows = axis 0); the other two with slices (axis 2) upwards
    return plane if view == "axial" else np.flipud(plane.T)


def panel_grid(rows: Sequence[tuple[np.ndarray, np.ndarray | None]], planes: Sequence[Sequence[tuple[str, float]]],
               row_labels: Sequence[str], col_titles: Sequence[str], title: str = "",
               spacing: Sequence[float] | None = None, window: tuple[float, float] | None = None,
               row_height: float = 2.2):
    """A grid of planes: row ``r`` shows volume and mask ``rows[r]`` (mask may be None) at each
    ``planes[r][c] = (view, fraction)``, grey with the mask in orange.

    ``spacing`` (mm) draws anisotropic voxels with true proportions; ``window`` (vmin, vmax) defaults to
    each row's 1-99.5 percentiles. Returns the figure.
    """
    fig, axes = plt.subplots(len(rows), len(col_titles), squeeze=False,
                             figsize=(2.2 * len(col_titles), row_height * len(rows)))
    sp = spacing or (1.0, 1.0, 1.0)
    ratio = {"sagittal": sp[2] / sp[0], "coronal": sp[2] / sp[1], "axial": sp[0] / sp[1]}
    for r, ((volume, mask), row_planes) in enumerate(zip(rows, planes)):
        volume = np.asarray(volume, dtype=np.float32)
        lo, hi = window or np.percentile(volume, [1, 99.5])
        for ax, (view, fraction) in zip(axes[r], row_planes):
            ax.imshow(_view_slice(volume, view, fraction), cmap="gray", vmin=lo, vmax=hi,
                      aspect=ratio[view], interpolation="nearest")
            if mask is not None:
                m = _view_slice(np.asarray(mask) > 0, view, fraction)
                ax.imshow(np.ma.masked_where(~m, m), cmap="autumn", alpha=0.45, aspect=ratio[view],
                          interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
    for ax, text in zip(axes[0], col_titles):
        ax.set_title(text, fontsize=8)
    for ax, text in zip(axes[:, 0], row_labels):
        ax.set_ylabel(text, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_orthogonal_grid(volume: np.ndarray, mask: np.ndarray | None = None, title: str = "",
                         fractions: Sequence[float] = FRACTIONS, aspect: Sequence[float] | None = None):
    """3 rows (sagittal, coronal, axial) x len(fractions) columns of a 3D array, optional mask overlay.

    ``aspect``: voxel spacing (mm) so anisotropic volumes are drawn with true proportions.
    Returns the matplotlib figure.
    """
    volume = np.asarray(volume, dtype=np.float32)
    window = tuple(np.percentile(volume, [1, 99.5]))
    return panel_grid([(volume, mask)] * len(VIEWS), [[(view, f) for f in fractions] for view in VIEWS],
                      VIEWS, [f"{f:.0%}" for f in fractions], title, aspect, window)


def save_figure(fig, path: str | Path, dpi: int = 100) -> Path:
    """Save ``fig`` as PNG atomically, without metadata (byte-stable reruns), and close it."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None})
    finally:
        plt.close(fig)
    return Path(path)
