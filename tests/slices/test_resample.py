import nibabel as nib
import numpy as np
import pytest

from breastmri.data.errors import DataError
from breastmri.slices.resample import resample_case
from .synth import save


def test_identity_grid_keeps_array_and_axis_order(tmp_path):
    a = np.random.default_rng(0).random((4, 5, 6)).astype(np.float32)
    p = save(a, (1.0, 1.0, 1.0), tmp_path / "a.nii.gz")
    phases, mask, shape = resample_case([p, None, None, None, None, None], p)
    assert shape == (4, 5, 6) and np.allclose(phases[0], a, atol=1e-6)
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
    assert shape == (20, 8, 15)
    assert np.allclose(phases[0][:19, 4, 7], np.arange(19))               # linear: exact on a ramp
    assert np.allclose(phases[1][1:19, 4, 7], np.arange(1, 19))           # world x again
    assert set(np.unique(mask)) == {0, 1} and mask.sum() > 0               # nearest: still binary


def test_missing_first_phase_and_bad_file(tmp_path):
    with pytest.raises(DataError):
        resample_case([None] * 6, None)
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"not a nifti")
    with pytest.raises(DataError, match="bad.nii.gz"):
        resample_case([bad] + [None] * 5, None)
