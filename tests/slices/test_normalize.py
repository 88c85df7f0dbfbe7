import numpy as np
import pytest

from breastmri.slices import normalize
from breastmri.slices.breast import prepare_volume
from breastmri.slices.geometry import resize_pad
from breastmri.slices.normalize import CaseNormalizer, ClipZScore, clip_zscore, percentiles


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


def _volumes():
    """Arrays of every kind the percentiles meet: an MRI-like volume (air, tissue, bright spots; Fortran-ordered
    as nibabel reads it), integer-valued with many ties, float64, tiny, constant, and NaN."""
    rng = np.random.default_rng(4)
    body = rng.gamma(2.0, 150.0, (96, 80, 40)).astype(np.float32)
    body[:20] = rng.normal(3.0, 1.0, (20, 80, 40))  # air
    body[50:53, 40:43, 10:30] = 4000.0  # enhancing spots
    yield np.asfortranarray(body)
    yield rng.integers(0, 6, 50_000).astype(np.int16)
    yield rng.normal(size=(30, 41))
    yield np.arange(7.0)
    yield np.array([2.5, -1.0])
    yield np.full(1000, 3.0, np.float32)
    with_nan = rng.normal(size=5000).astype(np.float32)
    with_nan[17] = np.nan
    yield with_nan


@pytest.mark.parametrize("q", [[1.0, 99.0], [0.0, 100.0], [50.0], [2.5, 97.5, 99.5], [1.0, 99.5], [33.3]])
def test_percentiles_are_numpys_bit_for_bit(q):
    for values in _volumes():
        expected = np.percentile(values, q)
        got = percentiles(values, q)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        assert got.tobytes() == expected.tobytes(), (values.dtype, values.shape, q, got, expected)


def test_percentiles_partition_everything_where_the_sample_misleads():
    """A sample that sees only the smallest (largest) values puts the bound too low (high): the selection is
    refused and every element is partitioned, with numpy's result."""
    n, stride = 65536 * 4, 4
    for flip in (1, -1):
        values = np.arange(n, dtype=np.float64) + n  # off the sample: all larger than any sampled value
        values[::stride] = np.arange(n // stride)
        values *= flip
        order = np.array([n // 100, n // 100 + 1]) if flip == 1 else np.array([n - n // 100 - 2, n - n // 100 - 1])
        assert normalize._order_statistics(values, order) is None
        assert percentiles(values, [1.0, 99.0]).tobytes() == np.percentile(values, [1.0, 99.0]).tobytes()


def _plain_clip_zscore(values) -> np.ndarray:
    """The formula the slice datasets were first made with: the whole clipped volume in float64 at once."""
    lo, hi = np.percentile(np.asarray(values, np.float32), [1.0, 99.0])
    clipped = np.clip(np.asarray(values, np.float32), lo, hi)
    return ((clipped - clipped.mean(dtype=np.float64)) / clipped.std(dtype=np.float64)).astype(np.float32)


def test_clip_zscore_is_the_plain_formula_with_numpys_percentiles_bit_for_bit():
    """The fast percentiles and the chunked arithmetic change no bit of what the slice datasets were made with."""
    for values in list(_volumes())[:3]:
        assert clip_zscore(values, 1.0, 99.0).tobytes() == _plain_clip_zscore(values).tobytes()


def test_clip_zscore_chunks_sum_as_numpy_does_in_every_memory_layout():
    """Volumes of many chunks (sizes not a multiple of 8) in every layout a scan reaches it in (C, Fortran as
    nibabel reads, transposed, flipped and strided views of the orientation): the plain formula's bits, so the
    chunks are added in numpy's own pairwise tree and in its memory order."""
    rng = np.random.default_rng(7)
    for shape, dtype in [((97, 83, 61), np.float32), ((130, 67, 61), np.uint16), ((96, 64, 65), np.float64)]:
        volume = (rng.gamma(2.0, 300.0, shape) + rng.normal(0, 1e-3, shape)).astype(dtype)
        assert volume.size > 3 * normalize._CHUNK
        for view in (volume, np.asfortranarray(volume), volume.transpose(2, 0, 1), volume[::-1, :, ::-1],
                     np.flip(volume.transpose(1, 2, 0), 0)[:, ::2]):
            got, expected = clip_zscore(view), _plain_clip_zscore(view)
            assert got.shape == expected.shape == view.shape and got.dtype == np.float32
            assert np.array_equal(got.view(np.uint32), expected.view(np.uint32)), (shape, dtype, view.strides)


def test_clipped_moments_are_numpys_mean_and_std_bit_for_bit():
    """The chunk sums are added in numpy's pairwise tree: the mean and standard deviation of the clipped values
    are numpy's to the last bit, for sizes of one chunk, many, and not a multiple of 8."""
    rng = np.random.default_rng(8)
    for n in (5, 1000, normalize._CHUNK, normalize._CHUNK + 1, 3 * normalize._CHUNK + 13, 1_000_003):
        values = (rng.gamma(2.0, 300.0, n) * rng.uniform(0.5, 2.0, n)).astype(np.float32)
        lo, hi = percentiles(values, [1.0, 99.0])
        clipped = np.clip(values, lo, hi)
        mean, std = normalize._clipped_moments(values, lo, hi)
        assert (mean, std) == (clipped.mean(dtype=np.float64), clipped.std(dtype=np.float64)), n


def test_clip_zscore_of_a_slice_is_the_volumes_slice_and_prepare_volume_uses_it():
    """A fitted ClipZScore gives any part of its volume (a strided axial slice, a voxel) the bits the whole volume's
    normalisation gives it, and prepare_volume, which normalises slice by slice, stores what resizing the slices of
    the normalised volume gives (padding: the normalised volume's minimum), in every layout and for integer scans;
    a volume without contrast normalises to zeros and a NaN voxel to NaN, as the plain formula does."""
    rng = np.random.default_rng(9)
    for dtype in (np.float32, np.int16):
        volume = rng.gamma(2.0, 200.0, (40, 36, 9)).astype(dtype)
        for view in (volume, np.asfortranarray(volume), volume.transpose(1, 0, 2)[::-1]):
            whole, norm = _plain_clip_zscore(view), ClipZScore.fit(view)
            for k in range(view.shape[2]):
                assert np.array_equal(norm(view[:, :, k]).view(np.uint32), whole[:, :, k].view(np.uint32))
            background = float(whole.min())
            assert float(norm(np.min(view))) == background
            expected = np.stack([resize_pad(whole[:, :, k], 24, order=1, pad_value=background,
                                            pixel_aspect=2.0)[0] for k in range(view.shape[2])])[:, None]
            prepared, _ = prepare_volume(view, 24, spacing=(0.5, 1.0, 3.0))
            assert np.array_equal(prepared.view(np.uint32), expected.view(np.uint32))
    assert ClipZScore.fit(np.full((4, 4, 2), 3.0)).std == 0.0
    assert np.array_equal(prepare_volume(np.full((4, 4, 2), 3.0), 8)[0], np.zeros((2, 1, 8, 8), np.float32))
    with_nan = rng.normal(size=(6, 6, 3)).astype(np.float32)
    with_nan[2, 2, 1] = np.nan
    assert np.isnan(ClipZScore.fit(with_nan).std) and np.isnan(clip_zscore(with_nan)).all()


def test_percentiles_leave_other_kinds_of_q_and_values_to_numpy():
    """float32 percentages (numpy answers in float32), a scalar, long doubles: numpy's own answer."""
    values = np.random.default_rng(2).normal(size=3000).astype(np.float32)
    for q in ([np.float32(1.0), np.float32(99.0)], 37.5, [10, 90]):
        expected = np.percentile(values, q)
        got = percentiles(values, q)
        assert np.asarray(got).dtype == np.asarray(expected).dtype and np.array_equal(got, expected)
    long = values.astype(np.longdouble)
    expected = np.percentile(long, [1.0, 99.0])
    assert percentiles(long, [1.0, 99.0]).dtype == expected.dtype and np.array_equal(percentiles(long, [1, 99.0]),
                                                                                     expected)
    with pytest.raises(ValueError, match="Percentiles"):
        percentiles(values, [np.nan])
