"""Layout adapters: ids, pairing, missing or empty folders, missing phases, breast boxes."""

import json

import numpy as np
import pytest

from breastmri.data.errors import DataError
from breastmri.data.io import save_nifti
from breastmri.data.layouts import (BreastBox, MamaMiaLayout, SeedLayout, channel_entries, check_channel_phases,
                                   check_phase_list, folder_names, ignored_phases, phase_paths_in,
                                   read_breast_box, seed_patient_id)


def _touch(path):
    save_nifti(np.zeros((2, 2, 2), np.uint8), np.eye(4), path)


@pytest.mark.parametrize("name", ["Breast_MRI_042.nii.gz", "Breast_MRI_42.nii", "042", 42, "patient-42.nii.gz"])
def test_seed_patient_id_normalises_numeric_ids(name):
    assert seed_patient_id(name) == "Breast_MRI_042"


def test_seed_patient_id_without_number_is_an_error():
    with pytest.raises(DataError, match="no numeric patient id in 'abc'"):
        seed_patient_id("abc")


def test_seed_layout_lists_scans_by_id_and_rejects_duplicates(tmp_path):
    layout = SeedLayout(tmp_path)
    with pytest.raises(DataError, match="training scans folder is missing"):
        layout.train_scans()
    layout.train_scan_dir.mkdir(parents=True)
    (layout.train_scan_dir / "notes.txt").write_text("ignored")
    with pytest.raises(DataError, match="holds no .nii/.nii.gz files"):
        layout.train_scans()
    _touch(layout.train_scan_dir / "Breast_MRI_002.nii.gz")
    _touch(layout.train_scan_dir / "Breast_MRI_010.nii.gz")
    assert list(layout.train_scans()) == ["Breast_MRI_002", "Breast_MRI_010"]
    _touch(layout.train_scan_dir / "Breast_MRI_2.nii.gz")
    with pytest.raises(DataError, match="duplicate patient id Breast_MRI_002"):
        layout.train_scans()


def test_mamamia_layout_lists_every_phase_and_reports_missing_ones_as_none(tmp_path):
    layout = MamaMiaLayout(tmp_path)
    folder = tmp_path / "images" / "DUKE_001"
    for k in (0, 1, 3):
        _touch(folder / f"DUKE_001_{k:04d}.nii.gz")
    (folder / "DUKE_001_0002.txt").write_text("not a phase")
    assert layout.cases() == ["DUKE_001"]
    paths = layout.phase_paths("DUKE_001")
    assert [p is not None for p in paths] == [True, True, False, True]  # up to the last phase file
    assert layout.lesion_mask("DUKE_001") == tmp_path / "segmentations/expert/DUKE_001.nii.gz"
    for k in (10, 11):  # no upper limit: an 11-phase case (as I-SPY2's) ... and .nii.gz wins over .nii
        _touch(folder / f"DUKE_001_{k:04d}.nii")
    _touch(folder / "DUKE_001_0011.nii.gz")
    paths = layout.phase_paths("DUKE_001")
    assert [p is not None for p in paths] == [True, True, False, True] + [False] * 6 + [True, True]
    assert paths[10].name == "DUKE_001_0010.nii" and paths[11].name == "DUKE_001_0011.nii.gz"


def test_channel_phases_pick_the_entries_of_a_case(tmp_path):
    entries = ["p0", "p1", None, "p3", "p4", "p5", "p6"]
    assert channel_entries(entries, [0, 1, 2, 3, 4, 5]) == ["p0", "p1", None, "p3", "p4", "p5"]
    assert channel_entries(entries, [0, 3, 9]) == ["p0", "p3", None]  # a phase beyond the case's: missing
    assert ignored_phases(entries, [0, 1, 2, 3, 4, 5]) == 1 and ignored_phases(entries, [0, 3, 9]) == 4
    assert check_channel_phases([0, 2, 1], "x") == [0, 2, 1]
    for bad in ([], [1, 0], [0, 0], [0, -1], [0, 1.0], [0, True], "012"):
        with pytest.raises(DataError, match="^x: "):
            check_channel_phases(bad, "x")
    assert check_phase_list([2, 0], "x") == [2, 0]


def test_case_without_precontrast_phase_is_an_error(tmp_path):
    _touch(tmp_path / "ISPY1_1001" / "ISPY1_1001_0001.nii.gz")
    with pytest.raises(DataError, match="ISPY1_1001_0000.nii.gz: pre-contrast phase _0000 is missing"):
        phase_paths_in(tmp_path / "ISPY1_1001")


def _series(folder, n_phases=1):
    from breastmri.phantom.dicom import write_dicom_series

    array = np.arange(4 * 3 * 2 * n_phases, dtype=np.int16).reshape(4, 3, 2, n_phases)
    write_dicom_series(folder, array, np.diag([-1.0, -1.0, 2.0, 1.0]), seed=folder.name)


def test_seed_scans_may_be_dicom_series_folders_but_masks_stay_nifti(tmp_path):
    layout = SeedLayout(tmp_path)
    _touch(layout.train_scan_dir / "Breast_MRI_001.nii.gz")
    _series(layout.train_scan_dir / "Breast_MRI_002")
    (layout.train_scan_dir / "notes").mkdir()  # a folder without DICOM files is ignored
    _series(layout.inference_scan_dir / "Breast_MRI_107")
    _series(layout.train_mask_dir / "Breast_MRI_002")
    assert layout.train_scans() == {"Breast_MRI_001": layout.train_scan_dir / "Breast_MRI_001.nii.gz",
                                    "Breast_MRI_002": layout.train_scan_dir / "Breast_MRI_002"}
    assert layout.inference_scans() == {"Breast_MRI_107": layout.inference_scan_dir / "Breast_MRI_107"}
    with pytest.raises(DataError, match="training masks folder holds no .nii/.nii.gz files$"):
        layout.train_masks()
    _series(layout.train_scan_dir / "Breast_MRI_1")
    with pytest.raises(DataError, match="duplicate patient id Breast_MRI_001"):
        layout.train_scans()
    empty = SeedLayout(tmp_path / "empty")
    empty.inference_scan_dir.mkdir(parents=True)
    with pytest.raises(DataError, match="holds no .nii/.nii.gz files or DICOM series folders"):
        empty.inference_scans()


def test_mamamia_case_folder_may_hold_the_dce_as_one_dicom_series(tmp_path):
    from breastmri.data.dicom import DicomPhase

    layout = MamaMiaLayout(tmp_path)
    _series(layout.image_dir / "NACT_06", n_phases=3)
    assert layout.phase_paths("NACT_06") == [DicomPhase(layout.image_dir / "NACT_06", k) for k in range(3)]
    _series(layout.image_dir / "NACT_07", n_phases=7)  # no upper limit
    assert layout.phase_paths("NACT_07") == [DicomPhase(layout.image_dir / "NACT_07", k) for k in range(7)]
    _touch(layout.image_dir / "NACT_06" / "NACT_06_0000.nii.gz")  # phase files take precedence
    assert layout.phase_paths("NACT_06")[0] == layout.image_dir / "NACT_06" / "NACT_06_0000.nii.gz"


def test_mamamia_segmentation_may_be_stored_as_uncompressed_nii(tmp_path):
    """``<CASE>.nii`` is found when it is the only segmentation; ``.nii.gz`` wins when both exist; with neither,
    the ``.nii.gz`` name is given (for the 'missing' message)."""
    layout = MamaMiaLayout(tmp_path)
    expert = tmp_path / "segmentations" / "expert"
    assert layout.lesion_mask("DUKE_001") == expert / "DUKE_001.nii.gz"
    _touch(expert / "DUKE_001.nii")
    assert layout.lesion_mask("DUKE_001") == expert / "DUKE_001.nii"
    _touch(expert / "DUKE_001.nii.gz")
    assert layout.lesion_mask("DUKE_001") == expert / "DUKE_001.nii.gz"


def _split_layout(tmp_path, cases=("DUKE_001", "ISPY1_1001", "NACT_01")):
    for case in cases:
        _touch(tmp_path / "images" / case / f"{case}_0000.nii.gz")
    return MamaMiaLayout(tmp_path)


def test_official_split_maps_each_case_to_its_column_and_is_none_without_the_file(tmp_path):
    layout = _split_layout(tmp_path)
    assert layout.official_split() is None
    # the real file's shape: the shorter column padded with empty cells
    layout.split_path.write_text("train_split,test_split\nDUKE_001,NACT_01\n ISPY1_1001 ,\n")
    assert layout.official_split() == {"DUKE_001": "train", "ISPY1_1001": "train", "NACT_01": "test"}


def test_official_split_ids_name_case_folders_regardless_of_letter_case(tmp_path):
    """Real case folders may be lower case where the split file (and the clinical table) say DUKE_001."""
    layout = _split_layout(tmp_path, cases=("duke_001", "ISPY1_1001", "nact_01"))
    layout.split_path.write_text("train_split,test_split\nDUKE_001,NACT_01\nispy1_1001,\n")
    assert layout.official_split() == {"duke_001": "train", "ISPY1_1001": "train", "nact_01": "test"}
    assert folder_names(["DUKE_001", "Nact_01", "ISPY2_9"], layout.cases()) == {"DUKE_001": "duke_001",
                                                                                "Nact_01": "nact_01"}
    layout.split_path.write_text("train_split,test_split\nDUKE_001,duke_001\nISPY1_1001,NACT_01\n")
    with pytest.raises(DataError, match="case DUKE_001 is listed in both train_split and test_split$"):
        layout.official_split()
    _touch(tmp_path / "images" / "DUKE_001" / "DUKE_001_0000.nii.gz")
    with pytest.raises(DataError, match="images: case folders DUKE_001 and duke_001 differ only in letter case"):
        layout.cases()


@pytest.mark.parametrize("text, problem", [
    ("train_split,test_split\nDUKE_001,DUKE_001\nISPY1_1001,NACT_01\n",
     "case DUKE_001 is listed in both train_split and test_split"),
    ("train_split,test_split\nDUKE_001,NACT_01\nDUKE_001,\nISPY1_1001,\n",
     "case DUKE_001 is listed twice in train_split"),
    ("train_split,test_split\nDUKE_001,NACT_01\nISPY1_1001,ISPY2_9\n",
     r"1 case\(s\) not in .*images: ISPY2_9"),
    ("train_split,test_split\nDUKE_001,NACT_01\n", r"1 case\(s\) of the images folder in neither column: ISPY1_1001"),
    ("train,test\nDUKE_001,NACT_01\n",
     r"split table lacks the column\(s\) train_split, test_split \(found: train, test\)"),
    ("", "cannot read the split table"),
    ("train_split,test_split\nDUKE_001,NACT_01,ISPY1_1001,x\n", "cannot read the split table"),  # no index guessed
    ("train_split,test_split\nDUKE_001,NACT_01\nISPY1_1001,,x\n", "cannot read the split table"),
])
def test_a_malformed_official_split_is_an_error_naming_the_file(tmp_path, text, problem):
    layout = _split_layout(tmp_path)
    layout.split_path.write_text(text)
    with pytest.raises(DataError, match=f"train_test_splits.csv: {problem}"):
        layout.official_split()


def _info(path, **coordinates):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"patient_id": path.stem.upper(), "primary_lesion": {"breast_coordinates": coordinates}}))
    return path


BOX = {"x_min": 5, "x_max": 35, "y_min": 3, "y_max": 15, "z_min": 2, "z_max": 10}


def test_the_breast_box_is_read_in_voxel_axis_order_from_a_file_named_in_any_case(tmp_path):
    """x runs along voxel axis k, y along j, z along i (the challenge indexes GetArrayFromImage, axes k, j, i, as
    [x, y, z]); the file of case DUKE_001 may be duke_001.json, as the real ones."""
    layout = MamaMiaLayout(tmp_path)
    assert layout.breast_box("DUKE_001") is None
    path = _info(layout.patient_info_dir / "duke_001.json", **BOX)
    box = layout.breast_box("DUKE_001")
    assert box == BreastBox(path, ((2, 10), (3, 15), (5, 35)))
    assert box.slices((24, 20, 40)) == (slice(2, 10), slice(3, 15), slice(5, 35))
    with pytest.raises(DataError, match=r"duke_001.json: breast box beyond the image of \(40, 20, 24\) voxels "
                                        r"\(i, j, k\): x 5-35 > 24"):
        box.slices((40, 20, 24))  # the same box on a volume stored the other way round does not fit


@pytest.mark.parametrize("content, problem", [
    ("{", "cannot read the patient info file"),
    (json.dumps({"primary_lesion": {}}), r"no primary_lesion.breast_coordinates with x_min .. z_max \(missing "),
    (json.dumps({"primary_lesion": {"breast_coordinates": {k: v for k, v in BOX.items() if k != "y_max"}}}),
     "missing 'y_max'"),
    (json.dumps({"primary_lesion": {"breast_coordinates": {**BOX, "y_max": None}}}), r"got \[3, None\]"),
    (json.dumps({"primary_lesion": {"breast_coordinates": {**BOX, "x_max": 5}}}),
     r"x_min, x_max must be whole numbers with 0 <= min < max, got \[5, 5\]"),
    (json.dumps({"primary_lesion": {"breast_coordinates": {**BOX, "z_min": 2.5}}}), r"got \[2.5, 10\]"),
    (json.dumps({"primary_lesion": {"breast_coordinates": {**BOX, "z_min": -1}}}), r"got \[-1, 10\]"),
])
def test_a_malformed_patient_info_file_is_an_error_naming_it(tmp_path, content, problem):
    path = tmp_path / "CASE.json"
    path.write_text(content)
    with pytest.raises(DataError, match=f"CASE.json: .*{problem}"):
        read_breast_box(path)
