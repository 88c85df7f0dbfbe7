"""Figures of the orientation stage: before/after grids and the mask-alignment overlays."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from breastmri.analysis.figures import _view_slice  # the shared display convention of the 3x5 grid
from breastmri.orientation.record import DECISIONS, OrientationRecord

OVERLAY_VIEWS = (("axial", 0.25), ("axial", 0.5), ("axial", 0.75), ("coronal", 0.5), ("sagittal", 0.5))


def plot_mask_alignment(steps: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str = "",
                        views: Sequence[tuple[str, float]] = OVERLAY_VIEWS, spacing: Sequence[float] | None = None):
    """One row per alignment step (scan with its mask overlaid), one column per (view, fraction)."""
    fig, axes = plt.subplots(len(steps), len(views), figsize=(2.2 * len(views), 2.3 * len(steps)), squeeze=False)
    sp = spacing or (1.0, 1.0, 1.0)
    ratio = {"sagittal": sp[2] / sp[0], "coronal": sp[2] / sp[1], "axial": sp[0] / sp[1]}
    for row, (name, (scan, mask)) in enumerate(steps.items()):
        lo, hi = np.percentile(scan, [1, 99.5])
        for col, (view, fraction) in enumerate(views):
            ax = axes[row, col]
            ax.imshow(_view_slice(np.asarray(scan, np.float32), view, fraction), cmap="gray", vmin=lo, vmax=hi,
                      aspect=ratio[view], interpolation="nearest")
            m = _view_slice(np.asarray(mask) > 0, view, fraction)
            ax.imshow(np.ma.masked_where(~m, m), cmap="autumn", alpha=0.45, aspect=ratio[view],
                      interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if row == 0:
                ax.set_title(f"{view} {fraction:.0%}", fontsize=8)
            if col == 0:
                ax.set_ylabel(name, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def pick_preview(records: Iterable[OrientationRecord], n: int = 3, with_mask: bool = True,
                 prefer: Sequence[str] = DECISIONS) -> list[str]:
    """Patients to show, deterministic: most flips among ``prefer`` first, then most corrections of any
    kind (flips and a non-identity storage reorientation), then by id."""
    candidates = [r for r in records if r.has_mask or not with_mask]

    def flips(r: OrientationRecord, names) -> int:
        return sum(bool(getattr(r, name)) for name in names)

    def key(r: OrientationRecord):
        storage = int(r.canonical_ornt != ((0, 1), (1, 1), (2, 1)))
        return -flips(r, prefer), -(flips(r, DECISIONS) + storage), r.patient_id

    return [r.patient_id for r in sorted(candidates, key=key)[:n]]


def describe(record: OrientationRecord) -> str:
    """A one-line title: which corrections were applied, with their margins."""
    parts = [f"{record.patient_id} ({record.split})"]
    for name, margin in record.margins().items():
        flip = getattr(record, name)
        if flip is not None:
            parts.append(f"{name}={'yes' if flip else 'no'} (margin {margin:.3f})")
    return ", ".join(parts)
