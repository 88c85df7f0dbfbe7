"""Contrast kinetics: wash-in then persistent, plateau or wash-out; acquisition times."""

import numpy as np
import pytest

from breastmri.phantom.kinetics import LesionKinetics, blood, phase_times, progressive


def test_phase_times_start_pre_contrast_and_increase():
    times = phase_times(np.random.default_rng(0), 6)
    assert times[0] == 0 and 150 <= times[1] <= 200 and np.all(np.diff(times) >= 100)


@pytest.mark.parametrize("curve, low, high", [("persistent", 1.1, 9.0), ("plateau", 0.9, 1.1), ("washout", 0.0, 0.9)])
def test_lesion_curves_wash_in_then_follow_their_type(curve, low, high):
    kinetics = LesionKinetics(amplitude=2.0, wash_in_s=60.0, curve=curve)
    early, later = kinetics.enhancement(np.array([180.0, 600.0]))
    assert kinetics.enhancement(0.0) == 0 and early > 1.5
    assert low <= later / early <= high


def test_blood_peaks_early_and_tissues_rise_slowly():
    assert blood(60.0) > blood(600.0) > 0
    assert progressive(60.0, 0.5, 200.0) < progressive(600.0, 0.5, 200.0) < 0.5
