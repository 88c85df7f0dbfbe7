import numpy as np
import pytest

from breastmri.inference.features import FEATURE_NAMES, features_table, patient_features, surface_area_mm2


def test_cube_volume_area_shape():
    img = np.zeros((20, 20, 20), np.float32)
    cand = np.zeros(img.shape, bool)
    cand[5:9, 5:9, 5:9] = True
    img[cand] = np.arange(64, dtype=np.float32)
    breast = np.ones(img.shape, bool)
    f = patient_features(img, breast, cand, spacing=(0.5, 0.5, 2.0))
    assert set(f) == set(FEATURE_NAMES)
    assert f["tumor_volume_voxels"] == 64
    assert f["tumor_volume_mm3"] == pytest.approx(64 * 0.5)
    assert f["breast_volume_mm3"] == pytest.approx(8000 * 0.5)
    assert f["tumor_max_intensity"] == 63 and f["tumor_mean_intensity"] == pytest.approx(31.5)
    # box 2 x 2 x 8 mm: area = 2*(2*2) + 4*(2*8) = 72
    assert f["tumor_surface_area_mm2"] == pytest.approx(72.0)
    assert f["tumor_extent"] == pytest.approx(1.0)
    assert f["tumor_elongation"] < 0.5 and f["tumor_flatness"] == pytest.approx(f["tumor_elongation"])
    assert f["tumor_skewness"] == pytest.approx(0.0, abs=1e-9)


def test_sphere_is_round():
    z, y, x = np.mgrid[:31, :31, :31]
    ball = (x - 15) ** 2 + (y - 15) ** 2 + (z - 15) ** 2 <= 10 ** 2
    f = patient_features(ball.astype(float), ball, ball, (1, 1, 1))
    assert f["tumor_elongation"] == pytest.approx(1.0, abs=0.02)
    assert f["tumor_flatness"] == pytest.approx(1.0, abs=0.02)
    assert f["tumor_major_axis_mm"] == pytest.approx(4 * np.sqrt(10 ** 2 / 5), rel=0.05)
    assert 0.6 < f["tumor_sphericity"] < 1.0
    assert f["tumor_extent"] == pytest.approx(4 / 3 * np.pi * 1000 / 21 ** 3, rel=0.03)


def test_empty_candidate_and_table():
    img = np.ones((4, 4, 4))
    f = patient_features(img, img > 0, np.zeros_like(img), (1, 1, 1))
    assert f["tumor_volume_mm3"] == 0 and np.isnan(f["tumor_mean_intensity"])
    table = features_table({"B_2": f, "B_1": f})
    assert table.index.name == "patient_id" and list(table.index) == ["B_1", "B_2"]
    assert list(table.columns) == list(FEATURE_NAMES)


def test_surface_area_border_counts():
    m = np.ones((2, 2, 2), bool)
    assert surface_area_mm2(m, (1, 1, 1)) == 24
