"""Dice per slice and per patient in 3D.

A patient's 3D Dice is computed on the volume obtained by stacking that patient's slice predictions
along axis 2 in ``slice_index`` order (:func:`patient_volumes`, :func:`per_patient_dice`). Dice over a
stacked volume only depends on the summed voxel counts, so the training loop accumulates those counts
per patient and per threshold while streaming batches (:class:`DiceAccumulator`); both give the same
figures (tested).

* Whole-breast HDF5: every slice of each patient is stored, so the stack is the full volume.
* Lesion HDF5: only sampled slices are stored, so a patient's "3D" Dice is taken over that patient's
  sampled validation slices, and only patients with lesion voxels in them are scored
  (``positive_only=True``); a lesion-free case would score 1.0 for an empty prediction and hide misses.

Convention: a patient (or slice) with an empty prediction and an empty target scores 1.0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from breastmri.data.overlap import dice

DEFAULT_THRESHOLDS = tuple(float(t) for t in np.round(np.arange(0.05, 0.951, 0.05), 2))


def dice_per_slice(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Dice of each item along axis 0 (binary arrays ``(N, ...)``)."""
    return np.array([dice(p, t) for p, t in zip(pred, target)], dtype=np.float64)


def patient_volumes(slices: np.ndarray, patient_ids: Sequence[str], slice_indices: Sequence[int]
                    ) -> dict[str, np.ndarray]:
    """Stack 2D slices ``(N, H, W)`` (or ``(N, 1, H, W)``) into ``{patient: (H, W, K)}``.

    Slices are ordered by ``slice_index`` (axis 2 of the patient's volume); patients in sorted order.
    """
    slices = np.asarray(slices)
    if slices.ndim == 4:
        slices = slices[:, 0]
    patient_ids = np.asarray(patient_ids).astype(str)
    slice_indices = np.asarray(slice_indices)
    volumes = {}
    for pid in sorted(set(patient_ids.tolist())):
        rows = np.flatnonzero(patient_ids == pid)
        rows = rows[np.argsort(slice_indices[rows], kind="stable")]
        volumes[pid] = np.stack([slices[r] for r in rows], axis=-1)
    return volumes


def per_patient_dice(pred: np.ndarray, target: np.ndarray, patient_ids: Sequence[str],
                     slice_indices: Sequence[int], positive_only: bool = False) -> dict[str, float]:
    """3D Dice per patient from binary slice predictions and targets, stacked by ``slice_index``."""
    preds = patient_volumes(pred, patient_ids, slice_indices)
    targets = patient_volumes(target, patient_ids, slice_indices)
    return {pid: dice(preds[pid], targets[pid]) for pid in preds
            if not positive_only or targets[pid].any()}


class DiceAccumulator:
    """Per-patient, per-threshold voxel counts (intersection, predicted, target), streamed by batch.

    ``patient_ids`` gives the patient of every dataset item (the loader yields item ``index``es).
    Counts are int64 so sums are exact and identical however batches (or DDP ranks) are split.
    """

    def __init__(self, patient_ids: Sequence[str], thresholds: Sequence[float] = (0.5,)):
        patient_ids = np.asarray(patient_ids).astype(str)
        self.patients = sorted(set(patient_ids.tolist()))
        lookup = {pid: i for i, pid in enumerate(self.patients)}
        self.item_patient = torch.as_tensor([lookup[p] for p in patient_ids], dtype=torch.long)
        self.thresholds = tuple(float(t) for t in thresholds)
        self._t = torch.tensor(self.thresholds, dtype=torch.float32)
        self.counts = torch.zeros(len(self.patients), len(self.thresholds), 3, dtype=torch.int64)

    @torch.no_grad()
    def update(self, probs: torch.Tensor, target: torch.Tensor, index: torch.Tensor) -> None:
        """Add a batch: ``probs`` and binary ``target`` ``(B, 1, H, W)``, dataset item ``index`` ``(B,)``."""
        probs = probs.detach().float().flatten(1).cpu()
        target = (target.detach().flatten(1).cpu() > 0.5)
        t = self._t.to(probs.device)
        pred = probs.unsqueeze(1) > t.view(1, -1, 1)                       # (B, T, V)
        inter = (pred & target.unsqueeze(1)).sum(-1)                        # (B, T)
        psum = pred.sum(-1)                                                 # (B, T)
        tsum = target.sum(-1, keepdim=True).expand_as(psum)                 # (B, T)
        batch = torch.stack([inter, psum, tsum], dim=-1).to(torch.int64)    # (B, T, 3)
        self.counts.index_add_(0, self.item_patient[index.cpu().long()], batch)

    def all_reduce(self) -> None:
        """Sum counts over DDP ranks (no-op when not distributed)."""
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(self.counts)

    def dice(self) -> np.ndarray:
        """``(n_patients, n_thresholds)`` 3D Dice (1.0 where prediction and target are both empty)."""
        c = self.counts.numpy().astype(np.float64)
        total = c[..., 1] + c[..., 2]
        return np.where(total > 0, 2.0 * c[..., 0] / np.maximum(total, 1.0), 1.0)

    def has_target(self) -> np.ndarray:
        return self.counts[:, 0, 2].numpy() > 0

    def patient_dice(self, threshold: float = 0.5, positive_only: bool = False) -> dict[str, float]:
        """``{patient: 3D Dice}`` at one of the accumulated thresholds."""
        j = self._threshold_index(threshold)
        dice, keep = self.dice()[:, j], self.has_target()
        return {pid: float(dice[i]) for i, pid in enumerate(self.patients) if keep[i] or not positive_only}

    def _threshold_index(self, threshold: float) -> int:
        for j, t in enumerate(self.thresholds):
            if abs(t - threshold) < 1e-9:
                return j
        raise ValueError(f"threshold {threshold} not accumulated (have {self.thresholds})")
