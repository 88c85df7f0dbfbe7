import nibabel as nib
import numpy as np
import pytest

from breastmri.data.errors import DataError
from breastmri.orientation.frame import to_working, working_ornt
from breastmri.data.layouts import BreastBox
from breastmri.slices.resample import phase_image, resample_case, within_box
from .synth import save


def test_1mm_grid_is_the_working_frame_of_the_file(tmp_path):
    a = np.random.default_rng(0).random((4, 5, 6)).astype(np.float32)
    p = save(a, (1.0, 1.0, 1.0), tmp_path / "a.nii.gz")
    phases, mask, shape = resample_case([p, None, None, None, None, None], p)
    expected = to_working(a, working_ornt(np.eye(4)))  # RAS axes -> A, L, S: a transpose and a reversal
    assert shape == (5, 4, 6) and np.allclose(phases[0], expected, atol=1e-6)
    assert phases[1:] == [None] * 5 and mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}


def test_anisotropic_to_1mm_linear_images_nearest_masks(tmp_path):
    i = np.arange(10, dtype=np.float32)[:, None, None] * np.ones((10, 8, 5), np.float32)
    img = save(i * 2.0, (2.0, 1.0, 3.0), tmp_path / "ramp.nii.gz")          # value = world x (mm)
    m = np.zeros((10, 8, 5), np.uint8)
    m[4:6, 3:5, 2] = 1
    msk = save(m, (2.0, 1.0, 3.0), tmp_path / "m.nii.gz")
    # a second phase stored on a different (finer, shifted) grid: resampled in world coordinates
    aff = np.diag([1.0, 1.0, 1.0, 1.0])
    aff[0, 3] = 1.0
    fine = (np.arange(20, dtype=np.float32)[:, None, None] + 1.0) * np.ones((20, 8, 15), np.float32)
    p2 = tmp_path / "fine.nii.gz"
    nib.save(nib.Nifti1Image(fine, aff), str(p2))
    phases, mask, shape = resample_case([img, p2, None, None, None, None], msk, spacing=1.0)
    assert shape == (8, 20, 15)                                           # working frame: A, L, S
    assert np.allclose(np.diff(phases[0][4, 1:19, 7]), -1.0)              # linear: exact on a ramp (x = R)
    assert np.allclose(np.diff(phases[1][4, 1:18, 7]), -1.0)              # world x again
    assert np.allclose(phases[0][4, 2:18, 7], phases[1][4, 2:18, 7])         # both phases: the same world x
    assert set(np.unique(mask)) == {0, 1} and mask.sum() > 0               # nearest: still binary


def test_missing_first_phase_and_bad_file(tmp_path):
    with pytest.raises(DataError):
        resample_case([None] * 6, None)
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"not a nifti")
    with pytest.raises(DataError, match="bad.nii.gz"):
        resample_case([bad] + [None] * 5, None)


def _oblique_affine():
    from scipy.spatial.transform import Rotation

    affine = np.eye(4)
    affine[:3, :3] = Rotation.from_euler("xyz", [6, -9, 15], degrees=True).as_matrix() @ np.diag([-0.9, -0.7, 2.5])
    affine[:3, 3] = (12.5, -40.25, 7.0)
    return affine


def test_volume_to_image_round_trips_and_matches_simpleitk_reading_the_file(tmp_path):
    import SimpleITK as sitk

    from breastmri.data.io import Volume, load_volume, save_nifti
    from breastmri.slices.resample import read_image, to_array, volume_to_image

    array = np.random.default_rng(0).random((7, 5, 4)).astype(np.float32)
    volume = Volume(array, _oblique_affine(), "P1")
    image = volume_to_image(volume)
    np.testing.assert_array_equal(to_array(image), array)
    sitk.WriteImage(image, str(tmp_path / "back.nii.gz"))
    back = load_volume(tmp_path / "back.nii.gz")
    np.testing.assert_array_equal(back.array, array)
    np.testing.assert_allclose(back.affine, volume.affine, atol=1e-5)
    # a file's Volume converted gives the image SimpleITK reads from the file
    path = save_nifti(array, volume.affine, tmp_path / "v.nii.gz")
    converted, read = volume_to_image(load_volume(path)), read_image(path)
    np.testing.assert_array_equal(to_array(converted), to_array(read))
    for get in ("GetOrigin", "GetSpacing", "GetDirection"):
        np.testing.assert_allclose(getattr(converted, get)(), getattr(read, get)(), atol=1e-5)


def test_resample_case_takes_volumes_and_dicom_phases_like_phase_files(tmp_path):
    from breastmri.data.dicom import list_dicom_phases, load_dicom_phases
    from breastmri.data.io import save_nifti
    from breastmri.phantom.dicom import write_dicom_series

    rng = np.random.default_rng(1)
    write_dicom_series(tmp_path / "dce", rng.integers(0, 1000, (9, 7, 5, 2)).astype(np.int16), _oblique_affine(),
                       seed="resample")
    volumes = load_dicom_phases(tmp_path / "dce")
    files = [save_nifti(v.array, v.affine, tmp_path / f"p{k}.nii.gz") for k, v in enumerate(volumes)]
    mask = save_nifti((volumes[0].array > 500).astype(np.uint8), volumes[0].affine, tmp_path / "m.nii.gz")
    pad = [None] * 4
    expected, expected_mask, shape = resample_case(files + pad, mask, spacing=1.0)
    for phases in (volumes, list_dicom_phases(tmp_path / "dce")):
        got, got_mask, got_shape = resample_case(list(phases) + pad, mask, spacing=1.0)
        assert got_shape == shape and got[2:] == pad
        np.testing.assert_array_equal(got_mask, expected_mask)
        for a, b in zip(got[:2], expected[:2]):
            np.testing.assert_allclose(a, b, atol=1e-3)


def test_a_breast_box_crops_or_masks_as_the_challenge_code_indexes_it(tmp_path):
    """A volume of a known asymmetric shape (24, 20, 40) and distinct voxel values; the box x 5-35, y 3-15, z 2-10
    (x only fits the 40-voxel axis k). The challenge's code masks sitk.GetArrayFromImage(image)[x_min:x_max,
    y_min:y_max, z_min:z_max]; mask gives exactly that, crop exactly its voxels at their world positions."""
    import SimpleITK as sitk

    array = np.arange(24 * 20 * 40, dtype=np.float32).reshape(24, 20, 40) + 1.0
    image = phase_image(save(array, (1.5, 1.2, 1.0), tmp_path / "case_0000.nii.gz"))
    box = BreastBox(tmp_path / "case.json", ((2, 10), (3, 15), (5, 35)))  # z, y, x: along voxel axes i, j, k
    official = np.zeros_like(sitk.GetArrayFromImage(image))  # what the challenge's code keeps
    official[5:35, 3:15, 2:10] = sitk.GetArrayFromImage(image)[5:35, 3:15, 2:10]
    masked = within_box(image, box, "mask")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(masked), official)
    assert masked.GetOrigin() == image.GetOrigin() and masked.GetSize() == image.GetSize()
    cropped = within_box(image, box, "crop")
    np.testing.assert_array_equal(sitk.GetArrayFromImage(cropped).transpose(2, 1, 0), array[2:10, 3:15, 5:35])
    assert cropped.GetOrigin() == image.TransformIndexToPhysicalPoint((2, 3, 5))
    assert within_box(image, box, "ignore") is image and within_box(image, None, "crop") is image
    with pytest.raises(DataError, match=r"case.json: breast box beyond the image"):
        within_box(image, BreastBox(tmp_path / "case.json", ((5, 35), (3, 15), (2, 10))), "crop")  # axes swapped
    _, _, shape = resample_case([tmp_path / "case_0000.nii.gz"], None, 1.0, box, "crop")
    assert shape == (round(12 * 1.2), round(8 * 1.5), 30)  # the box in mm on the working axes A (j), L (i), S (k)
