"""Figures and tables for the build_hdf5 notebook: summaries and sample slices with mask overlays."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from breastmri.data.layouts import phase_name
from breastmri.slices.h5file import SliceFile


def summary_table(*summaries: dict) -> pd.DataFrame:
    """One row per task with the count fields of build summaries."""
    rows = []
    for s in summaries:
        row = {"task": s["task"], "patients": s["n_patients"], "slices": s["n_slices"],
               "train patients": s["patients"]["train"], "validation patients": s["patients"]["validation"],
               "train slices": s["slices"]["train"], "validation slices": s["slices"]["validation"],
               "file MB": s["file_mb"]}
        if s["task"] == "breast":
            row.update({"positives": s["slices_with_mask"], "negatives": s["slices_without_mask"]})
        else:
            row.update({"positives": s["positives"], "negatives": s["negatives"]})
        rows.append(row)
    return pd.DataFrame(rows).set_index("task")


def overlay(ax, image, mask, title):
    """Image in grey with the mask outlined in red, titled, without axes."""
    ax.imshow(image, cmap="gray", interpolation="nearest")
    if mask is not None and mask.any():
        ax.contour(mask, levels=[0.5], colors="tab:red", linewidths=0.8)
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def plot_breast_samples(h5_path: str | Path, n: int = 6, seed: int = 0):
    """``n`` random slices that hold breast mask, image in grey with the mask outline in red."""
    source = SliceFile(h5_path, "breast")
    all_rows = source.rows("all")
    has_mask = np.flatnonzero(source.read("masks", all_rows).reshape(source.n, -1).any(axis=1))
    rows = np.sort(np.random.default_rng(seed).choice(has_mask, size=min(n, len(has_mask)), replace=False))
    images, masks = source.read("images", rows), source.read("masks", rows)
    fig, axes = plt.subplots(1, len(rows), figsize=(2.2 * len(rows), 2.4), squeeze=False)
    for ax, r, image, mask in zip(axes[0], rows, images, masks):
        overlay(ax, image[0], mask[0], f"{source.patient_ids[r]} k={source.slice_indices[r]}")
    fig.tight_layout()
    return fig


def plot_lesion_sample(h5_path: str | Path, seed: int = 0):
    """Every phase channel of one positive and one negative lesion-task slice, lesion outlined."""
    source = SliceFile(h5_path, "lesion")
    areas = source.read("masks", source.rows("all")).reshape(source.n, -1).sum(axis=1)
    pids, idx, present = source.patient_ids, source.slice_indices, source.phase_present
    rng = np.random.default_rng(seed)
    missing = np.flatnonzero((areas > 0) & ~present.all(axis=1))
    positive = int(rng.choice(missing if len(missing) else np.flatnonzero(areas > 0)))
    same_case = np.flatnonzero((areas == 0) & (pids == pids[positive]))
    negative = int(rng.choice(same_case if len(same_case) else np.flatnonzero(areas == 0)))
    channels = source.phases
    fig, axes = plt.subplots(2, len(channels), figsize=(2.2 * len(channels), 4.8), squeeze=False)
    for row, r in enumerate((positive, negative)):
        label = "positive" if row == 0 else "negative"
        image, mask = source.read("images", [r])[0], source.read("masks", [r])[0]
        for c, phase in enumerate(channels):
            state = "" if present[r, c] else " (missing: zeros)"
            overlay(axes[row, c], image[c], mask[0], f"{pids[r]} k={idx[r]} {label}\n{phase_name(phase)}{state}")
    fig.tight_layout()
    return fig
