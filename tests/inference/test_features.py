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


# --- the cropped / scipy-free computation equals the previous full-volume one, bit for bit -------------------------
def _reference_features(image, breast_mask, candidate, spacing):
    """The full-volume implementation before cropping (float64 copy of the whole image, scipy.stats moments)."""
    from scipy import stats

    image = np.asarray(image, dtype=np.float64)
    breast, cand = np.asarray(breast_mask) > 0, np.asarray(candidate) > 0
    voxel_mm3 = float(np.prod(np.asarray(spacing, dtype=np.float64)))
    out = dict.fromkeys(FEATURE_NAMES, float("nan"))
    n = int(cand.sum())
    out["tumor_volume_voxels"] = float(n)
    out["tumor_volume_mm3"] = n * voxel_mm3
    out["breast_volume_mm3"] = float(breast.sum()) * voxel_mm3
    if n == 0:
        return out
    values = image[cand]
    out["tumor_mean_intensity"] = float(values.mean())
    out["tumor_max_intensity"] = float(values.max())
    out["tumor_std_intensity"] = float(values.std())
    if n > 2 and np.ptp(values) > 0:
        out["tumor_skewness"] = float(stats.skew(values))
        out["tumor_kurtosis"] = float(stats.kurtosis(values))
    breast_mean = float(image[breast].mean()) if breast.any() else float("nan")
    out["tumor_to_breast_mean_ratio"] = out["tumor_mean_intensity"] / breast_mean if breast_mean else float("nan")
    padded = np.pad(cand, 1)
    sx, sy, sz = (float(s) for s in spacing)
    face_area = (sy * sz, sx * sz, sx * sy)
    area = float(sum(np.count_nonzero(np.diff(padded, axis=a)) * face_area[a] for a in range(3)))
    volume = n * voxel_mm3
    out["tumor_surface_area_mm2"] = area
    out["tumor_sphericity"] = float(np.pi ** (1 / 3) * (6 * volume) ** (2 / 3) / area)
    lo, hi = np.argwhere(cand).min(0), np.argwhere(cand).max(0)
    out["tumor_extent"] = n / float(np.prod(hi - lo + 1))
    coords = np.argwhere(cand).astype(np.float64) * np.asarray(spacing, dtype=np.float64)
    if len(coords) < 2:
        major = minor = least = 0.0
    else:
        major, minor, least = np.clip(np.sort(np.linalg.eigvalsh(np.cov(coords, rowvar=False)))[::-1], 0.0, None)
    out["tumor_major_axis_mm"] = float(4 * np.sqrt(major))
    if major > 0:
        out["tumor_elongation"] = float(np.sqrt(minor / major))
        out["tumor_flatness"] = float(np.sqrt(least / major))
    return out


def _same_bits(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for key in a:
        assert np.array_equal(np.float64(a[key]), np.float64(b[key]), equal_nan=True), (key, a[key], b[key])
        assert np.float64(a[key]).tobytes() == np.float64(b[key]).tobytes() or (np.isnan(a[key]) and np.isnan(b[key]))


def _blobs(rng, shape, n_blobs, touch_border=False):
    """Random ellipsoid blobs (a candidate), optionally one cut by the volume's border."""
    grid = np.indices(shape).astype(np.float64)
    mask = np.zeros(shape, bool)
    for i in range(n_blobs):
        centre = rng.uniform(0, np.array(shape) - 1) if not (touch_border and i == 0) else np.array([0, 0, 0])
        radii = rng.uniform(1.0, 6.0, size=3)
        mask |= (((grid - centre[:, None, None, None]) / radii[:, None, None, None]) ** 2).sum(axis=0) <= 1
    return mask


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.float64])
def test_features_on_the_candidates_box_equal_the_full_volume_computation(seed, dtype):
    rng = np.random.default_rng(seed)
    shape = (40, 36, 18)
    image = (rng.gamma(2.0, 60.0, size=shape) - 30).astype(dtype)  # skewed, negative values too
    breast = _blobs(rng, shape, 3, touch_border=seed % 2 == 0) | (rng.uniform(size=shape) < 0.05)
    cand = _blobs(rng, shape, 1 + seed % 3, touch_border=seed % 3 == 0) & breast
    spacing = (0.7, 0.75, 1.2) if seed % 2 else (1.0, 1.0, 1.0)
    _same_bits(patient_features(image, breast, cand, spacing), _reference_features(image, breast, cand, spacing))


@pytest.mark.parametrize("case", ["empty", "one voxel", "two voxels", "constant", "whole volume", "empty breast"])
def test_features_edge_cases_equal_the_full_volume_computation(case):
    rng = np.random.default_rng(1)
    shape = (9, 8, 7)
    image = rng.normal(100, 20, size=shape).astype(np.float32)
    breast = np.ones(shape, bool)
    cand = np.zeros(shape, bool)
    if case == "one voxel":
        cand[8, 0, 6] = True
    elif case == "two voxels":
        cand[3, 4, 5] = cand[3, 4, 6] = True
    elif case == "constant":
        cand[2:5, 2:5, 2:5] = True
        image[:] = 7.0
    elif case == "whole volume":
        cand[:] = True
    elif case == "empty breast":
        cand[1:3, 1:3, 1:3] = True
        breast[:] = False
    _same_bits(patient_features(image, breast, cand, (0.8, 0.8, 2.0)),
               _reference_features(image, breast, cand, (0.8, 0.8, 2.0)))


@pytest.mark.filterwarnings("ignore:Precision loss occurred")  # scipy's, on the nearly constant draw
@pytest.mark.parametrize("seed", range(8))
def test_skewness_and_kurtosis_are_scipys_bit_for_bit(seed):
    from scipy import stats

    from breastmri.inference.features import skewness_kurtosis

    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 20000))
    draws = [rng.normal(300, 40, n), rng.gamma(1.5, 80, n), np.round(rng.uniform(0, 4000, n)),
             rng.lognormal(5, 1, n), 1e6 + rng.normal(0, 1e-3, n)]
    for values in draws:
        values = values.astype(np.float32).astype(np.float64)  # as the features take them from a float32 scan
        skew, kurt = skewness_kurtosis(values)
        assert np.float64(skew).tobytes() == np.float64(stats.skew(values)).tobytes()
        assert np.float64(kurt).tobytes() == np.float64(stats.kurtosis(values)).tobytes()


def test_surface_area_on_the_box_equals_the_padded_full_volume():
    rng = np.random.default_rng(3)
    for touch in (False, True):
        mask = _blobs(rng, (30, 25, 12), 3, touch_border=touch)
        padded = np.pad(mask, 1)
        full = float(sum(np.count_nonzero(np.diff(padded, axis=a)) * f for a, f in enumerate((2.0, 3.0, 6.0))))
        assert surface_area_mm2(mask, (3.0, 2.0, 1.0)) == full
    assert surface_area_mm2(np.zeros((3, 3, 3), bool), (1, 1, 1)) == 0.0


def test_bounding_box():
    from breastmri.inference.postprocess import bounding_box

    mask = np.zeros((5, 6, 7), bool)
    assert bounding_box(mask) is None
    mask[1, 2, 3] = mask[3, 5, 4] = True
    assert bounding_box(mask) == (slice(1, 4), slice(2, 6), slice(3, 5))
    assert bounding_box(mask, margin=2) == (slice(0, 5), slice(0, 6), slice(1, 7))
