"""Dataset validation: a tiny valid dataset passes with the right summary; each defect fails naming the file."""

import gzip
import json

import nibabel as nib
import numpy as np
import pytest

from breastmri.data.errors import DataError
from breastmri.data.io import save_nifti
from breastmri.cli import main as cli
from breastmri.data.validation import (run_validation, summary_tables, validate_mamamia_dataset,
                                       validate_seed_dataset)

SHAPE = (8, 10, 6)
AFFINE = np.diag([0.8, 0.7, 2.0, 1.0])
CLINICAL = ("patient_id,er,pr,her2,mol_subtype,nottingham_grade\n"
            "Breast_MRI_001,1,0,0,0,2\nBreast_MRI_002,0,0,1,2,\nBreast_MRI_003,,,,,3\n")
MAMAMIA_CLINICAL = ("patient_id,dataset,er,pr,her2,hr,nottingham_grade,tumor_subtype,age\n"
                    "DUKE_001,DUKE,1.0,0.0,0.0,1.0,high,luminal,50.0\n"
                    "ISPY2_1,ISPY2,,,1.0,1.0,,luminal_b,\n")


def _scan(value):
    """Values ``value + 0 .. value + 479``: known min / max / percentiles."""
    return (np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE) + value)


def _mask(n_voxels):
    m = np.zeros(SHAPE, np.uint8)
    m.flat[:n_voxels] = 1
    return m


@pytest.fixture
def seed(tmp_path):
    root = tmp_path / "seed"
    save_nifti(_scan(0), AFFINE, root / "train/scans/Breast_MRI_001.nii.gz")
    save_nifti(_mask(48), AFFINE, root / "train/masks/Breast_MRI_001.nii.gz")
    save_nifti(_scan(100), np.diag([0.9, 0.7, 2.5, 1]), root / "train/scans/Breast_MRI_002.nii.gz")
    save_nifti(_mask(240), np.diag([0.9, 0.7, 2.5, 1]), root / "train/masks/Breast_MRI_002.nii.gz")
    save_nifti(_scan(-10)[:, :, :5], AFFINE, root / "inference/scans/Breast_MRI_003.nii.gz")
    (root / "clinical.csv").write_text(CLINICAL)
    return root


@pytest.fixture
def mamamia(tmp_path):
    root = tmp_path / "mamamia"
    for case, n_phases in (("DUKE_001", 3), ("ISPY2_1", 2)):
        for k in range(n_phases):
            save_nifti(_scan(10 * k), AFFINE, root / f"images/{case}/{case}_{k:04d}.nii.gz")
        save_nifti(_mask(12), AFFINE, root / f"segmentations/expert/{case}.nii.gz")
    (root / "clinical_and_imaging_info.csv").write_text(MAMAMIA_CLINICAL)
    return root


def test_clinical_ids_meet_case_folders_regardless_of_letter_case(tmp_path):
    root = tmp_path / "mamamia"  # the folder ispy2_1 is the table's ISPY2_1
    for case in ("DUKE_001", "ispy2_1"):
        for k in range(2):
            save_nifti(_scan(10 * k), AFFINE, root / f"images/{case}/{case}_{k:04d}.nii.gz")
        save_nifti(_mask(12), AFFINE, root / f"segmentations/expert/{case}.nii.gz")
    (root / "clinical_and_imaging_info.csv").write_text(MAMAMIA_CLINICAL)
    clinical = validate_mamamia_dataset(root)["clinical"]
    assert clinical["n_imaging_patients_without_clinical"] == clinical["n_clinical_patients_without_imaging"] == 0


def _fails(func, root, *fragments):
    with pytest.raises(DataError) as err:
        func(root)
    for fragment in fragments:
        assert fragment in str(err.value), str(err.value)
    return str(err.value)


# ---------------------------------------------------------------------------------------------- happy path

def test_valid_datasets_pass_with_summary(seed, mamamia, tmp_path):
    out = tmp_path / "metrics" / "validation.json"
    summary = run_validation(seed, mamamia, out)
    assert json.loads(out.read_text()) == summary
    s = summary["seed"]
    assert s["n_patients"] == {"train": 2, "inference": 1, "total": 3}
    assert s["n_files"] == {"train_scans": 2, "train_masks": 2, "inference_scans": 1}
    assert s["shape"] == {"min": {"axis0": 8, "axis1": 10, "axis2": 5}, "max": {"axis0": 8, "axis1": 10, "axis2": 6}}
    assert s["spacing_mm"]["min"] == pytest.approx({"axis0": 0.8, "axis1": 0.7, "axis2": 2.0})
    assert s["spacing_mm"]["max"] == pytest.approx({"axis0": 0.9, "axis1": 0.7, "axis2": 2.5})
    assert s["intensity"]["min"] == -10 and s["intensity"]["max"] == 579
    assert s["intensity"]["p1"]["min"] == pytest.approx(-10 + 0.01 * 399)
    assert s["splits"]["train"]["mask_fraction"] == {"min": 0.1, "mean": 0.3, "max": 0.5, "n_empty": 0}
    assert "mask_fraction" not in s["splits"]["inference"]
    assert s["clinical"] == {"file": "clinical.csv", "n_rows": 3, "n_imaging_patients_without_clinical": 0,
                             "imaging_patients_without_clinical": [], "n_clinical_patients_without_imaging": 0,
                             "missing": {"er": 1, "pr": 1, "her2": 1, "mol_subtype": 1, "nottingham_grade": 1}}
    m = summary["mamamia"]
    assert m["n_cases"] == 2 and m["n_files"] == {"phases": 5, "segmentations": 2}
    assert m["phase_count_histogram"] == {"2": 1, "3": 1}
    assert m["phase_present"] == {"0000": 2, "0001": 2, "0002": 1}  # up to the last phase any case has
    assert m["intensity"]["min"] == 0 and m["intensity"]["max"] == 499
    assert m["lesion_fraction"]["mean"] == pytest.approx(0.025)
    assert m["clinical"]["n_rows"] == 2 and m["clinical"]["missing"]["er"] == 1
    assert m["clinical"]["missing"]["mol_subtype"] == 0
    # deterministic: no absolute paths, same bytes on a re-run
    first = out.read_bytes()
    assert str(tmp_path) not in first.decode()
    run_validation(seed, mamamia, out)
    assert out.read_bytes() == first
    tables = summary_tables(summary)
    assert tables["seed"].loc["n_patients.total", "value"] == 3


def test_validation_reads_each_volume_once(seed, monkeypatch):
    import breastmri.data.validation as validation

    calls = []
    real = validation.load_volume
    monkeypatch.setattr(validation, "load_volume", lambda path, **kw: calls.append(path.name) or real(path, **kw))
    validate_seed_dataset(seed)
    assert len(calls) == 5 and len(set(calls)) == 3  # 2 scans + 2 masks + 1 inference (names repeat per folder)


# ------------------------------------------------------------------------------------------- seed defects

def test_missing_dataset_and_missing_folder(seed, tmp_path):
    _fails(validate_seed_dataset, tmp_path / "nowhere", "nowhere", "seed dataset folder is missing")
    import shutil
    shutil.rmtree(seed / "train/masks")
    _fails(validate_seed_dataset, seed, "train/masks", "training masks folder is missing")


def test_empty_folder(seed):
    for f in (seed / "inference/scans").iterdir():
        f.unlink()
    _fails(validate_seed_dataset, seed, "inference/scans", "holds no .nii/.nii.gz files")


def test_corrupt_file(seed):
    (seed / "train/scans/Breast_MRI_002.nii.gz").write_bytes(np.random.default_rng(0).bytes(3000))
    _fails(validate_seed_dataset, seed, "Breast_MRI_002.nii.gz", "cannot read as NIfTI")


def test_corrupt_gzip_payload(seed):
    (seed / "train/scans/Breast_MRI_002.nii.gz").write_bytes(gzip.compress(np.random.default_rng(1).bytes(3000)))
    _fails(validate_seed_dataset, seed, "scans/Breast_MRI_002.nii.gz", "cannot read as NIfTI")


def test_truncated_file(seed):
    path = seed / "inference/scans/Breast_MRI_003.nii.gz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    _fails(validate_seed_dataset, seed, "Breast_MRI_003.nii.gz", "cannot read as NIfTI")


@pytest.mark.parametrize("shape, dims", [((8, 10, 6, 2), "4D"), ((8, 10), "2D")])
def test_wrong_dimensions(seed, shape, dims):
    nib.save(nib.Nifti1Image(np.zeros(shape, np.float32), AFFINE), seed / "train/scans/Breast_MRI_001.nii.gz")
    _fails(validate_seed_dataset, seed, "scans/Breast_MRI_001.nii.gz", f"expected a 3D volume, got {dims}")


def test_nan_voxels(seed):
    scan = _scan(0)
    scan[1, 2, 3] = np.nan
    save_nifti(scan, AFFINE, seed / "train/scans/Breast_MRI_001.nii.gz")
    _fails(validate_seed_dataset, seed, "scans/Breast_MRI_001.nii.gz", "1 voxels are NaN or infinite")


@pytest.mark.parametrize("row", [[0.0, 0.0, 0.0, 0.0], [np.nan, 0.0, 0.0, 0.0]])
def test_zero_or_nan_affine_fails_and_writes_no_json(seed, tmp_path, row, capsys, params_file):
    """Once passed, with bare NaN in validation.json; now refused naming the file (strict JSON otherwise)."""
    path = seed / "train/scans/Breast_MRI_001.nii.gz"
    header = nib.load(path).header.copy()
    header["srow_x"], header["sform_code"] = row, 1
    nib.save(nib.Nifti1Image(_scan(0), None, header), path)
    out = tmp_path / "metrics" / "validation.json"
    assert _command(params_file, seed, "", out) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bar
    assert err.startswith(f"error: {path}: the affine is not finite or not invertible"), err
    assert not out.exists()


@pytest.mark.parametrize("shape, axes", [((8, 10, 1), "axis 2"), ((3, 10, 6), "axis 0"), ((2, 2, 6), "axis 0, 1")])
def test_too_small_scan(seed, shape, axes):
    save_nifti(_scan(0)[: shape[0], : shape[1], : shape[2]], AFFINE, seed / "inference/scans/Breast_MRI_003.nii.gz")
    _fails(validate_seed_dataset, seed, "scans/Breast_MRI_003.nii.gz",
           f"scan shape {shape} has fewer than 4 voxels along {axes}: too small")


@pytest.mark.parametrize("value", [0.0, 37.5])
def test_constant_scan_or_phase(seed, mamamia, value):
    save_nifti(np.full(SHAPE, value, np.float32), AFFINE, seed / "train/scans/Breast_MRI_002.nii.gz")
    _fails(validate_seed_dataset, seed, "scans/Breast_MRI_002.nii.gz",
           f"scan is constant (value {value:g}): no image content")
    save_nifti(np.full(SHAPE, value, np.float32), AFFINE, mamamia / "images/DUKE_001/DUKE_001_0002.nii.gz")
    _fails(validate_mamamia_dataset, mamamia, "DUKE_001_0002.nii.gz", f"phase is constant (value {value:g})")


def test_imaging_and_clinical_ids_need_not_match(seed):
    """Unmatched ids are counted in the summary, not errors: imaging without clinical (with ids) and back."""
    (seed / "clinical.csv").write_text(CLINICAL.replace("Breast_MRI_003", "Breast_MRI_077") + "Breast_MRI_078,,,,,\n")
    clinical = validate_seed_dataset(seed)["clinical"]
    assert clinical["n_imaging_patients_without_clinical"] == 1
    assert clinical["imaging_patients_without_clinical"] == ["Breast_MRI_003"]
    assert clinical["n_clinical_patients_without_imaging"] == 2


def test_scan_mask_shape_and_affine_mismatch(seed):
    save_nifti(_mask(10)[:, :, :4], AFFINE, seed / "train/masks/Breast_MRI_001.nii.gz")
    _fails(validate_seed_dataset, seed, "masks/Breast_MRI_001.nii.gz",
           "mask shape (8, 10, 4) does not match Breast_MRI_001.nii.gz shape (8, 10, 6)")
    save_nifti(_mask(10), np.diag([0.8, 0.7, 3.0, 1.0]), seed / "train/masks/Breast_MRI_001.nii.gz")
    _fails(validate_seed_dataset, seed, "masks/Breast_MRI_001.nii.gz", "mask affine differs")


def test_non_binary_mask(seed):
    mask = _mask(48)
    mask[0, 0, 0], mask[1, 1, 1] = 2, 255
    save_nifti(mask, AFFINE, seed / "train/masks/Breast_MRI_001.nii.gz")
    _fails(validate_seed_dataset, seed, "masks/Breast_MRI_001.nii.gz",
           "mask is not binary: 2 voxels have values other than 0/1 (2, 255)")


def test_unpaired_scan_or_mask(seed):
    (seed / "train/masks/Breast_MRI_002.nii.gz").unlink()
    _fails(validate_seed_dataset, seed, "scans/Breast_MRI_002.nii.gz", "training scan has no mask")
    save_nifti(_mask(1), AFFINE, seed / "train/masks/Breast_MRI_002.nii.gz")
    save_nifti(_mask(1), AFFINE, seed / "train/masks/Breast_MRI_009.nii.gz")
    _fails(validate_seed_dataset, seed, "masks/Breast_MRI_009.nii.gz", "mask has no training scan")


def test_clinical_missing_column_duplicates_and_missing_file(seed):
    (seed / "clinical.csv").write_text("patient_id,er,pr,her2,nottingham_grade\n1,1,1,0,2\n")
    _fails(validate_seed_dataset, seed, "clinical.csv", "missing required column(s) mol_subtype")
    (seed / "clinical.csv").write_text(CLINICAL + "Breast_MRI_2,0,0,1,2,\n")
    _fails(validate_seed_dataset, seed, "clinical.csv", "duplicate patient id(s) 'Breast_MRI_002'")
    (seed / "clinical.csv").unlink()
    _fails(validate_seed_dataset, seed, "clinical.csv", "clinical file is missing")


# --------------------------------------------------------------------------------------- MAMA-MIA defects

def test_mamamia_missing_pre_contrast(mamamia):
    (mamamia / "images/ISPY2_1/ISPY2_1_0000.nii.gz").unlink()
    _fails(validate_mamamia_dataset, mamamia, "ISPY2_1_0000.nii.gz", "pre-contrast phase _0000 is missing")


def test_mamamia_phase_shape_mismatch(mamamia):
    save_nifti(_scan(0)[:7], AFFINE, mamamia / "images/DUKE_001/DUKE_001_0002.nii.gz")
    _fails(validate_mamamia_dataset, mamamia, "DUKE_001_0002.nii.gz",
           "phase shape (7, 10, 6) does not match DUKE_001_0000.nii.gz shape (8, 10, 6)")


def test_mamamia_segmentation_stored_as_uncompressed_nii_is_found(mamamia):
    gz = mamamia / "segmentations/expert/ISPY2_1.nii.gz"
    nib.save(nib.load(gz), gz.with_suffix(""))  # ISPY2_1.nii
    gz.unlink()
    summary = validate_mamamia_dataset(mamamia)
    assert summary["n_files"]["segmentations"] == 2
    save_nifti(_mask(3) * 3, AFFINE, gz.with_suffix(""))
    _fails(validate_mamamia_dataset, mamamia, "expert/ISPY2_1.nii:", "lesion segmentation is not binary")
    save_nifti(_mask(3), AFFINE, gz)  # both names: which one is meant?
    _fails(validate_mamamia_dataset, mamamia, "expert/ISPY2_1.nii", "case ISPY2_1 has two segmentations")


def test_mamamia_missing_or_bad_segmentation(mamamia):
    save_nifti(_mask(3) * 3, AFFINE, mamamia / "segmentations/expert/ISPY2_1.nii.gz")
    _fails(validate_mamamia_dataset, mamamia, "expert/ISPY2_1.nii.gz", "lesion segmentation is not binary")
    save_nifti(_mask(3)[:, :9], AFFINE, mamamia / "segmentations/expert/ISPY2_1.nii.gz")
    _fails(validate_mamamia_dataset, mamamia, "expert/ISPY2_1.nii.gz", "lesion segmentation shape (8, 9, 6)")
    (mamamia / "segmentations/expert/ISPY2_1.nii.gz").unlink()
    _fails(validate_mamamia_dataset, mamamia, "expert/ISPY2_1.nii.gz",
           "lesion segmentation is missing for case ISPY2_1")
    save_nifti(_mask(3), AFFINE, mamamia / "segmentations/expert/ISPY2_1.nii.gz")
    save_nifti(_mask(3), AFFINE, mamamia / "segmentations/expert/NACT_9.nii.gz")
    _fails(validate_mamamia_dataset, mamamia, "NACT_9.nii.gz", "segmentation has no case folder")


def test_mamamia_bad_clinical_table(mamamia):
    (mamamia / "clinical_and_imaging_info.csv").write_text(MAMAMIA_CLINICAL.replace("high", "very high"))
    _fails(validate_mamamia_dataset, mamamia, "clinical_and_imaging_info.csv",
           "column 'nottingham_grade' has invalid value(s) 'very high'")


# ------------------------------------------------------------------------------------- `breastmri validate`

def _command(params_file, seed, mamamia, out) -> int:
    return cli(["validate", "--params", str(params_file(data={"seed_root": str(seed), "mamamia_root": str(mamamia)},
                                                        validate={"out_json": str(out)}))])


def test_cli_success_and_failure(seed, mamamia, tmp_path, capsys, params_file):
    out = tmp_path / "reports" / "validation.json"
    assert _command(params_file, seed, mamamia, out) == 0
    assert json.loads(out.read_text())["seed"]["n_patients"]["total"] == 3
    capsys.readouterr()

    bad_out = tmp_path / "other" / "validation.json"
    mask = _mask(48).astype(np.float32)
    mask[0, 0, 0] = 0.5
    save_nifti(mask, AFFINE, seed / "train/masks/Breast_MRI_001.nii.gz")
    assert _command(params_file, seed, mamamia, bad_out) == 1
    err = capsys.readouterr().err.splitlines()[-1]  # after the progress bar (stderr too)
    assert err.startswith("error: ") and "Breast_MRI_001.nii.gz: mask is not binary" in err and "0.5" in err
    assert not bad_out.exists() and not bad_out.parent.exists()
