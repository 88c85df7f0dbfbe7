"""Figures of the training notebook: training slices as the augmentation shows them to the model."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from breastmri.slices.dataset import H5SliceDataset
from breastmri.slices.figures import overlay
from breastmri.training.augment import AugmentedSlices, build_transform, parse_settings


def plot_augmentation(h5_path: str | Path, settings: dict | None, seed: int = 42, n: int = 4, epochs: int = 3,
                      title: str = ""):
    """``n`` training slices that hold mask: stored (top row), then augmented as in epochs 1..``epochs``
    (first channel, mask outlined). Returns None when every transform is off."""
    transform = build_transform(parse_settings(settings))
    if transform is None:
        return None
    dataset = H5SliceDataset(h5_path, split="train")
    with_mask = [i for i in np.random.default_rng(seed).permutation(len(dataset))[:20 * n]
                 if dataset[int(i)]["mask"].any()][:n]
    augmented = AugmentedSlices(dataset, transform, seed)
    fig, axes = plt.subplots(1 + epochs, len(with_mask), figsize=(2.2 * len(with_mask), 2.3 * (1 + epochs)),
                             squeeze=False)
    for col, i in enumerate(with_mask):
        item = dataset[int(i)]
        overlay(axes[0, col], item["image"][0].numpy(), item["mask"].numpy().squeeze(0),
                f"{dataset.patient_ids[i]} k={dataset.slice_indices[i]}")
        for epoch in range(1, epochs + 1):
            augmented.set_epoch(epoch)
            out = augmented[int(i)]
            overlay(axes[epoch, col], out["image"][0].numpy(), out["mask"].numpy().squeeze(0), f"epoch {epoch}")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
