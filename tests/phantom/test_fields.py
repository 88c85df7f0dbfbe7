"""Random fields: normalised smooth textures, positive bias, Rician noise statistics."""

import numpy as np
import pytest

from breastmri.phantom.fields import bias_field, rician, smooth_field


@pytest.mark.parametrize("sigma", [1.0, (3.0, 1.0, 0.5), 7.0])
def test_smooth_field_is_standardised_reproducible_and_smooth(sigma):
    shape = (40, 50, 20)
    field = smooth_field(np.random.default_rng(1), shape, sigma)
    assert field.shape == shape and field.dtype == np.float32
    assert abs(field.mean()) < 1e-4 and field.std() == pytest.approx(1.0, abs=1e-3)
    np.testing.assert_array_equal(field, smooth_field(np.random.default_rng(1), shape, sigma))
    neighbour_corr = np.corrcoef(field[1:].ravel(), field[:-1].ravel())[0, 1]
    assert neighbour_corr > 0.3  # correlated along axis 0, unlike white noise


def test_bias_field_is_positive_smooth_and_bounded():
    bias = bias_field(np.random.default_rng(0), (30, 40, 10), 0.2)
    assert bias.min() > 0.4 and bias.max() < 2.5
    assert np.abs(np.diff(bias, axis=0)).max() < 0.05


def test_rician_noise_of_zero_signal_is_rayleigh_and_of_strong_signal_unbiased():
    rng = np.random.default_rng(0)
    dark = rician(rng, np.zeros((100, 100, 10), np.float32), 2.0)
    assert dark.min() >= 0 and dark.mean() == pytest.approx(2.0 * np.sqrt(np.pi / 2), rel=0.02)
    bright = rician(rng, np.full((100, 100, 10), 100.0, np.float32), 2.0)
    assert bright.mean() == pytest.approx(100.0, rel=0.01) and bright.std() == pytest.approx(2.0, rel=0.05)
