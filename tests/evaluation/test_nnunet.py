"""The nnU-Net v2 bridge: a hand-made MAMA-MIA layout exported and read back by nnU-Net v2's documented dataset rules
(and by SimpleITK as nnU-Net's reader does), and prediction folders scored like the lesion stage scores."""

import filecmp
import json
import math
import os

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from breastmri.cli import main as cli
from breastmri.data.errors import DataError
from breastmri.data.io import save_nifti
from breastmri.evaluation import challenge as ch
from breastmri.evaluation.nnunet import export_dataset, score_predictions
from breastmri.inference import evaluation as ev

SIX = [0, 1, 2, 3, 4, 5]
SHAPE = (12, 10, 8)
AFFINE = np.array([[0.0, 0.0, 2.0, -20.0],  # stored with permuted, flipped axes: array axis 2 is x, 2 mm
                   [-0.8, 0.0, 0.0, 30.0],
                   [0.0, -0.8, 0.0, 12.0],
                   [0.0, 0.0, 0.0, 1.0]])
CASES = {  # case -> (phases present, lesion centre)
    "DUKE_001": ((0, 1, 2, 3, 4, 5), (5, 4, 3)),
    "ISPY1_1001": ((0, 1, 3), (6, 5, 4)),
    "NACT_01": ((0, 2), (4, 6, 4)),
}


def _lesion(centre):
    grid = np.indices(SHAPE)
    return (sum((g - c) ** 2 for g, c in zip(grid, centre)) <= 4).astype(np.uint8)


def write_layout(root):
    """A MAMA-MIA layout of int16 phases (two cases lack phases) and expert masks, all on ``AFFINE``."""
    for number, (case, (phases, centre)) in enumerate(CASES.items()):
        base = np.random.default_rng(number).integers(50, 200, SHAPE).astype(np.int16)
        lesion = _lesion(centre)
        for k in phases:
            save_nifti(base + 40 * k * lesion.astype(np.int16), AFFINE,
                       root / "images" / case / f"{case}_{k:04d}.nii.gz")
        save_nifti(lesion, AFFINE, root / "segmentations" / "expert" / f"{case}.nii.gz")
    return root


@pytest.fixture
def root(tmp_path):
    return write_layout(tmp_path / "mamamia")


def read_back(folder):
    """The dataset read by nnU-Net v2's documented rules (documentation/dataset_format.md), with SimpleITK as the
    reader dataset.json names (SimpleITKIO): returns dataset.json and the training case ids."""
    dataset = json.loads((folder / "dataset.json").read_text())
    assert {"channel_names", "labels", "numTraining", "file_ending"} <= set(dataset)
    ending, channels = dataset["file_ending"], dataset["channel_names"]
    assert ending == ".nii.gz" and dataset["overwrite_image_reader_writer"] == "SimpleITKIO"
    assert sorted(channels, key=int) == [str(c) for c in range(len(channels))]
    assert dataset["labels"]["background"] == 0 and sorted(dataset["labels"].values()) == [0, 1]  # consecutive
    labels = sorted(p.name[: -len(ending)] for p in (folder / "labelsTr").iterdir())
    assert all(p.name.endswith(ending) for p in (folder / "labelsTr").iterdir())
    assert dataset["numTraining"] == len(labels)
    for part, ids in (("imagesTr", labels), ("imagesTs", None)):
        if not (folder / part).is_dir():
            continue
        names = sorted(p.name for p in (folder / part).iterdir())
        ids = ids if ids is not None else sorted({n[: -len(ending) - 5] for n in names})
        # every case has exactly the channels of channel_names, named <CASE>_<XXXX><file_ending>
        assert names == sorted(f"{case}_{int(c):04d}{ending}" for case in ids for c in channels)
        for case in ids:
            files = [str(folder / part / f"{case}_{int(c):04d}{ending}") for c in channels]
            images = [sitk.ReadImage(f) for f in files]
            assert len({img.GetSize() for img in images}) == 1
            assert len({img.GetSpacing() for img in images}) == 1  # SimpleITKIO compares these exactly
            for img in images[1:]:
                np.testing.assert_allclose(img.GetOrigin(), images[0].GetOrigin())
                np.testing.assert_allclose(img.GetDirection(), images[0].GetDirection())
            if part == "imagesTr":
                label_file = folder / "labelsTr" / f"{case}{ending}"
                label = sitk.ReadImage(str(label_file))
                assert label.GetSize() == images[0].GetSize()
                np.testing.assert_allclose(label.GetSpacing(), images[0].GetSpacing())
                np.testing.assert_allclose(label.GetOrigin(), images[0].GetOrigin())
                np.testing.assert_allclose(label.GetDirection(), images[0].GetDirection())
                values = np.unique(sitk.GetArrayFromImage(label))
                assert set(values.tolist()) <= set(dataset["labels"].values())
                assert nib.load(label_file).get_data_dtype() == np.uint8
                for f in files:
                    assert nib.load(f).shape == nib.load(label_file).shape
                    np.testing.assert_allclose(nib.load(f).affine, nib.load(label_file).affine)
    return dataset, labels


def test_export_is_a_valid_nnunet_v2_dataset_with_byte_copies_and_exact_labels(root, tmp_path):
    summary = export_dataset(root, tmp_path / "raw", phases=SIX, progress=False)
    folder = tmp_path / "raw" / "Dataset501_MAMAMIA"
    assert summary["dataset"] == str(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["dataset.json", "export.json", "imagesTr", "labelsTr"]
    dataset, labels = read_back(folder)
    assert labels == sorted(CASES) and dataset["numTraining"] == 3
    assert dataset["channel_names"] == {"0": "pre_contrast", "1": "post_contrast_1", "2": "post_contrast_2",
                                        "3": "post_contrast_3", "4": "post_contrast_4", "5": "post_contrast_5"}
    assert dataset["labels"] == {"background": 0, "tumor": 1}
    for case, (phases, centre) in CASES.items():
        for k in phases:  # .nii.gz phases on the pre-contrast grid: copied byte for byte
            assert filecmp.cmp(root / "images" / case / f"{case}_{k:04d}.nii.gz",
                               folder / "imagesTr" / f"{case}_{k:04d}.nii.gz", shallow=False)
        label = nib.load(folder / "labelsTr" / f"{case}.nii.gz")  # the source mask's shape and stored affine
        np.testing.assert_array_equal(np.asanyarray(label.dataobj), _lesion(centre))
        source = nib.load(root / "segmentations" / "expert" / f"{case}.nii.gz")
        np.testing.assert_array_equal(label.affine, source.affine)
    assert dataset["numTraining"] == summary["n_training"] and summary["test_cases"] == []


def test_a_missing_phase_is_zero_filled_on_the_precontrast_grid_and_listed(root, tmp_path):
    summary = export_dataset(root, tmp_path, phases=SIX, progress=False)
    folder = tmp_path / "Dataset501_MAMAMIA"
    assert summary["zero_filled"] == {"ISPY1_1001": [2, 4, 5], "NACT_01": [1, 3, 4, 5]}
    assert json.loads((folder / "export.json").read_text())["zero_filled"] == summary["zero_filled"]
    assert "7 channel file(s) of missing phases zero-filled" in json.loads(
        (folder / "dataset.json").read_text())["description"]
    pre = nib.load(root / "images" / "NACT_01" / "NACT_01_0000.nii.gz")
    for channel in (1, 3, 4, 5):
        filled = nib.load(folder / "imagesTr" / f"NACT_01_{channel:04d}.nii.gz")
        assert filled.shape == pre.shape and filled.get_data_dtype() == pre.get_data_dtype()
        np.testing.assert_array_equal(filled.affine, pre.affine)
        assert not np.asanyarray(filled.dataobj).any()


def test_chosen_phases_become_channels_in_order(root, tmp_path):
    export_dataset(root, tmp_path, dataset_id=7, name="Lesion-2ph", phases=[2, 0], progress=False)
    folder = tmp_path / "Dataset007_Lesion-2ph"
    dataset, _ = read_back(folder)
    assert dataset["channel_names"] == {"0": "post_contrast_2", "1": "pre_contrast"}
    assert filecmp.cmp(root / "images" / "NACT_01" / "NACT_01_0002.nii.gz", folder / "imagesTr" / "NACT_01_0000.nii.gz",
                       shallow=False)
    assert json.loads((folder / "export.json").read_text())["zero_filled"] == {"ISPY1_1001": [0]}


def test_any_phase_can_be_a_channel_and_the_command_defaults_to_the_lesion_channels(root, tmp_path, params_file,
                                                                                    capsys):
    """No upper phase limit (an 8-phase case, as I-SPY2's); without --phases the command exports the lesion model's
    channels (build_hdf5.lesion_channels of --params)."""
    lesion = _lesion(CASES["DUKE_001"][1]).astype(np.int16)
    for k in (6, 7):
        save_nifti(100 + 40 * k * lesion, AFFINE, root / "images" / "DUKE_001" / f"DUKE_001_{k:04d}.nii.gz")
    params = params_file(build_hdf5={"lesion_channels": [0, 7, 1]})
    assert cli(["export-nnunet", "--mamamia_root", str(root), "--out_dir", str(tmp_path / "raw"),
                "--params", str(params)]) == 0
    assert capsys.readouterr().out.strip().endswith("3 channels (3 files zero-filled)")
    folder = tmp_path / "raw" / "Dataset501_MAMAMIA"
    dataset, _ = read_back(folder)
    assert dataset["channel_names"] == {"0": "pre_contrast", "1": "post_contrast_7", "2": "post_contrast_1"}
    assert filecmp.cmp(root / "images" / "DUKE_001" / "DUKE_001_0007.nii.gz",
                       folder / "imagesTr" / "DUKE_001_0001.nii.gz", shallow=False)
    record = json.loads((folder / "export.json").read_text())
    assert record["phases"] == [0, 7, 1] and record["zero_filled"] == {"ISPY1_1001": [1], "NACT_01": [1, 2]}


def test_nii_phases_are_compressed_and_near_grids_take_the_precontrast_header(root, tmp_path):
    case_dir = root / "images" / "DUKE_001"
    phase1 = nib.load(case_dir / "DUKE_001_0001.nii.gz")
    phase1_data = np.asanyarray(phase1.dataobj)
    nib.save(phase1, case_dir / "DUKE_001_0001.nii")
    (case_dir / "DUKE_001_0001.nii.gz").unlink()
    near = AFFINE.copy()
    near[0, 3] += 2e-4  # within the 1e-3 mm tolerance, but not the same geometry for nnU-Net's reader
    phase3 = np.asanyarray(nib.load(case_dir / "DUKE_001_0003.nii.gz").dataobj)
    save_nifti(phase3, near, case_dir / "DUKE_001_0003.nii.gz")
    summary = export_dataset(root, tmp_path, phases=SIX, progress=False)
    folder = tmp_path / "Dataset501_MAMAMIA"
    assert summary["pre_contrast_header"] == {"DUKE_001": [3]}
    read_back(folder)  # spacing, origin and direction of every channel as SimpleITK reads them agree
    converted = nib.load(folder / "imagesTr" / "DUKE_001_0001.nii.gz")
    assert converted.get_data_dtype() == np.int16
    np.testing.assert_array_equal(converted.affine, phase1.affine)
    np.testing.assert_array_equal(np.asanyarray(converted.dataobj), phase1_data)
    aligned = nib.load(folder / "imagesTr" / "DUKE_001_0003.nii.gz")
    np.testing.assert_array_equal(aligned.affine, nib.load(case_dir / "DUKE_001_0000.nii.gz").affine)
    np.testing.assert_array_equal(np.asanyarray(aligned.dataobj), phase3)


def test_a_dicom_case_is_written_as_float32_on_its_precontrast_header(root, tmp_path):
    from breastmri.data.dicom import DicomPhase
    from breastmri.data.io import load_volume
    from breastmri.phantom.dicom import write_dicom_series

    series = root / "images" / "NACT_02"
    phases = np.random.default_rng(5).integers(0, 300, (*SHAPE, 3)).astype(np.int16)
    write_dicom_series(series, phases, AFFINE, seed="NACT_02")
    volumes = [load_volume(DicomPhase(series, k), "NACT_02") for k in range(3)]
    save_nifti(_lesion((5, 5, 4)), volumes[0].affine, root / "segmentations" / "expert" / "NACT_02.nii.gz")
    summary = export_dataset(root, tmp_path, phases=SIX, progress=False)
    folder = tmp_path / "Dataset501_MAMAMIA"
    read_back(folder)
    assert summary["zero_filled"]["NACT_02"] == [3, 4, 5] and "NACT_02" not in summary["pre_contrast_header"]
    for k, volume in enumerate(volumes):
        image = nib.load(folder / "imagesTr" / f"NACT_02_{k:04d}.nii.gz")
        assert image.get_data_dtype() == np.float32
        np.testing.assert_array_equal(np.asanyarray(image.dataobj), volume.array)
        np.testing.assert_allclose(image.affine, volume.affine, atol=1e-5)


def test_official_test_cases_go_to_imagests_without_labels(root, tmp_path):
    (root / "train_test_splits.csv").write_text("train_split,test_split\nDUKE_001,NACT_01\nISPY1_1001,\n")
    summary = export_dataset(root, tmp_path, phases=SIX, progress=False)
    folder = tmp_path / "Dataset501_MAMAMIA"
    dataset, labels = read_back(folder)
    assert labels == ["DUKE_001", "ISPY1_1001"] and dataset["numTraining"] == 2
    assert sorted(p.name for p in (folder / "imagesTs").iterdir()) == [f"NACT_01_{c:04d}.nii.gz" for c in range(6)]
    assert not any(p.name.startswith("NACT_01") for p in (folder / "imagesTr").iterdir())
    assert summary["test_cases"] == ["NACT_01"] and summary["official_split"] is True


def test_a_phase_off_the_precontrast_grid_is_an_error_and_leaves_no_folder(root, tmp_path):
    off = AFFINE.copy()
    off[1, 3] += 0.5
    path = root / "images" / "NACT_01" / "NACT_01_0002.nii.gz"
    save_nifti(np.asanyarray(nib.load(path).dataobj), off, path)
    with pytest.raises(DataError, match=r"NACT_01_0002.nii.gz: phase grid differs from NACT_01_0000.nii.gz's: "
                                        r"shape \(12, 10, 8\) vs \(12, 10, 8\) \(affines differ\)"):
        export_dataset(root, tmp_path / "raw", phases=SIX, progress=False)
    assert os.listdir(tmp_path / "raw") == []


def test_a_label_off_the_grid_or_not_binary_is_an_error_naming_it(root, tmp_path):
    mask = root / "segmentations" / "expert" / "ISPY1_1001.nii.gz"
    save_nifti(np.full(SHAPE, 2, np.uint8), AFFINE, mask)
    with pytest.raises(DataError, match=r"ISPY1_1001.nii.gz: mask is not binary"):
        export_dataset(root, tmp_path, phases=SIX, progress=False)
    save_nifti(np.zeros((12, 10, 9), np.uint8), AFFINE, mask)
    with pytest.raises(DataError, match=r"ISPY1_1001.nii.gz: mask grid \(shape \(12, 10, 9\)\) differs"):
        export_dataset(root, tmp_path, phases=SIX, progress=False)


def test_an_existing_dataset_is_replaced_only_when_asked(root, tmp_path):
    export_dataset(root, tmp_path, progress=False, phases=[0])
    with pytest.raises(DataError, match="Dataset501_MAMAMIA: the dataset folder exists"):
        export_dataset(root, tmp_path, phases=SIX, progress=False)
    export_dataset(root, tmp_path, phases=SIX, progress=False, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Dataset501_MAMAMIA", "mamamia"]
    assert len(json.loads((tmp_path / "Dataset501_MAMAMIA" / "dataset.json").read_text())["channel_names"]) == 6


@pytest.mark.parametrize("kwargs, problem", [
    ({"dataset_id": 1000}, "an nnU-Net dataset id is 1 to 999"),
    ({"name": "two words"}, "a dataset name holds letters, digits"),
    ({"phases": [0, 0]}, r"phases: expected distinct phase indices >= 0, got \[0, 0\]"),
    ({"phases": [-1]}, r"phases: expected distinct phase indices >= 0, got \[-1\]"),
    ({"phases": []}, r"phases: expected distinct phase indices >= 0, got \[\]"),
])
def test_bad_export_settings_are_errors(root, tmp_path, kwargs, problem):
    with pytest.raises(DataError, match=problem):
        export_dataset(root, tmp_path, progress=False, **{"phases": SIX, **kwargs})


def test_nnunet_verify_dataset_integrity_accepts_the_export(root, tmp_path):
    pytest.importorskip("nnunetv2")
    from nnunetv2.experiment_planning.verify_dataset_integrity import verify_dataset_integrity

    export_dataset(root, tmp_path, phases=SIX, progress=False)
    verify_dataset_integrity(str(tmp_path / "Dataset501_MAMAMIA"), 1)


def test_the_exported_labels_scored_as_predictions_are_perfect(root, tmp_path):
    export_dataset(root, tmp_path, phases=SIX, progress=False)
    out = tmp_path / "scores" / "nnunet.json"
    metrics = score_predictions(root, tmp_path / "Dataset501_MAMAMIA" / "labelsTr", out, progress=False)
    assert metrics["n_cases"] == 3 and metrics["missing"] == []
    assert metrics["dice"]["min"] == 1.0 and metrics["hd95_mm"]["max"] == 0.0
    assert metrics["challenge"]["performance"] == 1.0 and metrics["challenge"]["dice_mean"] == 1.0
    assert sorted(metrics["by_cohort"]) == ["DUKE", "ISPY1", "NACT"]
    assert json.loads(out.read_text())["challenge"]["performance"] == 1.0
    table = pd.read_csv(out.with_suffix(".csv"), index_col="case_id")
    assert list(table.index) == sorted(CASES) and (table["challenge_dice"] == 1.0).all()


def test_a_missing_prediction_is_scored_empty_and_listed_and_scores_match_the_challenge(root, tmp_path):
    predictions = tmp_path / "pred"
    shifted = np.roll(_lesion(CASES["DUKE_001"][1]), 1, axis=2)  # one voxel along axis 2: 2 mm
    save_nifti(shifted, AFFINE, predictions / "DUKE_001.nii.gz")
    save_nifti(_lesion(CASES["NACT_01"][1]), AFFINE, predictions / "NACT_01.nii.gz")
    (root / "clinical_and_imaging_info.csv").write_text(
        "patient_id,dataset,er,pr,her2,nottingham_grade,tumor_subtype,age,menopause\n"
        "DUKE_001,DUKE,0,0,1,low,her2_pure,38,pre\nISPY1_1001,ISPY1,1,0,0,,luminal,66,post\n"
        "NACT_01,NACT,0,0,0,,triple_negative,45,pre\n")
    metrics = score_predictions(root, predictions, tmp_path / "s.json", progress=False)
    assert metrics["missing"] == ["ISPY1_1001"] and metrics["n_missing"] == 1
    missed = metrics["per_case"]["ISPY1_1001"]
    assert missed["predicted"] is False and missed["pred_voxels"] == 0
    assert missed["dice"] == 0.0 and missed["challenge_dice"] == 0.0 and missed["challenge_norm_hd"] == 1.0
    assert math.isinf(missed["hd95_mm"])
    duke = metrics["per_case"]["DUKE_001"]
    truth = _lesion(CASES["DUKE_001"][1])
    spacing = np.linalg.norm(AFFINE[:3, :3], axis=0)  # 0.8, 0.8, 2 mm: HD95 in mm on the expert mask's voxels
    assert duke["hd95_mm"] == ev.hd95_mm(shifted, truth, spacing) != ev.hd95_mm(shifted, truth, (1, 1, 1))
    assert {k: duke[f"challenge_{k}"] for k in ("dice", "hd95_voxels", "norm_hd")} == ch.case_scores(shifted, truth)
    per_case = pd.DataFrame({"dice": [duke["challenge_dice"], 0.0, 1.0],
                             "norm_hd": [duke["challenge_norm_hd"], 1.0, 0.0]},
                            index=["DUKE_001", "ISPY1_1001", "NACT_01"])
    clinical = pd.DataFrame({"patient_id": per_case.index, "age": [38.0, 66.0, 45.0],
                             "menopause": ["pre", "post", "pre"]})
    assert metrics["challenge"] == ch.challenge_scores(per_case, clinical)


def test_a_prediction_off_the_expert_grid_or_of_an_unknown_case_is_an_error(root, tmp_path):
    predictions = tmp_path / "pred"
    moved = AFFINE.copy()
    moved[2, 3] += 1.0
    save_nifti(_lesion(CASES["NACT_01"][1]), moved, predictions / "NACT_01.nii.gz")
    with pytest.raises(DataError, match=r"pred/NACT_01.nii.gz: prediction grid differs from the expert segmentation "
                                        r"NACT_01.nii.gz's: shape \(12, 10, 8\) vs \(12, 10, 8\) \(affines differ\)"):
        score_predictions(root, predictions, tmp_path / "s.json", progress=False)
    assert not (tmp_path / "s.json").exists()
    save_nifti(_lesion(CASES["NACT_01"][1]), AFFINE, predictions / "NACT_01.nii.gz")
    save_nifti(np.zeros(SHAPE, np.uint8), AFFINE, predictions / "ISPY2_9.nii.gz")
    with pytest.raises(DataError, match=r"pred/ISPY2_9.nii.gz: no case ISPY2_9 in .*images"):
        score_predictions(root, predictions, tmp_path / "s.json", progress=False)


def test_the_official_split_selects_the_cases_scored(root, tmp_path):
    predictions = tmp_path / "pred"
    save_nifti(_lesion(CASES["NACT_01"][1]), AFFINE, predictions / "NACT_01.nii.gz")
    with pytest.raises(DataError, match="train_test_splits.csv: file not found: cases 'test' are those of the"):
        score_predictions(root, predictions, tmp_path / "s.json", cases="test", progress=False)
    (root / "train_test_splits.csv").write_text("train_split,test_split\nDUKE_001,NACT_01\nISPY1_1001,\n")
    metrics = score_predictions(root, predictions, tmp_path / "s.json", cases="test", progress=False)
    assert list(metrics["per_case"]) == ["NACT_01"] and metrics["missing"] == [] and metrics["dice"]["mean"] == 1.0
    metrics = score_predictions(root, predictions, tmp_path / "s.json", cases="train", progress=False)
    assert metrics["missing"] == ["DUKE_001", "ISPY1_1001"]


def test_commands_print_one_line_and_errors_leave_no_output(root, tmp_path, capsys):
    raw = tmp_path / "raw"
    assert cli(["export-nnunet", "--mamamia_root", str(root), "--out_dir", str(raw), "--dataset_id", "502",
                "--phases", "0", "1"]) == 0
    line = capsys.readouterr().out.strip()
    assert line == (f"wrote {raw / 'Dataset502_MAMAMIA'}: 3 training cases, 0 test cases, 2 channels "
                    "(1 file zero-filled)")
    out_json = tmp_path / "scores.json"
    assert cli(["score", "--mamamia_root", str(root), "--predictions", str(raw / "Dataset502_MAMAMIA" / "labelsTr"),
                "--out_json", str(out_json)]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"scored 3 cases (0 without a prediction): Dice mean 1.000, HD95 median 0.0 mm, challenge performance "
        f"1.000; wrote {out_json} and {out_json.with_suffix('.csv')}"]

    path = root / "images" / "NACT_01" / "NACT_01_0002.nii.gz"
    save_nifti(np.zeros((3, 3, 3), np.int16), AFFINE, path)
    assert cli(["export-nnunet", "--mamamia_root", str(root), "--out_dir", str(tmp_path / "raw2"),
                "--phases", "0", "2"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {path}: phase shape (3, 3, 3) has fewer than 4 voxels along axis 0, 1, 2: too small "
                   "to be a 3D scan"]
    assert os.listdir(tmp_path / "raw2") == []  # neither the dataset nor its temporary folder
    assert cli(["score", "--mamamia_root", str(root), "--predictions", str(tmp_path / "nowhere"),
                "--out_json", str(tmp_path / "s2.json")]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {tmp_path / 'nowhere'}: predictions folder "
                                                            "is missing"]
    assert not (tmp_path / "s2.json").exists()
    assert cli(["score", "--mamamia_root", str(root), "--predictions", str(raw), "--out_json", str(out_json),
                "--cases", "validation"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: cases must be one of ('all', 'train', 'test'), got 'validation'"]
