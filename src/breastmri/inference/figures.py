"""Prediction figures at the original resolution: a patient x slice grid and per-case overlays.

Arrays are given with an affine that describes them. For display only, scan and masks are reoriented together
into the working frame (:mod:`breastmri.orientation.frame`), so a transposed or LPS-stored file is shown the
same way up as any other; nothing is resampled, and the voxel aspect ratio comes from the affine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from breastmri.orientation.frame import frame_affine, spacing_of, working_ornt, working_spacing, working_view  # noqa: E402

FRACTIONS = (0.2, 0.35, 0.5, 0.65, 0.8)
DPI = 110
COLORS = {"breast": "#00d5ff", "tumor": "#ff2d2d", "truth": "#ffd400"}


@dataclass(frozen=True)
class Case:
    """One case for the figures: the scan and its masks in the stored frame, plus the file's affine."""

    patient_id: str
    scan: np.ndarray
    affine: np.ndarray
    breast: np.ndarray | None = None
    tumor: np.ndarray | None = None
    truth: np.ndarray | None = None

    def viewer_frame(self) -> "Case":
        """The same case in the working frame of its affine (flips/transposes only; views of the arrays: only
        the planes drawn are read)."""
        ornt = working_ornt(self.affine)
        spacing = working_spacing(spacing_of(self.affine), ornt)

        def re(a):
            return None if a is None else working_view(a, ornt)
        return Case(self.patient_id, re(self.scan), frame_affine(spacing), re(self.breast), re(self.tumor),
                    re(self.truth))

    @property
    def spacing(self) -> np.ndarray:
        return np.linalg.norm(np.asarray(self.affine, dtype=float)[:3, :3], axis=0)


def _axial(case: Case, k: int):
    """Axial plane ``arr[:, :, k]`` shown as stored (rows = axis 0, as in the project's other figures)."""
    def plane(a):
        return None if a is None else np.asarray(a)[:, :, k]
    return plane(case.scan), plane(case.breast), plane(case.tumor), plane(case.truth)


def _draw(ax, case: Case, k: int, window) -> None:
    scan, breast, tumor, truth = _axial(case, k)
    s_rows, s_cols = case.spacing[0], case.spacing[1]
    ax.imshow(scan, cmap="gray", vmin=window[0], vmax=window[1], aspect=s_rows / s_cols,
              interpolation="nearest")
    for mask, name, style in ((breast, "breast", "-"), (truth, "truth", "--"), (tumor, "tumor", "-")):
        if mask is not None and np.any(mask):
            ax.contour(np.asarray(mask) > 0, levels=[0.5], colors=COLORS[name], linewidths=0.8,
                       linestyles=style)
    ax.set_xticks([]), ax.set_yticks([])


def _slice_indices(depth: int, fractions: Sequence[float]) -> list[int]:
    return [min(int(round(f * (depth - 1))), depth - 1) for f in fractions]


def _window(scan: np.ndarray) -> tuple[float, float]:
    """The grey-level window of a figure: the 1st and 99.5th percentiles of every second voxel along each axis
    (an eighth of a 3D volume: the same window to the eye, at an eighth of the cost on a 448 x 448 x 160 scan)."""
    lo, hi = np.percentile(np.asarray(scan)[(slice(None, None, 2),) * np.ndim(scan)], [1, 99.5])
    return float(lo), float(hi if hi > lo else lo + 1)


def _focus_indices(case: Case, n: int) -> list[int] | None:
    """``n`` slices spread over the axial extent of the tumour / truth masks (None when both are empty)."""
    masks = [np.asarray(m) > 0 for m in (case.tumor, case.truth) if m is not None]
    present = np.zeros(case.scan.shape[2], bool)
    for m in masks:
        present |= m.any(axis=(0, 1))
    if not present.any():
        return None
    ks = np.flatnonzero(present)
    depth = case.scan.shape[2]
    span = max(ks[-1] - ks[0], min(n, depth) - 1)        # at least n distinct slices when the volume has them
    start = int(np.clip((ks[0] + ks[-1] - span) // 2, 0, max(depth - 1 - span, 0)))
    return sorted({int(k) for k in np.rint(np.linspace(start, min(start + span, depth - 1), n))})


def prediction_grid(cases: Sequence[Case], fractions: Sequence[float] = FRACTIONS, focus: bool = False):
    """Rows = patients, columns = axial slices at ``fractions`` of the depth (``focus=True``: spread over the
    tumour / truth extent instead); breast (cyan) and tumour (red) contours, ground truth (yellow, dashed)
    when given. Returns the figure."""
    cases = [c.viewer_frame() for c in cases]
    n_rows, n_cols = max(1, len(cases)), len(fractions)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.9 * n_cols, 1.9 * n_rows), squeeze=False)
    for row, case in enumerate(cases):
        window = _window(case.scan)
        indices = (_focus_indices(case, n_cols) if focus else None) or _slice_indices(case.scan.shape[2], fractions)
        for col, k in enumerate(indices):
            ax = axes[row, col]
            _draw(ax, case, k, window)
            ax.set_title(f"k={k}", fontsize=6, pad=2)
            if col == 0:
                ax.set_ylabel(case.patient_id, fontsize=7)
        for col in range(len(indices), n_cols):
            axes[row, col].axis("off")
    fig.tight_layout()
    return fig


def case_overlay(case: Case, metrics: Mapping[str, float] | None = None,
                 fractions: Sequence[float] = FRACTIONS, focus: bool = False):
    """One case: axial slices with contours, plus a title with the metrics when given."""
    fig = prediction_grid([case], fractions, focus)
    title = case.patient_id
    if metrics:
        title += "  " + "  ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                                  for k, v in metrics.items())
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return fig

