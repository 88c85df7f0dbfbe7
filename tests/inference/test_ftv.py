import math

import numpy as np
import pytest

from breastmri.inference.ftv import ftv_agreement, functional_tumour_volume, percent_enhancement


def test_percent_enhancement_and_the_ftv_threshold_are_exact():
    pre = np.array([[[100.0, 100.0, 100.0, 0.0]]])
    post = np.array([[[169.0, 170.0, 300.0, 50.0]]])
    np.testing.assert_allclose(percent_enhancement(pre, post), [[[0.69, 0.70, 2.0, 0.0]]], rtol=1e-6)
    tissue = np.array([[[1, 1, 0, 1]]])
    # 69% is below 0.7; 70% counts; 200% lies outside the tissue mask; no pre-contrast signal never counts
    np.testing.assert_array_equal(functional_tumour_volume(pre, post, tissue), [[[0, 1, 0, 0]]])


def test_agreement_shares_and_volumes_on_planted_masks():
    ftv = np.zeros((20, 20, 10), np.uint8)
    ftv[5:15, 5:15, 2:8] = 1                                     # 600 voxels
    pred = np.zeros_like(ftv)
    pred[5:15, 5:10, 2:8] = 1                                    # half of the FTV (300)
    pred[15:17, 5:10, 2:8] = 1                                   # 60 voxels 1-2 mm beyond it (spacing 1 mm)
    pred[19, 0, 0] = 1                                           # one far away
    a = ftv_agreement(pred, ftv, (1.0, 1.0, 2.0), near_mm=2.0)
    assert a["ftv_covered"] == pytest.approx(0.5)
    assert a["pred_near_ftv"] == pytest.approx(360 / 361)
    assert a["ftv_ml"] == pytest.approx(600 * 2.0 / 1000) and a["pred_ml"] == pytest.approx(361 * 2.0 / 1000)
    empty = ftv_agreement(np.zeros_like(ftv), ftv, (1, 1, 1))
    assert empty["ftv_covered"] == 0.0 and math.isnan(empty["pred_near_ftv"])
    with pytest.raises(ValueError, match="differ in shape"):
        ftv_agreement(pred[:, :, :5], ftv, (1, 1, 1))
