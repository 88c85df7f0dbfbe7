import numpy as np

from breastmri.slices.normalize import CaseNormalizer, clip_zscore


def test_clip_zscore_standardises_and_clips():
    rng = np.random.default_rng(0)
    x = rng.normal(50, 10, (20, 20, 5)).astype(np.float32)
    x[0, 0, 0] = 1e6  # outlier removed by clipping
    z = clip_zscore(x, 1, 99)
    assert z.dtype == np.float32
    assert abs(float(z.mean())) < 1e-4 and abs(float(z.std()) - 1) < 1e-3
    assert z.max() < 4


def test_clip_zscore_is_safe_on_constant_input():
    assert np.array_equal(clip_zscore(np.full((4, 4), 3.0)), np.zeros((4, 4), np.float32))
    z = clip_zscore(np.r_[np.zeros(1000), 5.0])  # std is 0 after clipping at the 99th percentile
    assert np.all(np.isfinite(z)) and np.all(z == 0)
    assert clip_zscore(np.full((4, 4), 3.0, np.float32)).dtype == np.float32 == z.dtype  # float32 out, always


def test_case_normalizer_pools_all_phases():
    a, b = np.full((3, 3), 1.0), np.full((3, 3), 3.0)
    norm = CaseNormalizer.fit([a, b])
    assert norm.mean == 2.0 and norm.std == 1.0
    assert np.allclose(norm(b), 1.0)
    assert np.all(CaseNormalizer.fit([a])(a) == 0)  # zero std: zeros, no NaN
