"""Dice loss (sigmoid inside) and BCE + Dice, selectable by name."""

import pytest
import torch

from breastmri.training.losses import BCEDiceLoss, DiceLoss, make_loss


def _target():
    y = torch.zeros(2, 1, 8, 8)
    y[:, :, 2:6, 2:6] = 1
    return y


def test_dice_loss_is_near_zero_for_confident_correct_logits_and_near_one_for_wrong():
    y = _target()
    assert DiceLoss()(torch.where(y > 0, 20.0, -20.0), y).item() < 1e-3
    assert DiceLoss()(torch.where(y > 0, -20.0, 20.0), y).item() > 0.99


def test_empty_target_and_empty_prediction_give_zero_loss():
    y = torch.zeros(2, 1, 8, 8)
    assert DiceLoss()(torch.full_like(y, -30.0), y).item() == pytest.approx(0.0, abs=1e-6)


def test_bce_dice_adds_the_bce_term_and_has_finite_gradients():
    y = _target()
    logits = torch.zeros_like(y, requires_grad=True)
    loss = BCEDiceLoss()(logits, y)
    assert loss.item() == pytest.approx(DiceLoss()(logits, y).item() + 0.6931, abs=1e-3)  # BCE(0.5) = ln 2
    loss.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_make_loss_by_name():
    assert isinstance(make_loss("dice"), DiceLoss)
    assert isinstance(make_loss("bce_dice"), BCEDiceLoss)
    with pytest.raises(ValueError, match="unknown loss 'focal'"):
        make_loss("focal")


@pytest.mark.parametrize("name", ["dice", "bce_dice"])
def test_loss_from_summed_statistics_equals_the_loss_on_the_whole_set(name):
    from breastmri.training.losses import loss_statistics

    gen = torch.Generator().manual_seed(0)
    logits, y = torch.randn(6, 1, 8, 8, generator=gen), (torch.rand(6, 1, 8, 8, generator=gen) > 0.7).float()
    loss = make_loss(name)
    stats = loss_statistics(logits[:4], y[:4]) + loss_statistics(logits[4:], y[4:])  # two "batches"
    assert loss.from_statistics(stats) == pytest.approx(loss(logits, y).item(), rel=1e-6)
