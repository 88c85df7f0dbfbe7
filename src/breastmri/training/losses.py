"""Segmentation losses on logits: soft Dice (sigmoid inside) and BCE + Dice.

Training uses each loss on a batch. Validation uses the same loss over the whole validation set:
:func:`loss_statistics` sums what the loss needs over batches (and DDP ranks), ``from_statistics`` turns
the sums into the loss, so the validation loss does not depend on batch size, item order or sharding
(a batch of empty end-of-volume slices would otherwise weigh as much as a batch through the breast).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def loss_statistics(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """float64 sums ``[sum p*t, sum p, sum t, sum BCE, voxels]`` with ``p = sigmoid(logits)``."""
    logits, target = logits.detach().float(), target.detach().float()
    probs = torch.sigmoid(logits)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="sum")
    return torch.stack([(probs * target).sum(), probs.sum(), target.sum(), bce,
                        torch.tensor(float(target.numel()), device=target.device)]).double().cpu()


class DiceLoss(nn.Module):
    """``1 - soft Dice`` of ``sigmoid(logits)`` against a binary target, over the whole batch.

    Intersections and sums are taken over every voxel of the batch (a slice without foreground does
    not give a 0/0 term); ``smooth`` keeps the loss defined when both are empty.
    """

    def __init__(self, smooth: float = 1.0):
        super().__init__()
        self.smooth = float(smooth)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        probs = torch.sigmoid(logits.float())
        target = target.float()
        intersection = (probs * target).sum()
        total = probs.sum() + target.sum()
        return 1.0 - (2.0 * intersection + self.smooth) / (total + self.smooth)

    def from_statistics(self, stats: torch.Tensor) -> float:
        inter, psum, tsum = (float(v) for v in stats[:3])
        return 1.0 - (2.0 * inter + self.smooth) / (psum + tsum + self.smooth)


class BCEDiceLoss(nn.Module):
    """``bce_weight * BCEWithLogits + dice_weight * DiceLoss`` (numerically safe under autocast)."""

    def __init__(self, bce_weight: float = 1.0, dice_weight: float = 1.0, smooth: float = 1.0):
        super().__init__()
        self.bce_weight, self.dice_weight = float(bce_weight), float(dice_weight)
        self.dice = DiceLoss(smooth)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        bce = F.binary_cross_entropy_with_logits(logits.float(), target.float())
        return self.bce_weight * bce + self.dice_weight * self.dice(logits, target)

    def from_statistics(self, stats: torch.Tensor) -> float:
        bce = float(stats[3]) / max(float(stats[4]), 1.0)
        return self.bce_weight * bce + self.dice_weight * self.dice.from_statistics(stats)


LOSSES = {"dice": DiceLoss, "bce_dice": BCEDiceLoss}


def make_loss(name: str) -> nn.Module:
    """``"dice"`` (whole-breast task) or ``"bce_dice"`` (lesion task)."""
    try:
        return LOSSES[name]()
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}") from None
