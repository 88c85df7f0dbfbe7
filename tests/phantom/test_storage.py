"""Stored orientations: exact maps back to the working frame, affines that do (scanner) or do not (seed) describe
the anatomy, what the ignore mode must detect."""

import itertools

import nibabel as nib
import numpy as np
import pytest
from nibabel.orientations import aff2axcodes, axcodes2ornt, ornt_transform

from breastmri.orientation.frame import WORKING_ORNT, frame_affine, to_working, working_ornt
from breastmri.phantom.storage import check_axis_codes, scanner_storage, seed_storage
from breastmri.phantom.truth import ignore_mode_truth

SPACING = (0.8, 0.7, 2.5)
ARRAY = np.arange(4 * 5 * 3).reshape(4, 5, 3)


@pytest.mark.parametrize("swap, flip_ud, flip_hf", list(itertools.product((False, True), repeat=3)))
def test_seed_convention_is_undone_exactly_and_ignore_mode_truth_reads_the_planted_defects(swap, flip_ud, flip_hf):
    storage = seed_storage(SPACING, swap, flip_ud, flip_hf)
    stored = storage.store(ARRAY)
    np.testing.assert_array_equal(to_working(stored, storage.stored_to_working), ARRAY)
    assert stored.shape == ((5, 4, 3) if swap else (4, 5, 3)) and stored.flags.c_contiguous
    assert ignore_mode_truth(storage.stored_to_working) == {"scan_swap": swap, "scan_flip_ud": flip_ud,
                                                            "scan_flip_hf": flip_hf}
    expected = ARRAY[::-1] if flip_ud else ARRAY
    expected = expected[:, :, ::-1] if flip_hf else expected
    np.testing.assert_array_equal(stored, expected.transpose(1, 0, 2) if swap else expected)
    spacing = (SPACING[1], SPACING[0], SPACING[2]) if swap else SPACING
    np.testing.assert_array_equal(storage.affine, np.diag([*spacing, 1.0]))
    assert storage.name == "diag" and not storage.matches_anatomy
    assert storage.stored_shape(ARRAY.shape) == stored.shape


@pytest.mark.parametrize("codes", ["LPS", "RAS", "PLS", "ARS", "PIR", "LAI"])
@pytest.mark.parametrize("oblique", [False, True])
def test_scanner_storage_is_truthful_and_undone_by_its_own_affine(codes, oblique):
    rotation = np.deg2rad(8.0) * np.array([0.6, -0.8, 0.0]) if oblique else None
    storage = scanner_storage(SPACING, ARRAY.shape, codes, rotation)
    stored = storage.store(ARRAY)
    np.testing.assert_array_equal(to_working(stored, storage.stored_to_working), ARRAY)
    np.testing.assert_array_equal(working_ornt(storage.affine), storage.stored_to_working)
    assert aff2axcodes(storage.affine) == tuple(codes) and storage.matches_anatomy
    assert storage.name == (f"oblique-{codes}" if oblique else codes)
    np.testing.assert_allclose(np.linalg.norm(storage.affine[:3, :3], axis=0),
                               [SPACING[int(a)] for a, _ in storage.stored_to_working])
    if not oblique:  # what nibabel's as_reoriented writes: every voxel keeps its world position
        to_stored = ornt_transform(WORKING_ORNT, axcodes2ornt(tuple(codes)))
        reoriented = nib.Nifti1Image(ARRAY.astype(np.int16), frame_affine(SPACING)).as_reoriented(to_stored)
        np.testing.assert_array_equal(np.asarray(reoriented.dataobj), stored)
        np.testing.assert_allclose(reoriented.affine, storage.affine)


def test_an_oblique_affine_is_tilted_by_the_rotation_about_the_volume_centre():
    rotation = np.deg2rad(5.0) * np.array([0.0, 0.0, 1.0])
    straight, tilted = (scanner_storage(SPACING, ARRAY.shape, "LPS", r) for r in (None, rotation))
    cosine = np.dot(straight.affine[:3, 0], tilted.affine[:3, 0]) / np.linalg.norm(straight.affine[:3, 0]) ** 2
    assert np.degrees(np.arccos(cosine)) == pytest.approx(5.0)
    centre = np.array([*((np.array(straight.stored_shape(ARRAY.shape)) - 1) / 2), 1.0])
    np.testing.assert_allclose(tilted.affine @ centre, straight.affine @ centre)


def test_the_affine_survives_a_nifti_round_trip(tmp_path):
    storage = scanner_storage(SPACING, ARRAY.shape, "PLS", np.deg2rad(3.0) * np.array([1.0, 0.0, 0.0]))
    nib.save(nib.Nifti1Image(storage.store(ARRAY).astype(np.int16), storage.affine), tmp_path / "a.nii.gz")
    img = nib.load(tmp_path / "a.nii.gz")
    np.testing.assert_array_equal(to_working(np.asarray(img.dataobj), working_ornt(img.affine)), ARRAY)


@pytest.mark.parametrize("codes", ["LPX", "LLS", "LP", "lps"])
def test_axis_codes_must_name_an_orientation(codes):
    with pytest.raises(ValueError, match="not an orientation"):
        check_axis_codes(codes)


def test_ignore_mode_truth_needs_an_axial_stack():
    sagittal = scanner_storage(SPACING, ARRAY.shape, "PIR")
    with pytest.raises(ValueError, match="stored axis 2 must be the head-foot axis"):
        ignore_mode_truth(sagittal.stored_to_working)
    lps = scanner_storage(SPACING, ARRAY.shape, "LPS")  # axis 0 left-right, posterior-wards axis 1
    assert ignore_mode_truth(lps.stored_to_working) == {"scan_swap": True, "scan_flip_ud": True,
                                                        "scan_flip_hf": False}
