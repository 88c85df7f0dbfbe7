"""Affine canonicalisation equals nibabel's as_closest_canonical and is exactly invertible."""

import itertools

import nibabel as nib
import numpy as np
import pytest

from breastmri.data.errors import DataError
from breastmri.orientation.canonical import (canonical_affine, canonical_ornt, canonical_shape, from_canonical,
                                             to_canonical)

from .synth import diag_affine, store

STORAGES = ["diag", "lps", "transposed", "transposed_201", "transposed_120", "transposed_021", "transposed_210"]


@pytest.mark.parametrize("storage", STORAGES)
def test_storage_variants_come_back_to_the_same_canonical_array(storage):
    canonical = np.arange(4 * 5 * 6, dtype=np.float32).reshape(4, 5, 6)
    stored, affine = store(canonical, diag_affine(), storage)
    ornt = canonical_ornt(affine)
    assert np.array_equal(to_canonical(stored, ornt), canonical)
    nib_canon = nib.as_closest_canonical(nib.Nifti1Image(stored, affine))
    assert np.array_equal(np.asarray(nib_canon.dataobj), canonical)
    assert np.allclose(canonical_affine(affine, stored.shape, ornt), nib_canon.affine)
    assert np.allclose(canonical_affine(affine, stored.shape, ornt), diag_affine())
    assert canonical_shape(stored.shape, ornt) == canonical.shape
    assert np.array_equal(from_canonical(canonical, ornt), stored)


@pytest.mark.parametrize("perm", list(itertools.permutations(range(3))))
def test_round_trip_exact_for_all_48_orientations(perm):
    rng = np.random.default_rng(0)
    stored = rng.normal(size=(3, 4, 5)).astype(np.float32)
    for signs in itertools.product((1, -1), repeat=3):
        affine = np.zeros((4, 4))
        affine[3, 3] = 1
        for k, axis in enumerate(perm):
            affine[axis, k] = signs[k] * (k + 1.5)
        ornt = canonical_ornt(affine)
        canonical = to_canonical(stored, ornt)
        assert np.array_equal(canonical, np.asarray(nib.as_closest_canonical(nib.Nifti1Image(stored, affine)).dataobj))
        assert np.array_equal(from_canonical(canonical, ornt), stored)


@pytest.mark.parametrize("affine", [np.zeros((4, 4)), np.full((4, 4), np.nan), np.eye(3)])
def test_bad_affine_raises_data_error_naming_the_file(affine):
    with pytest.raises(DataError, match="scan.nii.gz"):
        canonical_ornt(affine, "scan.nii.gz")
