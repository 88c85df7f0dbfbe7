"""One patient in memory: the three affine modes, verify's contradiction check, the decimated path, the mask's own
frame, alignment steps, mask placement QC and bad input named by file."""

import numpy as np
import pytest

from breastmri.data.errors import DataError
from breastmri.data.io import Volume
from breastmri.orientation import heuristics as h
from breastmri.orientation.frame import frame_affine, from_working, working_affine
from breastmri.orientation.orient import (HeuristicSettings, mask_alignment_steps, mask_placement, orient_pair,
                                          orient_scan, orient_scan_anatomy)
from breastmri.orientation.record import MARGINS, to_original_frame, to_oriented_frame
from breastmri.phantom.anatomy import Style, make_case
from breastmri.phantom.clinical import draw_patients, lesion_for
from breastmri.phantom.storage import scanner_storage

from .synth import (SPACING, anatomy, diag_affine, mask_flipped, ornt_of_codes, scan_aligned, seed_ornt,
                    store_named)


def _volume(array, affine=None, name="Breast_MRI_001", path=None):
    return Volume(array=np.asarray(array), affine=diag_affine() if affine is None else affine, patient_id=name,
                  path=path)


@pytest.fixture(scope="module")
def body():
    return anatomy(21)


ALS = frame_affine(SPACING)  # an affine that claims the stored array is already in the working frame


def test_affine_modes_on_a_file_whose_affine_lies(body):
    """Planted swap + up/down under an affine claiming A, L, S: trust keeps the frame silently, verify keeps it
    and names the contradiction, ignore corrects it."""
    scan, _ = body
    stored = from_working(scan, seed_ornt(swap=True, flip_ud=True))
    trusted, t_record = orient_scan(_volume(stored, ALS), affine_mode="trust")
    verified, v_record = orient_scan(_volume(stored, ALS), affine_mode="verify")
    ignored, i_record = orient_scan(_volume(stored, ALS), affine_mode="ignore")
    assert np.array_equal(trusted, stored) and np.array_equal(verified, stored)
    for record in (t_record, v_record):
        assert (record.scan_swap, record.scan_flip_ud, record.scan_flip_hf) == (False, False, False)
    assert t_record.problems == ()
    assert [p.split(" (")[0] for p in v_record.problems] == ["affine contradicts the anatomy: scan_swap",
                                                              "affine contradicts the anatomy: scan_flip_ud"]
    assert (i_record.scan_swap, i_record.scan_flip_ud, i_record.scan_flip_hf) == (True, True, False)
    assert i_record.problems == () and np.array_equal(ignored, scan)
    assert t_record.margins == v_record.margins  # the heuristics ran in both, on the same frame array
    assert set(i_record.margins) == {"scan_swap", "scan_flip_ud", "scan_flip_hf"}
    with pytest.raises(ValueError, match="affine_mode"):
        orient_scan(_volume(stored), affine_mode="guess")


def test_trust_follows_a_diagonal_ras_affine(body):
    """The seed's plain diagonal affine says R, A, S: trusted, it reverses the stored axis 0 and exchanges the
    in-plane axes -- right for a file stored R, A, S, wrong for the seed's (which is why the seed is 'ignore')."""
    scan, _ = body
    ras = from_working(scan, ornt_of_codes("RAS"))
    trusted, record = orient_scan(_volume(ras, diag_affine()), affine_mode="verify")
    assert np.array_equal(trusted, scan) and record.problems == ()
    seed_like = from_working(scan, seed_ornt(swap=True, flip_ud=True))  # stored axes L, P, S
    trusted, record = orient_scan(_volume(seed_like, diag_affine()), affine_mode="verify")
    assert np.array_equal(trusted, scan[::-1, ::-1])  # only left-right and up/down differ from the truth
    assert [p.split(" (")[0] for p in record.problems] == ["affine contradicts the anatomy: scan_flip_ud"]


@pytest.mark.parametrize("plant,name", [(dict(flip_ud=True), "scan_flip_ud"), (dict(flip_hf=True), "scan_flip_hf")])
def test_verify_names_each_contradicted_decision(body, plant, name):
    scan, _ = body
    stored = from_working(scan, seed_ornt(**plant))
    _, record = orient_scan(_volume(stored, ALS), affine_mode="verify")
    assert len(record.problems) == 1 and record.problems[0].startswith(f"affine contradicts the anatomy: {name}")
    _, truthful = orient_scan(_volume(scan, ALS), affine_mode="verify")
    assert truthful.problems == ()


def test_verify_does_not_contradict_when_the_outline_is_not_closed():
    """Without a closed body outline the heuristics cannot be trusted, so they do not overrule the affine."""
    scan, _ = anatomy(22, open_outline=True)
    for stored in (scan, scan[::-1]):
        _, record = orient_scan(_volume(np.ascontiguousarray(stored), ALS), affine_mode="verify")
        assert record.solidity < HeuristicSettings().min_solidity and record.problems == ()
    _, ignored = orient_scan(_volume(scan), affine_mode="ignore")
    assert any("body outline not closed" in p for p in ignored.problems)


def test_ignore_mode_affine_and_spacing():
    scan, _ = anatomy(23)
    spacing = (2.2, 1.8, 4.0)  # working spacing; stored with the swap: stored axis 0 has 1.8 mm
    stored = from_working(scan, seed_ornt(swap=True, flip_hf=True))
    oriented, record = orient_scan(_volume(stored, np.diag([1.8, 2.2, 4.0, 1.0])), affine_mode="ignore")
    assert np.array_equal(oriented, scan)
    assert record.working_spacing == spacing
    assert np.allclose(record.oriented_affine(), frame_affine(spacing))
    assert np.array_equal(to_original_frame(oriented, record), stored)
    view = to_original_frame(oriented, record, copy=False)  # the same array as a view of the oriented one
    assert np.array_equal(view, stored) and np.shares_memory(view, oriented)
    assert not np.shares_memory(to_original_frame(oriented, record), oriented)


def test_trust_mode_carries_the_files_affine(body):
    scan, _ = body
    stored, affine, ornt = store_named(scan, "oblique")
    oriented, record = orient_scan(_volume(stored, affine), affine_mode="trust")
    assert np.array_equal(oriented, scan)
    assert np.allclose(record.oriented_affine(), working_affine(affine, stored.shape, ornt))


def test_decimated_path_on_a_fine_matrix():
    """1 mm pixels: the decisions run on a 2 mm copy; the outputs are full resolution and exact."""
    scan, mask = anatomy(24, shape=(96, 88, 20), offset=6)
    ornt = seed_ornt(swap=True, flip_ud=True, flip_hf=True)
    affine = np.diag([1.0, 1.0, 4.0, 1.0])
    s = _volume(from_working(scan, ornt), affine)
    m = _volume(from_working(mask_flipped(mask, True, True), ornt), affine)
    oriented, oriented_mask, record = orient_pair(s, m, affine_mode="ignore")
    assert record.flips() == dict(scan_swap=True, scan_flip_ud=True, scan_flip_hf=True, mask_flip_ud=True,
                                  mask_flip_lr=True)
    assert record.problems == ()
    assert np.array_equal(oriented, scan) and np.array_equal(oriented_mask, mask)


def test_mask_stored_in_its_own_orientation(body):
    """trust/verify: the mask reaches the frame through its OWN affine (a file stored otherwise than its scan)."""
    scan, mask = body
    s, s_affine, _ = store_named(scan, "LPS")
    m, m_affine, _ = store_named(mask_flipped(mask, flip_lr=True), "sagittal")
    oriented, oriented_mask, record = orient_pair(_volume(s, s_affine), _volume(m, m_affine), affine_mode="verify")
    assert (record.mask_flip_ud, record.mask_flip_lr) == (False, True) and record.problems == ()
    assert np.array_equal(record.mask_frame_ornt, ornt_of_codes("PIR")) and np.array_equal(oriented_mask, mask)
    assert np.array_equal(to_original_frame(oriented_mask, record, kind="mask"), m)
    # mapped back to the scan file (what a prediction needs), the aligned mask is the truth in the scan's frame
    assert np.array_equal(to_original_frame(oriented_mask, record), store_named(mask, "LPS")[0])


def test_orient_pair_record_qc_and_outputs(body):
    scan, mask = body
    ornt = seed_ornt(flip_ud=True, mirror_lr=True)
    s, m = _volume(from_working(scan, ornt)), _volume(from_working(mask_flipped(mask, flip_ud=True), ornt))
    oriented, oriented_mask, record = orient_pair(s, m, affine_mode="ignore")
    assert oriented_mask.dtype == np.uint8 and set(np.unique(oriented_mask)) == {0, 1}
    assert np.array_equal(oriented, scan_aligned(scan, True)) and np.array_equal(oriented_mask,
                                                                                 scan_aligned(mask, True))
    assert record.split == "train" and record.has_mask and set(record.margins) == set(MARGINS)
    assert record.qc["inside_body"] == 1.0 and record.qc["front_covered"] == 1.0 and record.mask_cost < 0.35
    assert min(record.margins.values()) > 0.1
    # the mask kind restores the stored (defective) mask file exactly
    assert np.array_equal(to_original_frame(oriented_mask, record, kind="mask"), m.array)


def test_orient_pair_lists_undecidable_and_misplaced_masks():
    scan, mask = anatomy(25, symmetric=True, offset=0)
    _, _, record = orient_pair(_volume(scan), _volume(mask), affine_mode="ignore")
    assert [p.split(" (")[0] for p in record.problems] == ["mask_flip_lr undecidable"]
    scan, mask = anatomy(25)
    in_air = np.zeros_like(mask)
    in_air[40:, :6, 6:14] = 1  # beside the breasts, in the air: no candidate fits
    _, _, record = orient_pair(_volume(scan), _volume(in_air), affine_mode="ignore")
    assert any(p.startswith("mask lies outside the body") for p in record.problems), record.problems


def test_bare_array_is_taken_as_stored_with_identity_affine(body):
    scan, _ = body
    oriented, record = orient_scan(np.ascontiguousarray(scan[::-1]), affine_mode="ignore")
    assert record.scan_flip_ud and np.array_equal(oriented, scan)
    assert record.patient_id == "" and record.source_scan is None


def test_mask_alignment_steps(body):
    scan, mask = body
    ornt = seed_ornt(swap=True, flip_hf=True)
    s = _volume(from_working(scan, ornt))
    m = _volume(from_working(mask_flipped(mask, True, True), ornt))
    oriented, oriented_mask, record = orient_pair(s, m, affine_mode="ignore")
    steps = mask_alignment_steps(s, m, record)
    assert list(steps) == ["frame only", "after the scan's corrections", "after mask alignment"]
    assert np.array_equal(steps["frame only"][0], s.array) and np.array_equal(steps["frame only"][1], m.array > 0)
    assert np.array_equal(steps["after the scan's corrections"][0], oriented)
    assert np.array_equal(steps["after the scan's corrections"][1], mask_flipped(mask, True, True) > 0)
    assert np.array_equal(steps["after mask alignment"][0], oriented)
    assert np.array_equal(steps["after mask alignment"][1], oriented_mask > 0)


def test_mask_placement_without_truth(body):
    scan, mask = body
    good = mask_placement(scan, mask, SPACING)
    assert good["problems"] == [] and good["inside_body"] == 1.0 and good["front_covered"] == 1.0
    on_back = mask_placement(scan, mask[::-1], SPACING)
    assert any(p.startswith("mask is not the anterior body") for p in on_back["problems"])
    in_air = np.zeros_like(mask)
    in_air[44:, :4] = 1
    assert any(p.startswith("mask lies outside the body") for p in mask_placement(scan, in_air, SPACING)["problems"])
    assert "mask is empty" in mask_placement(scan, np.zeros_like(mask), SPACING)["problems"]
    # a blob in the right place but far too small for a breast: under min_breast_ml and a tiny share of the body
    # (this toy body is child-sized: its whole breast mask, 48 ml but 10-30% of the body, is not flagged)
    blob = np.zeros_like(mask)
    blob.flat[np.flatnonzero(mask)[: max(1, int(0.03 * mask.sum()))]] = 1
    small = mask_placement(scan, blob, SPACING)
    assert small["volume_ml"] == pytest.approx(blob.sum() * np.prod(SPACING) / 1000, rel=1e-3)
    assert good["volume_ml"] < HeuristicSettings().min_breast_ml and good["body_share"] > 0.05
    assert small["body_share"] < 0.05
    assert any(p.startswith("mask volume") and "implausibly small" in p for p in small["problems"])


def test_bad_input_raises_data_error_naming_the_file(tmp_path, body):
    scan, mask = body
    path = tmp_path / "Breast_MRI_009.nii.gz"
    with pytest.raises(DataError, match="Breast_MRI_009.nii.gz: scan is constant"):
        orient_scan(_volume(np.ones((8, 8, 8), np.float32), path=path))
    nan = scan.copy()
    nan[0, 0, 0] = np.nan
    with pytest.raises(DataError, match="Breast_MRI_009.nii.gz: scan holds NaN"):
        orient_scan(_volume(nan, path=path))
    with pytest.raises(DataError, match="expected a 3D scan"):
        orient_scan(_volume(scan[:, :, 0], path=path))
    mpath = tmp_path / "mask.nii.gz"
    with pytest.raises(DataError, match="mask.nii.gz: mask is empty"):
        orient_pair(_volume(scan), _volume(np.zeros_like(mask), path=mpath))
    with pytest.raises(DataError, match="mask.nii.gz: mask shape"):
        orient_pair(_volume(scan), _volume(mask[:, :, :-1], path=mpath))
    with pytest.raises(DataError, match="mask.nii.gz: expected a 3D mask"):
        orient_pair(_volume(scan), _volume(mask[:, :, 0], path=mpath))
    with pytest.raises(DataError, match="Breast_MRI_009.nii.gz: the affine is not finite or not invertible"):
        orient_scan(_volume(scan, np.zeros((4, 4)), path=path), affine_mode="verify")


def test_settings_are_validated():
    with pytest.raises(ValueError, match="n_slices"):
        HeuristicSettings(n_slices=0)
    for bad in (0.0, 0.7):
        with pytest.raises(ValueError, match="end_fraction"):
            HeuristicSettings(end_fraction=bad)
    with pytest.raises(ValueError, match="min_margin"):
        HeuristicSettings(min_margin={"scan_swap": 0.1})
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="breast_smoothing_mm"):
            HeuristicSettings(breast_smoothing_mm=bad)
    settings = HeuristicSettings(min_margin={name: 1 for name in MARGINS})
    assert settings.min_margin == {name: 1.0 for name in MARGINS}
    assert all(isinstance(v, float) for v in settings.min_margin.values())
    assert settings.to_dict()["min_margin"] == {name: 1.0 for name in MARGINS}
    assert HeuristicSettings() == HeuristicSettings(**HeuristicSettings().to_dict())


def test_min_margin_decides_what_is_undecidable(body):
    scan, _ = body
    strict = HeuristicSettings(min_margin={**{name: 0.05 for name in MARGINS}, "scan_flip_ud": 0.99})
    stored = np.ascontiguousarray(scan[::-1])
    oriented, record = orient_scan(_volume(stored), strict, affine_mode="ignore")
    assert [p.split(" (")[0] for p in record.problems] == ["scan_flip_ud undecidable"]
    # still applied as decided (the stage decides what to do with the patient)
    assert record.scan_flip_ud is True and np.array_equal(oriented, scan)


# --- the outline computed while orienting, reused by the placement QC, gives exactly the recomputed result --------
REUSE_CASES = [  # (storage, affine mode): no correction (trust, verify, an identity frame) and corrections (ignore)
    ("LPS", "verify"), ("oblique", "trust"), ("sagittal", "verify"), ("ALS", "verify"),
    (dict(swap=True, flip_ud=True), "ignore"), (dict(flip_hf=True), "ignore"), (dict(), "ignore"),
    (dict(swap=True, flip_ud=True), "verify"),
]


@pytest.mark.parametrize("storage,mode", REUSE_CASES)
def test_orient_scan_anatomy_and_reused_placement_equal_the_recomputed_ones(storage, mode):
    from breastmri.orientation.orient import orient_scan_anatomy
    from breastmri.orientation.record import to_oriented_frame

    scan, mask = anatomy(25, shape=(96, 88, 20), offset=6)  # 1 mm pixels: the decimated path
    spacing = (1.0, 1.0, 4.0)
    if isinstance(storage, str):
        stored, affine, ornt = store_named(scan, storage, spacing)
    else:
        ornt = seed_ornt(**storage)
        stored, affine = from_working(scan, ornt), frame_affine(spacing) if mode == "verify" else diag_affine(spacing)
    volume = _volume(stored, affine)
    oriented, record = orient_scan(volume, affine_mode=mode)
    oriented2, record2, anatomy_ = orient_scan_anatomy(volume, affine_mode=mode)
    assert record2 == record
    assert oriented2.dtype == oriented.dtype and oriented2.flags.c_contiguous
    assert np.array_equal(oriented2, oriented)
    assert np.array_equal(oriented, to_oriented_frame(volume.array, record))
    settings = HeuristicSettings()
    mask = to_oriented_frame(from_working(mask, ornt), record)  # the mask where the scan went (a planted defect
    for candidate in (mask, mask[::-1], np.zeros_like(mask), np.roll(mask, 7, axis=1)):  # kept by verify too)
        expected = mask_placement(oriented, candidate, record.working_spacing, settings)
        assert mask_placement(oriented, candidate, record.working_spacing, settings, anatomy=anatomy_) == expected


def test_a_reused_anatomy_must_be_that_of_the_scan(body):
    from breastmri.orientation.orient import orient_scan_anatomy

    scan, mask = body
    oriented, record, anatomy_ = orient_scan_anatomy(_volume(scan, ALS), affine_mode="verify")
    with pytest.raises(ValueError, match="anatomy was computed"):
        mask_placement(oriented[:-1], mask[:-1], record.working_spacing, anatomy=anatomy_)
    with pytest.raises(ValueError, match="anatomy was computed"):
        mask_placement(oriented, mask, (1.0, 1.0, 1.0), anatomy=anatomy_)


@pytest.mark.parametrize("faded_axis, noise", [(None, 0.0), (2, 0.0), (None, 0.07)])
def test_mask_placement_of_a_breast_only_view_with_fat_near_the_noise_floor(faded_axis, noise):
    """A phantom sagittal breast-only view whose fat lies near the noise floor (strong fat suppression): the
    axial outline loses the dark breast fat, the QC's envelope keeps it, so the true breast mask passes, and the
    same mask flipped onto the chest wall or moved 3 cm into the air in front still fails. The same with the
    signal faded over the 4 planes at both ends of the stored left-right axis (61 sagittal slices), as a
    reconstruction's roll-off leaves it: the air threshold ignores the faded planes (without that the body took
    in the air in front of the breast, and the true mask covered 59% of the body in front of it). The same with
    Rician noise of 7% of the 99th percentile added (as noisy as the real NACT exams): the fat sinks into the
    noise and only the skin in front of it is left (without :func:`~breastmri.orientation.heuristics.behind_skin`
    the true mask lay 81% inside the envelope and failed)."""
    rng = np.random.default_rng(3)
    style = Style(acquisition="sagittal", bilateral=False, fov="breast", contrast="dark_fat")
    case = make_case(rng, lesion_for(rng, draw_patients(rng, 1)[0]), n_phases=2, phases=(0,), style=style)
    storage = scanner_storage(case.grid.spacing, case.grid.shape, "PIR")
    stored = storage.store(case.phases[0]).astype(np.float32)
    if noise:
        sigma, noise_rng = noise * np.percentile(stored, 99), np.random.default_rng(0)
        stored = np.hypot(stored + noise_rng.normal(0, sigma, stored.shape), noise_rng.normal(0, sigma, stored.shape))
    if faded_axis is not None:
        weight = np.ones(stored.shape[faded_axis], np.float32)
        weight[:4] = weight[-4:][::-1] = np.linspace(0.0, 1.0, 6)[1:-1]
        stored *= weight.reshape([-1 if axis == faded_axis else 1 for axis in range(3)])
    volume = Volume(stored, storage.affine, "case")
    oriented, record, anatomy = orient_scan_anatomy(volume, affine_mode="trust")
    truth = to_oriented_frame(storage.store(case.breast_mask), record) > 0
    assert h.placement(anatomy.body, anatomy.decimate(truth))["inside_body"] < 0.6  # the axial outline alone
    good = mask_placement(oriented, truth, record.working_spacing, anatomy=anatomy)
    assert good["problems"] == [] and good["inside_body"] > 0.95 and good["front_covered"] > 0.9
    flipped = mask_placement(oriented, truth[::-1], record.working_spacing, anatomy=anatomy)
    assert any(p.startswith("mask is not the anterior body") for p in flipped["problems"])
    in_air = np.roll(truth, int(30 / record.working_spacing[0]), axis=0) & ~truth
    assert any(p.startswith("mask lies outside the body")
               for p in mask_placement(oriented, in_air, record.working_spacing, anatomy=anatomy)["problems"])
