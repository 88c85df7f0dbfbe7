"""Figures of the orientation stage: before/after grids and the mask-alignment overlays."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from breastmri.analysis.figures import panel_grid
from breastmri.orientation.record import DECISIONS, OrientationRecord

OVERLAY_VIEWS = (("axial", 0.25), ("axial", 0.5), ("axial", 0.75), ("coronal", 0.5), ("sagittal", 0.5))


def plot_mask_alignment(steps: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str = "",
                        views: Sequence[tuple[str, float]] = OVERLAY_VIEWS, spacing: Sequence[float] | None = None):
    """One row per alignment step (scan with its mask overlaid), one column per (view, fraction)."""
    return panel_grid(list(steps.values()), [views] * len(steps), list(steps),
                      [f"{view} {fraction:.0%}" for view, fraction in views], title, spacing, row_height=2.3)


def pick_preview(records: Iterable[OrientationRecord], n: int = 3, with_mask: bool = True,
                 prefer: Sequence[str] = DECISIONS) -> list[str]:
    """Patients to show, deterministic: most flips among ``prefer`` first, then most corrections of any
    kind (flips and a non-identity storage reorientation), then by id."""
    candidates = [r for r in records if r.has_mask or not with_mask]

    def flips(r: OrientationRecord, names) -> int:
        return sum(bool(getattr(r, name)) for name in names)

    def key(r: OrientationRecord):
        storage = int(r.frame_ornt != ((0, 1), (1, 1), (2, 1)))
        return -flips(r, prefer), -(flips(r, DECISIONS) + storage), r.patient_id

    return [r.patient_id for r in sorted(candidates, key=key)[:n]]


def describe(record: OrientationRecord) -> str:
    """A one-line title: which corrections were applied, with their margins."""
    parts = [f"{record.patient_id} ({record.split}, affine {record.affine_mode})"]
    for name, margin in record.margins.items():
        flip = getattr(record, name)
        if flip:
            parts.append(f"{name} ({margin:.2f})")
    return ", ".join(parts)
