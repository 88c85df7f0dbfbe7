import math

import numpy as np
import pytest

from breastmri.inference.evaluation import dice, hd95_mm, hit, summarize


def test_dice_values():
    a = np.zeros((4, 4, 4), bool)
    b = a.copy()
    assert dice(a, b) == 1.0
    a[0, 0, :2] = True
    b[0, 0, 1:3] = True
    assert dice(a, b) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        dice(a, b[:3])


def test_hd95_is_spacing_aware():
    a = np.zeros((30, 30, 30), np.uint8)
    b = a.copy()
    a[10:20, 10:20, 10:20] = 1
    b[10:20, 10:20, 13:23] = 1       # shifted 3 voxels along axis 2
    assert hd95_mm(a, b, (1, 1, 1)) == pytest.approx(3.0)
    assert hd95_mm(a, b, (1, 1, 2.5)) == pytest.approx(7.5)
    assert hd95_mm(a, a, (1, 1, 1)) == 0.0
    assert math.isinf(hd95_mm(a, np.zeros_like(a), (1, 1, 1)))
    assert hd95_mm(np.zeros_like(a), np.zeros_like(a), (1, 1, 1)) == 0.0


def test_hit_and_helpers():
    a = np.zeros((5, 5, 5))
    b = a.copy()
    a[1, 1, 1] = 1
    assert not hit(a, b)
    b[1, 1, 1] = 1
    assert hit(a, b)
    s = summarize([1.0, 3.0, math.inf])
    assert s["mean"] == 2.0 and s["min"] == 1.0 and s["n_not_finite"] == 1 and s["n"] == 3
