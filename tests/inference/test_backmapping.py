"""Acceptance 2: a mask predicted on a flipped, non-square, LPS-stored scan opens aligned with it."""

import nibabel as nib
import numpy as np
import pytest
from inference_helpers import VARIANTS, IdentityNet, phantom_like, store, threshold_predictor

from breastmri.data.io import Volume, load_volume, save_nifti
from breastmri.inference.candidates import CandidateRule
from breastmri.inference.evaluation import dice
from breastmri.inference.predictor import Preprocessing, SlicePredictor
from breastmri.inference.scan import predict_scan, segment_breast
from breastmri.orientation.frame import frame_affine
from breastmri.orientation.orient import HeuristicSettings, orient_scan

RULE = CandidateRule(percentile=98.0, core_mm=0.0, skin_margin_mm=0.0, max_bulk_ratio=0.5)  # the tumour candidate's


def _run(tmp_path, predict, storage, ud, hf, threshold=0.5):
    scan, breast, lesion = phantom_like()
    (s, b, l), affine = store([scan, breast, lesion], storage, ud, hf)
    path = tmp_path / f"{storage}_{ud}_{hf}.nii.gz"
    save_nifti(s, affine, path)
    volume = load_volume(path, "Breast_MRI_001")
    result = predict_scan(volume, predict, threshold, rule=RULE)
    out = tmp_path / f"{storage}_{ud}_{hf}_breast.nii.gz"
    save_nifti(result.breast, volume.affine, out)
    written = nib.load(str(out))
    assert written.shape == nib.load(str(path)).shape == s.shape
    np.testing.assert_array_equal(written.affine, nib.load(str(path)).affine)
    back = np.asarray(written.dataobj)
    return dice(back, b), dice(result.tumor, l), result


@pytest.mark.parametrize("predict_kind", ["threshold", "identity-model"])
def test_dice_unchanged_by_storage_orientation(tmp_path, predict_kind):
    if predict_kind == "threshold":
        predict = threshold_predictor
    else:
        predict = SlicePredictor(IdentityNet(), Preprocessing("breast", size=32), threshold=0.5).predict_breast
    results = {(st, ud, hf): _run(tmp_path, predict, st, ud, hf) for _, st, ud, hf in VARIANTS}
    breast_dices = {k: v[0] for k, v in results.items()}
    reference = breast_dices[("diag", False, False)]
    assert reference > (0.95 if predict_kind == "threshold" else 0.5)
    for key, value in breast_dices.items():
        assert value == pytest.approx(reference, abs=1e-12), key
    for key, (_, tumor_dice, _) in results.items():
        assert tumor_dice > 0.5, key


def test_flipped_nonsquare_lps_identical_to_diag(tmp_path):
    """The same anatomy stored flipped + LPS gives, voxel for voxel, the diag prediction re-stored: the affine
    alone places it (no heuristic change)."""
    d, _, diag = _run(tmp_path, threshold_predictor, "diag", False, False)
    f, _, flipped = _run(tmp_path, threshold_predictor, "lps", True, True)
    assert flipped.breast.shape == (48, 40, 20)
    (expected,), _ = store([diag.breast], "lps", True, True)
    np.testing.assert_array_equal(flipped.breast, expected)
    assert not any(flipped.record.flips()[name] for name in ("scan_swap", "scan_flip_ud", "scan_flip_hf"))
    assert flipped.record.problems == ()
    assert d == f


def test_breast_predictor_shapes_and_prob_range():
    scan, breast, _ = phantom_like()
    predictor = SlicePredictor(IdentityNet(), Preprocessing("breast", size=32), threshold=0.5, batch_size=7)
    prob = predictor.predict_breast(scan)
    assert prob.shape == scan.shape and prob.dtype == np.float32
    assert 0.0 <= prob.min() and prob.max() <= 1.0
    mask = predictor.binarize(prob)
    assert mask.dtype == np.uint8 and dice(mask * (np.arange(48)[:, None, None] >= 24), breast) > 0.8


def test_record_must_match_file(tmp_path):
    from breastmri.data.errors import DataError

    scan, _, _ = phantom_like()
    affine = frame_affine((0.8, 0.7, 2.5))  # an affine that describes this anatomy
    _, record = orient_scan(Volume(scan, affine, "x"))
    other = Volume(scan[:, :-1], affine, "x", path=tmp_path / "x.nii.gz")
    with pytest.raises(DataError, match="orientation record"):
        predict_scan(other, threshold_predictor, 0.5, record=record, rule=RULE)
    # the stored record reproduces the in-process decision
    same = Volume(scan, affine, "x")
    a = predict_scan(same, threshold_predictor, 0.5, record=record, rule=RULE)
    b = predict_scan(same, threshold_predictor, 0.5, rule=RULE)
    np.testing.assert_array_equal(a.breast, b.breast)


def test_verify_refuses_an_affine_that_contradicts_the_anatomy(tmp_path):
    """The seed's convention (diag affine, anterior-posterior on axis 0) is not what such an affine says: verify
    mode stops with the file named. Ignore mode decides from the anatomy, and refuses what it cannot decide:
    this volume has no lungs, so head-foot is undecidable."""
    from breastmri.data.errors import DataError

    scan, breast, _ = phantom_like()
    lying = Volume(scan, np.diag([0.8, 0.7, 2.5, 1.0]), "x", path=tmp_path / "x.nii.gz")
    with pytest.raises(DataError, match="x.nii.gz: cannot place the scan.*affine contradicts the anatomy"):
        predict_scan(lying, threshold_predictor, 0.5, rule=RULE)
    with pytest.raises(DataError, match="x.nii.gz: cannot place the scan.*scan_flip_hf undecidable"):
        predict_scan(lying, threshold_predictor, 0.5, affine_mode="ignore", rule=RULE)


def test_inference_gets_the_working_frame_spacing_of_a_sagittal_file(tmp_path):
    """A file stored P, I, R (sagittal: 0.7 mm in-plane, 2 mm slices): the breast model must be handed the
    working frame's spacing (A 0.7, L 2.0, S 0.7 mm), the one the training slices were prepared with, not the
    stored order's."""
    scan, _, _ = phantom_like()
    affine = np.array([[0.0, 0.0, 2.0, 0.0], [-0.7, 0.0, 0.0, 0.0], [0.0, -0.7, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    stored = np.ascontiguousarray(scan.transpose(0, 2, 1)[::-1, ::-1])  # any array: only the geometry matters
    path = tmp_path / "sag.nii.gz"
    save_nifti(stored, affine, path)
    volume = load_volume(path, "Breast_MRI_002")
    assert "".join(nib.aff2axcodes(volume.affine)) == "PIR"
    seen = []

    def predict(oriented, spacing):
        seen.append((np.shape(oriented), tuple(round(float(s), 4) for s in spacing)))
        return np.zeros(np.shape(oriented), np.float32)

    result = predict_scan(volume, predict, 0.5, affine_mode="trust", rule=RULE)
    (shape, spacing), = seen
    assert spacing == (0.7, 2.0, 0.7) and shape == (stored.shape[0], stored.shape[2], stored.shape[1])
    assert result.breast.shape == stored.shape


def test_findings_do_not_depend_on_the_scans_memory_layout():
    """The candidate and the features read the scan as it is stored in memory (nibabel: Fortran order) without a
    C-ordered copy: a scan held in C order gives the same candidate and the same features to the last bit."""
    scan, _, _ = phantom_like()
    (s,), affine = store([scan], "lps", True, False)
    rule = CandidateRule(percentile=98.0, core_mm=2.0, skin_margin_mm=1.0, max_bulk_ratio=0.5)
    runs = [predict_scan(Volume(layout(s.astype(np.float32)), affine, "p"), threshold_predictor, 0.5, rule=rule)
            for layout in (np.asfortranarray, np.ascontiguousarray)]
    assert runs[0].tumor.any() and np.array_equal(runs[0].tumor, runs[1].tumor)
    assert runs[0].features.keys() == runs[1].features.keys()
    for name, value in runs[0].features.items():
        assert np.array_equal(value, runs[1].features[name], equal_nan=True), name


def test_flickering_slices_are_filled_across_the_working_frame_slices(tmp_path):
    """A model that misses every third axial slice of a sagittal file (0.7 mm apart in the working frame): smoothed
    across them by the default 2 mm, the missed slices come back (all but the outline's end slices) and nothing is
    added; unsmoothed (0 mm) a third of the breast stays missing."""
    scan, _, _ = phantom_like()
    affine = np.array([[0.0, 0.0, 2.0, 0.0], [-0.7, 0.0, 0.0, 0.0], [0.0, -0.7, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    path = tmp_path / "sag.nii.gz"
    save_nifti(np.ascontiguousarray(scan.transpose(0, 2, 1)[::-1, ::-1]), affine, path)
    volume = load_volume(path, "Breast_MRI_002")

    def flickering(oriented, spacing):
        prob = threshold_predictor(oriented)
        prob[:, :, 1::3] = 0.0
        return prob

    off = HeuristicSettings(breast_smoothing_mm=0.0)
    steady = segment_breast(volume, lambda o, s: threshold_predictor(o), 0.5, settings=off, affine_mode="trust").breast
    raw = segment_breast(volume, flickering, 0.5, settings=off, affine_mode="trust").breast
    smoothed = segment_breast(volume, flickering, 0.5, affine_mode="trust").breast
    assert raw.sum() < 0.7 * steady.sum() and smoothed.sum() > 0.85 * steady.sum()
    assert not (smoothed & ~steady).any() and not (raw & ~steady).any()
