"""End-to-end builds on small inputs: schema, split, lesion selection rules, missing phases."""

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from breastmri.data.errors import DataError
from breastmri.data.io import load_volume
from breastmri.slices.breast import prepare_volume
from breastmri.slices.lesion import prepare_phase_slices
from breastmri.inference.predictor import SlicePredictor, h5_preprocessing
from breastmri.slices.build import build_breast_h5, build_lesion_h5
from breastmri.slices.geometry import SliceGeometry, undo_resize_pad
from breastmri.slices.selection import distance_to_lesion
from breastmri.slices.resample import resample_case
from breastmri.slices.split import split_patients
from breastmri.data.layouts import MamaMiaLayout, channel_entries
from breastmri.slices.h5file import SliceFile

from .synth import LESION, SIX, make_mamamia_layout


def test_breast_file_schema_and_content(seed_root, tmp_path):
    out = tmp_path / "processed" / "breast.h5"
    summary = build_breast_h5(seed_root, out, size=32, val_fraction=0.4, seed=1, progress=False,
                              summary_path=tmp_path / "m.json")
    with h5py.File(out) as f:
        n = f["images"].shape[0]
        assert f["images"].shape == (n, 1, 32, 32) and f["images"].dtype == np.float32
        assert f["masks"].shape == (n, 1, 32, 32) and f["masks"].dtype == np.uint8
        assert f["images"].chunks == (1, 1, 32, 32) and f["masks"].chunks == (1, 1, 32, 32)
        assert f["images"].compression is None and f["masks"].compression == "gzip"  # defaults
        assert f["geometry"].shape == (n, 6) and "phase_present" not in f
        assert dict(f.attrs)["task"] == "breast" and f.attrs["size"] == 32 and f.attrs["channels"] == 1
        assert json.loads(f.attrs["params"])["size"] == 32
        pids = f["patient_id"].asstr()[:]
        val = f["is_validation"][:]
        slice_idx = f["slice_index"][:]
        # every slice of every patient, in order
        assert n == 5 + 4 + 3 + 4 + 6 == summary["n_slices"]
        # patient-level split: a patient is wholly in one split; and it is the recorded one
        for pid in set(pids):
            assert len(set(val[pids == pid])) == 1
        split = json.loads(f.attrs["split"])
        assert set(pids[val]) == set(split["validation"]) and set(pids[~val]) == set(split["train"])
        # the stored mask undone with the stored geometry recovers the original (32 >= 30: upsampling)
        pid = "Breast_MRI_004"
        rows = np.flatnonzero(pids == pid)
        original = load_volume(seed_root / "train" / "masks" / f"{pid}.nii.gz").array
        for r in rows:
            g = SliceGeometry.from_row(f["geometry"][r], 32)
            assert (g.orig_h, g.orig_w) == original.shape[:2]
            back = undo_resize_pad(f["masks"][r, 0], g, order=0)
            assert np.array_equal(back, original[:, :, slice_idx[r]] > 0)
        # inference preparation (prepare_volume) gives exactly the stored images
        scan = load_volume(seed_root / "train" / "scans" / f"{pid}.nii.gz").array
        prepared, g_all = prepare_volume(scan, 32)
        assert np.array_equal(prepared, f["images"][rows[0]:rows[-1] + 1]) and g_all == g
        img = f["images"][rows[2], 0]
        assert abs(float(img[g.window].mean())) < 2 and np.all(np.isfinite(img))
    assert json.loads((tmp_path / "m.json").read_text())["n_slices"] == n
    assert summary["patients"] == {"train": 3, "validation": 2}


def test_breast_split_is_identical_for_the_same_seed(seed_root, tmp_path):
    a = build_breast_h5(seed_root, tmp_path / "a.h5", size=16, seed=5, progress=False)
    b = build_breast_h5(seed_root, tmp_path / "b.h5", size=16, seed=5, progress=False, workers=2)
    assert a["split"] == b["split"]
    with h5py.File(tmp_path / "a.h5") as fa, h5py.File(tmp_path / "b.h5") as fb:
        for name in ("images", "masks", "patient_id", "slice_index", "is_validation", "geometry"):
            assert np.array_equal(fa[name][:], fb[name][:]), name  # 1 or 2 workers: same file content
    assert (tmp_path / "a.h5").read_bytes() == (tmp_path / "b.h5").read_bytes()  # byte-identical rebuild


def test_breast_missing_mask_is_an_error(seed_root, tmp_path):
    (seed_root / "train" / "masks" / "Breast_MRI_002.nii.gz").unlink()
    with pytest.raises(DataError, match="Breast_MRI_002"):
        build_breast_h5(seed_root, tmp_path / "x.h5", size=16, progress=False)
    assert not (tmp_path / "x.h5").exists()


def test_lesion_selection_rules_and_missing_phases(mamamia_root, tmp_path):
    """Acceptance 3: positives >= 20 px, negatives outside the exclusion distance, 1:1, zero channels."""
    out = tmp_path / "lesion.h5"
    excl = 6
    summary = build_lesion_h5(mamamia_root, out, **LESION, size=32, min_lesion_px=20, neg_exclusion_slices=excl,
                              neg_min_tissue_ratio=0.3, seed=0, progress=False)
    layout = MamaMiaLayout(mamamia_root)
    with h5py.File(out) as f:
        n = f["images"].shape[0]
        assert f["images"].shape == (n, 6, 32, 32) and f["images"].chunks == (1, 6, 32, 32)
        assert f["masks"].shape == (n, 1, 32, 32) and f["phase_present"].shape == (n, 6)
        assert "geometry" not in f
        areas = f["masks"][:].reshape(n, -1).sum(axis=1)
        pids, idx, present = f["patient_id"].asstr()[:], f["slice_index"][:], f["phase_present"][:]
        images = f["images"][:]
    pos, neg = areas >= 20, areas == 0
    assert np.all(pos | neg)                                  # every positive has >= 20 lesion px
    assert abs(int(pos.sum()) - int(neg.sum())) <= 1 and pos.sum() > 0
    assert summary["positives"] == pos.sum() and summary["negatives"] == neg.sum()
    for case in set(pids):
        _, mask, _ = resample_case([layout.phase_paths(case)[0]], layout.lesion_mask(case))
        dist = distance_to_lesion(mask.any(axis=(0, 1)))
        rows = pids == case
        assert np.all(dist[idx[rows & neg]] >= excl)           # negatives far from every lesion slice
        assert np.all(idx[rows & neg] >= 4) and np.all(idx[rows & neg] < 36)  # no air-only slices
    # no train/inference skew: the predictor's inputs for the case's files are exactly the stored slices
    entries = channel_entries(layout.phase_paths("CASE_002"), SIX)
    phases, _, _ = resample_case(entries, None)
    rows = pids == "CASE_002"
    prepared, present_c = prepare_phase_slices(phases, 32, idx[rows])
    assert np.array_equal(prepared, images[rows]) and np.array_equal(present_c, present[rows][0])
    predictor = SlicePredictor(torch.nn.Identity(), h5_preprocessing(out, "lesion"))
    inputs, geometry, _, _ = predictor.lesion_inputs(entries)
    assert inputs.shape[1:] == (6, 32, 32) and np.array_equal(inputs[idx[rows]], images[rows])
    # the phases 0 to 5 in order go unrecorded (the bytes of the files before the channel list); read as such
    with h5py.File(out) as f:
        assert "phases" not in json.loads(f.attrs["params"])
    assert SliceFile(out, "lesion").phases == SIX and summary["phases"] == SIX
    assert summary["cases_with_ignored_phases"] == 0 and summary["cases_with_missing_phases"] == 2
    assert summary["split_source"] == "seeded" and summary["test_cases"] == []  # no train_test_splits.csv
    # missing phases: CASE_001 lacks phase 3, CASE_002 lacks 2, 4, 5
    expected = {"CASE_000": [], "CASE_001": [3], "CASE_002": [2, 4, 5]}
    for case, missing in expected.items():
        rows = np.flatnonzero(pids == case)
        assert rows.size
        for c in range(6):
            assert np.all(present[rows, c] == (c not in missing))
            if c in missing:
                assert np.all(images[rows, c] == 0)
            else:
                assert np.any(images[rows, c] != 0)


def test_the_channel_list_picks_any_phases_in_its_order_is_recorded_and_gives_inference_the_stored_slices(tmp_path):
    """Channels = phases [0, 8, 3] of cases with 10, 6 (one missing) and 3 phases: a listed phase a case lacks is a
    zero channel marked absent, unlisted phases are ignored and counted, and the list is in the file."""
    root = make_mamamia_layout(tmp_path / "mamamia", n_cases=3, missing={1: [3]}, n_phases={0: 10, 2: 3})
    out = tmp_path / "lesion.h5"
    summary = build_lesion_h5(root, out, phases=[0, 8, 3], breast_box="ignore", size=32, min_lesion_px=20,
                              neg_exclusion_slices=6, neg_min_tissue_ratio=0.3, progress=False)
    source = SliceFile(out, "lesion")
    assert (source.channels, source.phases, source.params["phases"]) == (3, [0, 8, 3], [0, 8, 3])
    assert h5_preprocessing(source).phases == (0, 8, 3)
    images, masks = source.read("images", source.rows("all")), source.read("masks", source.rows("all"))
    expected = {"CASE_000": [True, True, True], "CASE_001": [True, False, False], "CASE_002": [True, False, False]}
    for case, present in expected.items():
        rows = source.patient_ids == case
        assert rows.any() and (source.phase_present[rows] == present).all()
        for c in range(3):
            assert np.any(images[rows, c] != 0) == present[c]
    assert summary["phases"] == [0, 8, 3] and summary["cases_with_missing_phases"] == 2
    assert summary["cases_with_ignored_phases"] == 3
    assert {c: i["phases_ignored"] for c, i in summary["per_case"].items()} == {"CASE_000": 7, "CASE_001": 4,
                                                                              "CASE_002": 2}
    # channel order: phase 8 (channel 1) enhances the lesion more than phase 3 (channel 2)
    rows = (source.patient_ids == "CASE_000") & (masks.reshape(source.n, -1).sum(axis=1) > 0)
    lesion = masks[rows, 0] > 0
    assert images[rows, 1][lesion].mean() > images[rows, 2][lesion].mean() > images[rows, 0][lesion].mean()
    # inference picks the recorded phases of the case's files and prepares exactly the stored slices
    predictor = SlicePredictor(torch.nn.Identity(), h5_preprocessing(out, "lesion"))
    entries = channel_entries(MamaMiaLayout(root).phase_paths("CASE_000"), predictor.preprocessing.phases)
    assert [e.name for e in entries] == ["CASE_000_0000.nii.gz", "CASE_000_0008.nii.gz", "CASE_000_0003.nii.gz"]
    inputs, _, _, _ = predictor.lesion_inputs(entries)
    assert np.array_equal(inputs[source.slice_indices[source.patient_ids == "CASE_000"]],
                          images[source.patient_ids == "CASE_000"])
    for bad in ([1, 0], [0, 0]):
        with pytest.raises(DataError, match="lesion channels: "):
            build_lesion_h5(root, tmp_path / "x.h5", phases=bad, breast_box="ignore", size=32, progress=False)
    assert not (tmp_path / "x.h5").exists()


def test_a_phantom_of_3_to_10_phase_cases_gives_the_channel_lists_shape_and_presence(tmp_path):
    """The phantom with the real data's phase mix stretched: 3-phase DUKE, 9-phase ISPY1 and 10-phase ISPY2 cases
    (one missing a middle phase's file); channels [0, 1, 2, 8, 9] are present exactly where the case has them."""
    from breastmri.phantom.synthesize import synthesize
    from breastmri.stages.synthesize import Config

    values = Config.from_params(Path(__file__).resolve().parents[2] / "params.yaml").updated(
        out_dir=tmp_path / "phantom", n_train=0, n_inference=0, n_mamamia=4).as_dict()
    cohorts = values["mamamia_cohorts"]
    for name, phases in (("DUKE", [3, 3]), ("ISPY1", [9, 9]), ("ISPY2", [10, 10])):
        cohorts[name] = {**cohorts[name], "phases": phases}
    synthesize(**values)
    records = json.loads((tmp_path / "phantom" / "truth" / "truth.json").read_text())["mamamia_layout"]["cases"]
    present = {case: record["phases_present"] for case, record in records.items()}
    assert sorted(map(len, present.values())) == [3, 3, 9, 10] and sum(not all(p) for p in present.values()) == 1
    channels, out = [0, 1, 2, 8, 9], tmp_path / "lesion.h5"
    summary = build_lesion_h5(tmp_path / "phantom" / "mamamia", out, phases=channels, breast_box="ignore", size=32,
                              progress=False)
    source = SliceFile(out, "lesion")
    assert source.read("images", source.rows("all")).shape == (source.n, 5, 32, 32) and source.phases == channels
    lacking = 0
    for case, here in present.items():
        expected = [k < len(here) and here[k] for k in channels]
        rows = source.patient_ids == case
        assert rows.any() and (source.phase_present[rows] == expected).all(), case
        assert summary["per_case"][case]["phases_present"] == sum(expected)
        assert summary["per_case"][case]["phases_ignored"] == sum(h for k, h in enumerate(here) if k not in channels)
        lacking += not all(expected)
    assert summary["cases_with_missing_phases"] == lacking >= 2  # the 3-phase cases lack phases 8 and 9
    assert summary["cases_with_ignored_phases"] == 2  # the 9- and 10-phase cases' phases 3 to 7


def test_the_official_split_keeps_its_test_cases_out_and_splits_its_train_cases(tmp_path):
    """train_test_splits.csv (ids in any letter case): its test cases are not read (one has no segmentation) and not
    in the file; the seeded train/validation split is drawn among its train cases."""
    root = make_mamamia_layout(tmp_path / "mamamia", n_cases=5)
    (root / "train_test_splits.csv").write_text("train_split,test_split\nCASE_000,case_003\nCASE_001,CASE_004\n"
                                                "case_002,\n")
    (root / "segmentations" / "expert" / "CASE_004.nii.gz").unlink()
    out, metrics = tmp_path / "lesion.h5", tmp_path / "lesion.json"
    summary = build_lesion_h5(root, out, **LESION, size=32, val_fraction=0.4, seed=3, summary_path=metrics,
                              progress=False)
    train_cases = ["CASE_000", "CASE_001", "CASE_002"]
    source = SliceFile(out, "lesion")
    assert sorted(set(source.patient_ids)) == train_cases and source.split == split_patients(train_cases, 0.4, 3)
    assert summary["split_source"] == "official" and summary["test_cases"] == ["CASE_003", "CASE_004"]
    assert summary["n_patients"] == 3 and summary["patients"] == {"train": 2, "validation": 1}
    recorded = json.loads(metrics.read_text())
    assert (recorded["split_source"], recorded["test_cases"]) == ("official", ["CASE_003", "CASE_004"])


def _breast_boxes(root, **boxes):
    for case, (z, y, x) in boxes.items():
        coordinates = {"z_min": z[0], "z_max": z[1], "y_min": y[0], "y_max": y[1], "x_min": x[0], "x_max": x[1]}
        path = root / "patient_info_files" / f"{case.lower()}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"primary_lesion": {"breast_coordinates": coordinates}}))


def test_a_breast_box_crops_or_masks_each_case_before_slicing_and_inference_does_the_same(mamamia_root, tmp_path):
    """Boxes z 4-20, y 0-20, x 8-28 (voxel axes i, j, k of the (24, 20, 40) volumes of 1.5 x 1.5 x 1 mm): cropped,
    the 1 mm grid is the box's 30 x 24 x 20 mm (working axes A = j, L = i, S = k); the mode is recorded, and the
    predictor given the box prepares exactly the stored slices; without a case's box the build stops."""
    _breast_boxes(mamamia_root, **{f"CASE_00{c}": ((4, 20), (0, 20), (8, 28)) for c in range(3)})
    out = tmp_path / "crop.h5"
    summary = build_lesion_h5(mamamia_root, out, phases=SIX, breast_box="crop", size=32, progress=False)
    assert {c: i["resampled_shape"] for c, i in summary["per_case"].items()} == {
        f"CASE_00{c}": [30, 24, 20] for c in range(3)}
    source = SliceFile(out, "lesion")
    assert source.breast_box == "crop" and source.params["breast_box"] == "crop"
    predictor = SlicePredictor(torch.nn.Identity(), h5_preprocessing(out, "lesion"))
    assert predictor.preprocessing.breast_box == "crop"
    layout = MamaMiaLayout(mamamia_root)
    rows = source.patient_ids == "CASE_001"
    inputs, _, _, _ = predictor.lesion_inputs(channel_entries(layout.phase_paths("CASE_001"), SIX),
                                              layout.breast_box("CASE_001"))
    assert np.array_equal(inputs[source.slice_indices[rows]], source.read("images", np.flatnonzero(rows)))
    masked = build_lesion_h5(mamamia_root, tmp_path / "mask.h5", phases=SIX, breast_box="mask", size=32,
                             progress=False)
    assert {tuple(i["resampled_shape"]) for i in masked["per_case"].values()} == {(30, 36, 40)}  # the whole grid
    with h5py.File(tmp_path / "mask.h5") as f:
        assert json.loads(f.attrs["params"])["breast_box"] == "mask"
    (mamamia_root / "patient_info_files" / "case_002.json").unlink()
    with pytest.raises(DataError, match=r"patient_info_files/CASE_002.json: patient info file missing: breast box "
                                        r"mode 'crop' needs every case's box"):
        build_lesion_h5(mamamia_root, tmp_path / "x.h5", phases=SIX, breast_box="crop", size=32, progress=False)
    with pytest.raises(DataError, match="breast box mode must be one of ignore, crop, mask, got 'box'"):
        build_lesion_h5(mamamia_root, tmp_path / "x.h5", phases=SIX, breast_box="box", size=32, progress=False)


def test_command_builds_both_tasks_from_params(seed_root, mamamia_root, tmp_path, capsys, params_file):
    from breastmri.cli import main as cli

    params = params_file(data={"mamamia_root": str(mamamia_root)}, build_hdf5={
        "oriented_dir": str(seed_root), "out_dir": str(tmp_path / "out"), "metrics_dir": str(tmp_path / "m"),
        "breast_size": 16, "lesion_size": 32, "workers": 1})
    assert cli(["build_hdf5", "--params", str(params)]) == 0
    assert capsys.readouterr().out.startswith("breast: 22 slices")
    assert json.loads((tmp_path / "m" / "build_hdf5_breast.json").read_text())["n_slices"] == 22
    assert (tmp_path / "out" / "lesion.h5").is_file() and (tmp_path / "m" / "build_hdf5_lesion.json").is_file()
    assert cli(["build_hdf5", "--params", str(tmp_path / "missing.yaml")]) == 1


def test_anisotropic_breast_slices_keep_mm_proportions_in_training_and_inference(tmp_path):
    """A sagittal exam in the working frame (1.4 mm anterior-posterior, 2.8 mm left-right): the stored training
    slices and the predictor's inference slices are the same, and the breast keeps its shape in mm."""
    from breastmri.data.io import save_nifti
    from breastmri.slices.breast import breast_patient

    rng = np.random.default_rng(0)
    scan = rng.random((40, 20, 6)).astype(np.float32) * 10
    mask = np.zeros(scan.shape, np.uint8)
    mask[20:30, 5:15] = 1  # 14 x 28 mm: twice as wide as deep in mm
    affine = np.diag([1.4, 2.8, 3.0, 1.0])
    save_nifti(scan, affine, tmp_path / "s.nii.gz")
    save_nifti(mask, affine, tmp_path / "m.nii.gz")
    stored = breast_patient("P", tmp_path / "s.nii.gz", tmp_path / "m.nii.gz", size=48)
    g = SliceGeometry.from_row(stored.geometry[0], 48)
    assert (g.new_h, g.new_w) == (48, 48)  # 40 x 1.4 = 56 mm by 20 x 2.8 = 56 mm: square (the pixel rule: 48 x 24)
    m = stored.masks[3, 0]
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    assert (cols[-1] - cols[0] + 1) == pytest.approx(2 * (rows[-1] - rows[0] + 1), abs=2)
    assert np.array_equal(undo_resize_pad(m, g, order=0), mask[:, :, 3])  # no axis downsampled: exact
    prepared, g_inf = prepare_volume(load_volume(tmp_path / "s.nii.gz").array, 48, spacing=(1.4, 2.8, 3.0))
    assert g_inf == g and np.array_equal(prepared, stored.images)
