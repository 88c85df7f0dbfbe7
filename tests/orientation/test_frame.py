"""The working frame: exact maps from every stored orientation, the affine it reads them from, ornt algebra,
and the acceptance case: files whose affines describe the anatomy need no heuristic change."""

import itertools

import numpy as np
import pytest
from nibabel.orientations import aff2axcodes

from breastmri.data.errors import DataError
from breastmri.data.io import Volume
from breastmri.orientation.frame import (IDENTITY, WORKING_AXCODES, axcodes, check_affine, compose, frame_affine,
                                         from_working, inverse, is_identity, spacing_of, to_working,
                                         working_affine, working_ornt, working_shape,
                                         working_spacing)
from breastmri.orientation.orient import orient_pair, orient_scan

from .synth import SPACING, STORAGES, anatomy, store, store_named

ALL_ORNTS = [np.array([[axis, flip] for axis, flip in zip(perm, flips)], dtype=float)
             for perm in itertools.permutations(range(3)) for flips in itertools.product((1, -1), repeat=3)]


def _voxels(shape=(4, 5, 6)):
    return np.arange(np.prod(shape), dtype=np.int32).reshape(shape)


@pytest.mark.parametrize("index", range(48))
def test_to_and_from_working_are_exact_inverses_for_every_permutation_and_flip(index):
    ornt = ALL_ORNTS[index]
    working = _voxels()
    stored = from_working(working, ornt)
    assert stored.shape == tuple(working.shape[int(t)] for t, _ in ornt)
    assert working_shape(stored.shape, ornt) == working.shape
    assert np.array_equal(to_working(stored, ornt), working)
    assert np.array_equal(from_working(to_working(stored, ornt), ornt), stored)
    # every voxel is moved, none is resampled
    assert sorted(stored.ravel().tolist()) == list(range(working.size))


@pytest.mark.parametrize("index", range(48))
def test_working_ornt_reads_the_ornt_back_from_a_truthful_affine(index):
    ornt = ALL_ORNTS[index]
    working = _voxels()
    stored, affine = store(working, ornt)
    assert np.array_equal(working_ornt(affine), ornt)
    assert np.array_equal(to_working(stored, working_ornt(affine)), working)
    # the working-frame array's affine keeps every voxel's world position and says A, L, S
    waff = working_affine(affine, stored.shape, working_ornt(affine))
    assert aff2axcodes(waff) == WORKING_AXCODES
    for voxel in [(0, 0, 0), (3, 1, 5), (1, 4, 2)]:
        index_stored = [0, 0, 0]
        for axis, (target, flip) in enumerate(ornt):
            n = working.shape[int(target)]
            index_stored[axis] = voxel[int(target)] if flip > 0 else n - 1 - voxel[int(target)]
        assert stored[tuple(index_stored)] == working[voxel]
        assert np.allclose(affine @ [*index_stored, 1], waff @ [*voxel, 1])


def test_working_spacing_is_carried_per_axis():
    ornt = np.array([[2, 1], [0, -1], [1, 1]], float)  # stored axes -> working axes S, A, L
    stored, affine = store(_voxels(), ornt, spacing=(0.7, 0.8, 3.0))
    assert np.allclose(spacing_of(affine), (3.0, 0.7, 0.8))
    assert np.allclose(spacing_of(working_affine(affine, stored.shape, ornt)), (0.7, 0.8, 3.0))
    assert working_spacing(spacing_of(affine), ornt) == pytest.approx((0.7, 0.8, 3.0))
    assert working_spacing((1.0, 2.0, 3.0), IDENTITY) == (1.0, 2.0, 3.0)


@pytest.mark.parametrize("name", list(STORAGES))
def test_named_storages_give_the_identical_working_array(name):
    scan, _ = anatomy(11)
    stored, affine, ornt = store_named(scan, name)
    codes, degrees = STORAGES[name]
    assert "".join(axcodes(affine)) == codes
    if degrees:  # a 5 degree oblique affine: still the same nearest axes, no resampling
        assert np.count_nonzero(np.abs(affine[:3, :3]) > 1e-9) > 3
    assert np.array_equal(working_ornt(affine), ornt)
    assert np.array_equal(to_working(stored, working_ornt(affine)), scan)


@pytest.mark.parametrize("mode", ["trust", "verify"])
def test_correct_affines_need_no_heuristic_change(mode):
    """Acceptance: LPS, RAS, transposed, 5 degree oblique and sagittal files of one anatomy, each with an affine
    that describes it, give the identical working-frame array and mask, no correction and no problem."""
    scan, mask = anatomy(12, contrast="t1")
    results = {}
    for name in STORAGES:
        s, affine, _ = store_named(scan, name)
        if name != "ALS":  # every other copy differs from the working array as stored
            assert s.shape != scan.shape or not np.array_equal(s, scan), name
        m, m_affine, _ = store_named(mask, name)
        oriented, record = orient_scan(Volume(s, affine, "p"), affine_mode=mode)
        pair_scan, pair_mask, pair_record = orient_pair(Volume(s, affine, "p"), Volume(m, m_affine, "p"),
                                                        affine_mode=mode)
        for r in (record, pair_record):
            assert (r.scan_swap, r.scan_flip_ud, r.scan_flip_hf) == (False, False, False), name
            assert r.problems == (), (name, r.problems)
        assert (pair_record.mask_flip_ud, pair_record.mask_flip_lr) == (False, False)
        assert np.array_equal(oriented, scan) and np.array_equal(pair_scan, scan), name
        assert np.array_equal(pair_mask, mask), name
        results[name] = record
    # the heuristics ran (margins recorded) and agreed with every affine
    assert all(min(r.margins[k] for k in ("scan_swap", "scan_flip_ud", "scan_flip_hf")) > 0.1
               for r in results.values())


def test_compose_and_inverse_properties():
    rng = np.random.default_rng(0)
    array = _voxels((3, 4, 5))
    for _ in range(40):
        a, b = ALL_ORNTS[rng.integers(48)], ALL_ORNTS[rng.integers(48)]
        assert np.array_equal(to_working(to_working(array, a), b), to_working(array, compose(a, b)))
        assert is_identity(compose(a, inverse(a))) and is_identity(compose(inverse(a), a))
        assert np.array_equal(inverse(inverse(a)), a)
        assert np.array_equal(inverse(compose(a, b)), compose(inverse(b), inverse(a)))
        assert np.array_equal(compose(a, IDENTITY), a) and np.array_equal(compose(IDENTITY, a), a)
    assert is_identity(IDENTITY) and not is_identity(ALL_ORNTS[1])
    assert np.array_equal(to_working(array, IDENTITY), array)


def test_frame_affine_says_A_L_S():
    affine = frame_affine((0.7, 0.8, 3.0))
    assert aff2axcodes(affine) == WORKING_AXCODES
    assert np.allclose(spacing_of(affine), (0.7, 0.8, 3.0))
    assert is_identity(working_ornt(affine))


def test_bad_affines_are_data_errors_naming_the_file():
    with pytest.raises(DataError, match="scan.nii.gz: the affine is not finite or not invertible"):
        working_ornt(np.zeros((4, 4)), "scan.nii.gz")
    with pytest.raises(DataError, match=r"not finite or not invertible .*rows \[3, 3\]"):
        check_affine(np.eye(3), "x.nii")
    bad = np.eye(4)
    bad[0, 0] = np.nan
    with pytest.raises(DataError, match="not finite or not invertible"):
        check_affine(bad, "x.nii")
    assert np.allclose(check_affine(np.diag([*SPACING, 1])), np.diag([*SPACING, 1]))
