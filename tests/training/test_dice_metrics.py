"""Per-slice and per-patient 3D Dice; the streaming accumulator agrees with stacking volumes."""

import numpy as np
import pytest
import torch

from breastmri.data.overlap import dice
from breastmri.training.metrics import (DEFAULT_THRESHOLDS, DiceAccumulator, dice_per_slice, patient_volumes,
                                        per_patient_dice)


def test_dice_conventions():
    a = np.zeros((4, 4), bool)
    assert dice(a, a) == 1.0
    b = a.copy()
    b[0, :2] = True
    assert dice(b, a) == 0.0
    c = b.copy()
    c[1, :2] = True
    assert dice(b, c) == pytest.approx(2 * 2 / 6)
    assert dice_per_slice(np.stack([a, b]), np.stack([a, c])).tolist() == pytest.approx([1.0, 2 / 3])
    with pytest.raises(ValueError):
        dice(a, a[:2])


def test_patient_volumes_are_stacked_in_slice_index_order():
    slices = np.arange(4)[:, None, None] * np.ones((4, 2, 2))
    vols = patient_volumes(slices, ["B", "A", "B", "A"], [1, 5, 0, 2])
    assert list(vols) == ["A", "B"]
    assert vols["A"].shape == (2, 2, 2)
    assert vols["A"][0, 0].tolist() == [3, 1] and vols["B"][0, 0].tolist() == [2, 0]


def test_accumulator_matches_stacked_3d_dice_at_every_threshold():
    rng = np.random.default_rng(0)
    n, pids = 24, np.array([f"P{i % 3}" for i in range(24)])
    sidx = rng.permutation(24)
    probs = rng.random((n, 1, 6, 6)).astype(np.float32)
    target = (rng.random((n, 1, 6, 6)) > 0.6).astype(np.float32)
    target[pids == "P2"] = 0  # a patient without foreground
    acc = DiceAccumulator(pids, DEFAULT_THRESHOLDS)
    for lo in range(0, n, 5):  # uneven batches, arbitrary order
        idx = torch.arange(lo, min(lo + 5, n))
        acc.update(torch.from_numpy(probs[idx]), torch.from_numpy(target[idx]), idx)
    for j, t in enumerate(DEFAULT_THRESHOLDS):
        expected = per_patient_dice(probs > t, target > 0.5, pids, sidx)
        assert acc.patient_dice(t) == pytest.approx(expected)
        assert acc.dice()[:, j].mean() == pytest.approx(np.mean(list(expected.values())))
    positive = acc.patient_dice(0.5, positive_only=True)
    assert sorted(positive) == ["P0", "P1"]
    assert positive == pytest.approx(per_patient_dice(probs > 0.5, target > 0.5, pids, sidx, positive_only=True))


def test_default_thresholds_are_005_to_095():
    assert DEFAULT_THRESHOLDS[0] == 0.05 and DEFAULT_THRESHOLDS[-1] == 0.95 and len(DEFAULT_THRESHOLDS) == 19
    assert 0.5 in DEFAULT_THRESHOLDS
