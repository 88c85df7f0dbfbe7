"""Robustness suite: malformed inputs through the user-facing entry points (crosses modules, so it lives here).

Every case either fails with ``error: <file>: <problem>`` on stderr, exit code 1 and no output left behind,
or has a documented handling that is asserted. Unit-level checks live beside their modules
(``tests/data/test_io.py``, ``test_validation.py``, ``test_clinical.py``, ``tests/slices/test_normalize.py``,
``tests/analysis/test_correlation.py``); this suite drives the commands ``breastmri validate``,
``breastmri correlate`` and ``breastmri-infer`` (in process via their ``main``; validate and infer once more
as real console scripts) and :func:`breastmri.data.clinical.load_clinical`. The interrupted ``dvc repro``
case is in ``tests/test_pipeline_e2e.py``.

====  ==============================  ==========================================================================
case  input                           handling
====  ==============================  ==========================================================================
1     corrupt ``.nii.gz`` (random     validate and infer (``--scan``, ``--phases_folder``, any phase): error
      bytes), truncated ``.nii.gz``   ``<file>: cannot read as NIfTI (corrupt or truncated): ...``, exit 1, no
      (first half of a valid file)    output
2     NaN, +inf, -inf voxels          validate and infer: error ``<file>: <n> voxels are NaN or infinite``
3     constant scan (all 0, all 37.5) validate: error ``<file>: scan is constant (value X): no image content``
                                      (``phase is constant`` for MAMA-MIA); infer runs the same check: the
                                      same error for ``--scan`` and ``--phases_folder``. An all-zero MASK is
                                      valid (counted in ``mask_fraction.n_empty``). ``clip_zscore`` /
                                      ``CaseNormalizer`` of a constant slice: finite zeros
4     2D and 4D files                 validate and infer: error ``expected a 3D volume, got 2D|4D with shape ..``
                                      (a trailing singleton 4th axis is accepted)
5     1-3 voxels along an axis        validate: error ``scan shape (..) has fewer than 4 voxels along axis k:
                                      too small to be a 3D scan`` (4 passes); infer: the same error
5     implausible header dimensions   validate and infer: error ``implausible dimensions (..) in the header``
      (axis > 4096 or > 2**31 voxels) from the header alone: the voxel data is never read / allocated
6     mask values 0/255, 0/1/2, 0.5,  validate (seed masks and MAMA-MIA segmentations): error ``<file>: mask is
      -1                              not binary: <n> voxels have values other than 0/1 (<values>)``; infer
                                      ``--mask_path`` (evaluation truth): the same error
7     patient ids differing between   validate: not an error; the summary counts imaging patients without a
      scans and clinical table        clinical row (with their ids) and clinical rows without imaging;
                                      correlate: inner join, metrics ``n_joined`` and
                                      ``n_features_without_clinical``; no common id: error naming the feature
                                      table and the clinical table, exit 1, no output
8     non-numeric clinical codes      ``load_clinical``: ``NA``/``NC``/``NP``/``n/a``/blank = unknown (<NA>);
                                      any other text (``positive``, ``pos``, ``unknown``, grade ``III``) is an
                                      error naming the file, the column and the values (not guessed);
                                      MAMA-MIA grades ``low``/``intermediate``/``high`` are the documented
                                      aliases of 1/2/3
====  ==============================  ==========================================================================
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import nibabel.arrayproxy
import numpy as np
import pandas as pd
import pytest
import torch

from breastmri.cli import main as cli
from breastmri.data.clinical import load_clinical
from breastmri.data.errors import DataError
from breastmri.data.io import save_nifti
from breastmri.inference.command import main as infer_main
from breastmri.slices.normalize import CaseNormalizer, clip_zscore

SHAPE = (8, 10, 6)                       # validation datasets
INFER_SHAPE = (20, 16, 6)                # inference inputs
AFFINE = np.diag([1.5, 1.4, 3.0, 1.0])
CASE = "DUKE_001"
SEED_CLINICAL = ("patient_id,er,pr,her2,mol_subtype,nottingham_grade\n"
                 "Breast_MRI_001,1,0,0,0,2\nBreast_MRI_002,0,0,1,2,3\n")
MAMAMIA_CLINICAL = ("patient_id,dataset,er,pr,her2,hr,nottingham_grade,tumor_subtype\n"
                    "DUKE_001,DUKE,1.0,0.0,0.0,1.0,high,luminal\n")
BIN = Path(sys.executable).parent


def _image(shape=SHAPE, seed=0):
    return np.random.default_rng(seed).uniform(0, 100, shape).astype(np.float32)


def _mask(shape=SHAPE):
    m = np.zeros(shape, np.uint8)
    m[2:5, 3:7, 1:4] = 1
    return m


def _corrupt(path: Path) -> None:
    path.write_bytes(np.random.default_rng(7).bytes(3000))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _header_only(path: Path, shape, header_class=nib.Nifti2Header) -> Path:
    """A gzipped NIfTI whose header claims ``shape`` (float32) but holds only 4 kB of voxel data."""
    hdr = header_class()
    hdr.set_data_shape(shape)
    hdr.set_data_dtype(np.float32)
    buf = io.BytesIO()
    hdr.write_to(buf)
    buf.write(b"\0" * (int(hdr.get_data_offset()) - buf.tell() + 4000))
    path.write_bytes(gzip.compress(buf.getvalue()))
    return path


@pytest.fixture
def no_voxel_reads(monkeypatch):
    """Any attempt to read voxel data through nibabel fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("voxel data must not be read for an implausible header")
    monkeypatch.setattr(nibabel.arrayproxy.ArrayProxy, "__array__", refuse)


# ------------------------------------------------------------------------------------------ datasets

@pytest.fixture
def datasets(tmp_path):
    """A valid seed dataset (one training pair, one inference scan) and a valid MAMA-MIA case (3 phases)."""
    seed, mamamia = tmp_path / "seed", tmp_path / "mamamia"
    save_nifti(_image(seed=1), AFFINE, seed / "train/scans/Breast_MRI_001.nii.gz")
    save_nifti(_mask(), AFFINE, seed / "train/masks/Breast_MRI_001.nii.gz")
    save_nifti(_image(seed=2), AFFINE, seed / "inference/scans/Breast_MRI_002.nii.gz")
    (seed / "clinical.csv").write_text(SEED_CLINICAL)
    for k in range(3):
        save_nifti(_image(seed=10 + k), AFFINE, mamamia / f"images/{CASE}/{CASE}_{k:04d}.nii.gz")
    save_nifti(_mask(), AFFINE, mamamia / f"segmentations/expert/{CASE}.nii.gz")
    (mamamia / "clinical_and_imaging_info.csv").write_text(MAMAMIA_CLINICAL)
    return seed, mamamia


TARGETS = {  # where a bad image is planted (relative to tmp_path)
    "seed_train_scan": "seed/train/scans/Breast_MRI_001.nii.gz",
    "seed_inference_scan": "seed/inference/scans/Breast_MRI_002.nii.gz",
    "mamamia_pre_contrast": f"mamamia/images/{CASE}/{CASE}_0000.nii.gz",
    "mamamia_phase": f"mamamia/images/{CASE}/{CASE}_0002.nii.gz",
}


def _validate(datasets, params_file, capsys) -> tuple[int, str, Path]:
    seed, mamamia = datasets
    out = seed.parent / "reports" / "validation.json"
    code = cli(["validate", "--params", str(params_file(data={"seed_root": str(seed), "mamamia_root": str(mamamia)},
                                                        validate={"out_json": str(out)}))])
    return code, capsys.readouterr().err, out


def _validate_fails(datasets, params_file, capsys, file: Path, *problem: str) -> str:
    """``breastmri validate`` exits 1 with ``error: <file>: <problem>`` and writes nothing (not even the folder)."""
    code, err, out = _validate(datasets, params_file, capsys)
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 1 and len(lines) == 1, err
    assert lines[0].startswith(f"error: {file}: "), lines[0]
    for fragment in problem:
        assert fragment in lines[0], lines[0]
    assert not out.exists() and not out.parent.exists()
    return lines[0]


def test_valid_datasets_pass(datasets, tmp_path, capsys, params_file):
    """The fixture itself is valid, so every failure below is caused by the planted defect."""
    code, _, out = _validate(datasets, params_file, capsys)
    assert code == 0 and json.loads(out.read_text())["seed"]["n_patients"]["total"] == 2


# --------------------------------------------------------------------------------- 1. corrupt / truncated

@pytest.mark.parametrize("damage, how", [(_corrupt, "random bytes"), (_truncate, "first half")])
@pytest.mark.parametrize("target", TARGETS)
def test_validate_rejects_corrupt_and_truncated(datasets, tmp_path, capsys, damage, how, target, params_file):
    """Case 1: a corrupt or truncated NIfTI anywhere in either layout stops validation naming the file."""
    path = tmp_path / TARGETS[target]
    damage(path)
    _validate_fails(datasets, params_file, capsys, path, "cannot read as NIfTI (corrupt or truncated)")


# ------------------------------------------------------------------------------------ 2. non-finite values

@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("target", ["seed_inference_scan", "mamamia_phase"])
def test_validate_rejects_non_finite_voxels(datasets, tmp_path, capsys, value, target, params_file):
    """Case 2: NaN and +/-inf voxels are rejected with their count."""
    path = tmp_path / TARGETS[target]
    array = _image()
    array[1, 2, 3] = array[4, 5, 0] = array[7, 9, 5] = value
    save_nifti(array, AFFINE, path)
    _validate_fails(datasets, params_file, capsys, path, "3 voxels are NaN or infinite")


# ------------------------------------------------------------------------------------------ 3. constant

@pytest.mark.parametrize("value", [0.0, 37.5])
@pytest.mark.parametrize("target, what", [("seed_train_scan", "scan"), ("seed_inference_scan", "scan"),
                                          ("mamamia_phase", "phase")])
def test_validate_rejects_constant_scans(datasets, tmp_path, capsys, value, target, what, params_file):
    """Case 3: a constant scan or phase has no image content and is rejected, stating the value."""
    path = tmp_path / TARGETS[target]
    save_nifti(np.full(SHAPE, value, np.float32), AFFINE, path)
    _validate_fails(datasets, params_file, capsys, path, f"{what} is constant (value {value:g}): no image content")


def test_validate_accepts_an_all_zero_mask(datasets, tmp_path, capsys, params_file):
    """Case 3, documented: an empty (all-zero) mask is valid; it is counted in ``mask_fraction.n_empty``."""
    seed, _ = datasets
    save_nifti(np.zeros(SHAPE, np.uint8), AFFINE, seed / "train/masks/Breast_MRI_001.nii.gz")
    code, _, out = _validate(datasets, params_file, capsys)
    assert code == 0
    assert json.loads(out.read_text())["seed"]["splits"]["train"]["mask_fraction"]["n_empty"] == 1


@pytest.mark.parametrize("value", [0.0, 1.0, -7.5, 1e30])
def test_normalisation_of_a_constant_slice_gives_finite_zeros(value):
    """Case 3, documented: z-scoring a constant slice (whole-breast ``clip_zscore``, lesion
    ``CaseNormalizer``) gives finite zeros, never a division by zero."""
    constant = np.full((16, 12), value, np.float32)
    for z in (clip_zscore(constant), CaseNormalizer.fit([constant, constant])(constant)):
        assert z.dtype == np.float32 and z.shape == constant.shape
        assert np.all(np.isfinite(z)) and np.all(z == 0)


# ------------------------------------------------------------------------------------- 4. dimensionality

@pytest.mark.parametrize("shape, dims", [((8, 10), "2D"), ((8, 10, 6, 2), "4D")])
@pytest.mark.parametrize("target", ["seed_train_scan", "mamamia_pre_contrast"])
def test_validate_rejects_2d_and_4d(datasets, tmp_path, capsys, shape, dims, target, params_file):
    """Case 4: a 2D or 4D file is rejected; the message states the dimensionality and the shape."""
    path = tmp_path / TARGETS[target]
    nib.save(nib.Nifti1Image(_image(shape), AFFINE), path)
    _validate_fails(datasets, params_file, capsys, path, f"expected a 3D volume, got {dims} with shape {shape}")


# ------------------------------------------------------------------------------------ 5. tiny / huge dims

@pytest.mark.parametrize("shape, axes", [((8, 10, 1), "axis 2"), ((8, 10, 2), "axis 2"), ((3, 10, 6), "axis 0"),
                                         ((64, 64, 1), "axis 2")])
def test_validate_rejects_too_few_voxels_along_an_axis(datasets, tmp_path, capsys, shape, axes, params_file):
    """Case 5: fewer than 4 voxels along any axis is not a 3D scan."""
    path = tmp_path / TARGETS["seed_inference_scan"]
    save_nifti(_image(shape), AFFINE, path)
    _validate_fails(datasets, params_file, capsys, path, f"scan shape {shape} has fewer than 4 voxels along {axes}")


def test_validate_accepts_four_voxels_per_axis(datasets, tmp_path, capsys, params_file):
    """Case 5: the limit is inclusive, a (4, 4, 4) scan passes."""
    save_nifti(_image((4, 4, 4)), AFFINE, tmp_path / TARGETS["seed_inference_scan"])
    code, _, _ = _validate(datasets, params_file, capsys)
    assert code == 0


@pytest.mark.parametrize("shape, header_class", [((100000, 100000, 1000), nib.Nifti2Header),
                                                 ((30000, 30000, 1000), nib.Nifti1Header),
                                                 ((5000, 4, 4), nib.Nifti1Header),
                                                 ((2048, 2048, 1024), nib.Nifti2Header)])
def test_validate_rejects_implausible_header_without_reading(datasets, tmp_path, capsys, no_voxel_reads, shape,
                                                             header_class, params_file):
    """Case 5: a header claiming an axis > 4096 or > 2**31 voxels (with a short data block) is rejected from
    the header alone (the first file validation reads, so no other volume is read before it)."""
    path = _header_only(tmp_path / TARGETS["seed_train_scan"], shape, header_class)
    _validate_fails(datasets, params_file, capsys, path, f"implausible dimensions {shape} in the header")


# -------------------------------------------------------------------------------------- 6. non-binary masks

MASK_TARGETS = {"seed_mask": ("seed/train/masks/Breast_MRI_001.nii.gz", "mask"),
                "mamamia_segmentation": (f"mamamia/segmentations/expert/{CASE}.nii.gz", "lesion segmentation")}


@pytest.mark.parametrize("values, shown", [((0, 255), "255"), ((0, 1, 2), "2"), ((0, 0.5), "0.5"),
                                           ((0, 1, -1), "-1"), ((0, 2, 255), "2, 255")])
@pytest.mark.parametrize("target", MASK_TARGETS)
def test_validate_rejects_non_binary_masks(datasets, tmp_path, capsys, values, shown, target, params_file):
    """Case 6: a mask or segmentation with values other than 0/1 is rejected; the values are named.
    (Unit tests of ``_check_binary`` are in tests/data/test_validation.py; this drives the CLI.)"""
    rel, what = MASK_TARGETS[target]
    mask = np.zeros(SHAPE, np.float32)
    for k, v in enumerate(values):
        mask[k, :2, :2] = v  # 4 voxels per value
    save_nifti(mask, AFFINE, tmp_path / rel)
    n_bad = 4 * sum(v not in (0, 1) for v in values)
    _validate_fails(datasets, params_file, capsys, tmp_path / rel,
                    f"{what} is not binary: {n_bad} voxels have values other than 0/1 ({shown})")


# ---------------------------------------------------------------------------------------- 7. id mismatch

def test_validate_reports_ids_missing_on_either_side(datasets, tmp_path, capsys, params_file):
    """Case 7, documented: unmatched ids are not a validation error; the summary counts imaging patients
    without a clinical row (and lists them) and clinical rows without imaging."""
    seed, mamamia = datasets
    (seed / "clinical.csv").write_text(SEED_CLINICAL.replace("Breast_MRI_002", "Breast_MRI_050")
                                       + "Breast_MRI_051,,,,,\n")
    (mamamia / "clinical_and_imaging_info.csv").write_text(MAMAMIA_CLINICAL.replace(CASE, "ISPY1_1001"))
    code, _, out = _validate(datasets, params_file, capsys)
    assert code == 0
    summary = json.loads(out.read_text())
    assert summary["seed"]["clinical"]["n_imaging_patients_without_clinical"] == 1
    assert summary["seed"]["clinical"]["imaging_patients_without_clinical"] == ["Breast_MRI_002"]
    assert summary["seed"]["clinical"]["n_clinical_patients_without_imaging"] == 2
    assert summary["mamamia"]["clinical"]["imaging_patients_without_clinical"] == [CASE]
    assert summary["mamamia"]["clinical"]["n_clinical_patients_without_imaging"] == 1


def _correlation_inputs(tmp_path, feature_ids):
    rng = np.random.default_rng(0)
    clinical_ids = [f"Breast_MRI_{i:03d}" for i in range(1, 9)]
    pd.DataFrame({"patient_id": clinical_ids, "er": rng.integers(0, 2, 8), "pr": rng.integers(0, 2, 8),
                  "her2": rng.integers(0, 2, 8), "mol_subtype": rng.integers(0, 4, 8),
                  "nottingham_grade": rng.integers(1, 4, 8)}).to_csv(tmp_path / "clinical.csv", index=False)
    pd.DataFrame({"patient_id": feature_ids, "tumor_volume_mm3": rng.uniform(100, 900, len(feature_ids))}
                 ).to_csv(tmp_path / "features.csv", index=False)
    return tmp_path / "features.csv", tmp_path / "clinical.csv"


def _correlate(params_file, features, clinical, out, variables=("er", "pr", "her2", "mol_subtype",
                                                                   "nottingham_grade")) -> int:
    return cli(["correlate", "--params", str(params_file(data={"truth_dir": ""}, correlate={
        "features_csv": str(features), "clinical_path": str(clinical), "out_dir": str(out),
        "metrics_path": str(out / "correlation_metrics.json"), "variables": list(variables)}))])


def test_correlate_inner_join_reports_counts(tmp_path, capsys, params_file):
    """Case 7, documented: features and clinical rows are inner-joined; ``n_joined`` and
    ``n_features_without_clinical`` are reported (clinical rows without features are simply unused)."""
    ids = [f"Breast_MRI_{i:03d}" for i in (1, 2, 3, 4, 5, 6, 90, 91)]
    features, clinical = _correlation_inputs(tmp_path, ids)
    out = tmp_path / "out"
    assert _correlate(params_file, features, clinical, out, ["er", "nottingham_grade"]) == 0
    assert capsys.readouterr().out.startswith("6 patients joined")
    metrics = json.loads((out / "correlation_metrics.json").read_text())
    assert metrics["n_joined"] == 6 and metrics["n_features_without_clinical"] == 2
    assert metrics["n_per_variable"] == {"er": 6, "nottingham_grade": 6}


def test_correlate_without_common_ids_fails_naming_both_files(tmp_path, capsys, params_file):
    """Case 7: no patient id in common is an error naming the feature table and the clinical table."""
    features, clinical = _correlation_inputs(tmp_path, ["DUKE_001", "DUKE_002", "DUKE_003"])
    out = tmp_path / "out"
    code = _correlate(params_file, features, clinical, out)
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"error: {features}: no patient id in common with the clinical table {clinical}"), err
    assert "'DUKE_001'" in err and "'Breast_MRI_001'" in err
    assert not out.exists()


# ------------------------------------------------------------------------------ 8. non-numeric clinical codes

@pytest.mark.parametrize("column, values", [("er", ["positive", "pos", "unknown"]), ("pr", ["Negative"]),
                                            ("her2", ["2+"]), ("nottingham_grade", ["III", "II"]),
                                            ("mol_subtype", ["luminal"])])
def test_seed_clinical_text_codes_are_errors(tmp_path, column, values):
    """Case 8: text codes in a numerically coded (seed/Duke) table are not guessed: the error names the
    file, the column and every bad value."""
    n = len(values) + 1
    table = pd.DataFrame({"patient_id": [f"Breast_MRI_{i:03d}" for i in range(1, n + 1)], "er": ["1"] * n,
                          "pr": ["0"] * n, "her2": ["0"] * n, "mol_subtype": ["0"] * n, "nottingham_grade": ["2"] * n})
    table.loc[1:, column] = values
    table.to_csv(tmp_path / "clinical.csv", index=False)
    with pytest.raises(DataError) as err:
        load_clinical(tmp_path / "clinical.csv")
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'clinical.csv'}: column '{column}' has invalid value(s) ")
    assert all(repr(v) in message for v in values), message


def test_clinical_missing_tokens_are_unknown(tmp_path):
    """Case 8, documented: ``NA``, ``NC``, ``NP``, ``n/a`` and blanks (any case) mean unknown (<NA>)."""
    (tmp_path / "clinical.csv").write_text("patient_id,er,pr,her2,mol_subtype,nottingham_grade\n"
                                           "1,NA,nc,NP,,n/a\n2,1,0,0,0,3\n")
    df = load_clinical(tmp_path / "clinical.csv")
    assert df.loc[0, ["er", "pr", "her2", "mol_subtype", "nottingham_grade"]].isna().all()
    assert df.loc[1, "er"] == 1 and df.loc[1, "nottingham_grade"] == 3


def test_mamamia_grade_words_map_and_roman_numerals_fail(tmp_path):
    """Case 8: MAMA-MIA grades ``low``/``intermediate``/``high`` map to 1/2/3 (documented aliases); ``III``
    is an error naming the column and the value."""
    text = ("patient_id,dataset,er,pr,her2,nottingham_grade,tumor_subtype\n"
            "DUKE_001,DUKE,1,0,0,low,luminal\nDUKE_002,DUKE,0,0,0,high,triple_negative\n")
    (tmp_path / "clinical_and_imaging_info.csv").write_text(text)
    assert list(load_clinical(tmp_path / "clinical_and_imaging_info.csv")["nottingham_grade"]) == [1, 3]
    (tmp_path / "clinical_and_imaging_info.csv").write_text(text.replace("high", "III"))
    with pytest.raises(DataError, match=r"clinical_and_imaging_info.csv: column 'nottingham_grade' has invalid "
                                        r"value\(s\) 'III'"):
        load_clinical(tmp_path / "clinical_and_imaging_info.csv")


def test_validate_cli_names_the_bad_clinical_column(datasets, tmp_path, capsys, params_file):
    """Case 8 through the CLI: the clinical error stops validation like any other input error."""
    seed, _ = datasets
    (seed / "clinical.csv").write_text(SEED_CLINICAL.replace("Breast_MRI_001,1,", "Breast_MRI_001,positive,"))
    _validate_fails(datasets, params_file, capsys, seed / "clinical.csv", "column 'er' has invalid value(s) 'positive'")


# ================================================================================== breastmri-infer

@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Tiny untrained U-Nets (base 2, depth 2) saved with the training checkpoint helper, one per task."""
    from breastmri.model.unet import UNet
    from breastmri.training.checkpoint import save_checkpoint

    folder = tmp_path_factory.mktemp("ckpt")
    out = {}
    for task, channels in (("breast", 1), ("lesion", 6)):
        torch.manual_seed(0)
        model = UNet(in_channels=channels, base=2, depth=2)
        out[task] = save_checkpoint({"model_state": model.state_dict(), "model_config": model.config,
                                     "task": task, "epoch": 1,
                                     "params": {"task": task, "threshold": 0.5, "size": 24, "low_pct": 1.0,
                                                "high_pct": 99.0, "spacing_mm": 2.0}},
                                    folder / f"{task}.pt")
    return out


@pytest.fixture
def infer_inputs(tmp_path):
    """A valid scan (whole-breast) and a valid MAMA-MIA case folder with three phases."""
    scan = save_nifti(_image(INFER_SHAPE, seed=3), AFFINE, tmp_path / "in" / "Breast_MRI_007.nii.gz")
    folder = tmp_path / "in" / CASE
    for k in range(3):
        save_nifti(_image(INFER_SHAPE, seed=20 + k), AFFINE, folder / f"{CASE}_{k:04d}.nii.gz")
    return scan, folder


def _infer(checkpoints, tmp_path, source: list[str], extra=()) -> tuple[int, Path]:
    task = "breast" if source[0] == "--scan" else "lesion"
    out = tmp_path / "out"
    code = infer_main([*source, "--checkpoint_path", str(checkpoints[task]), "--out_dir", str(out),
                       "--device", "cpu", *extra])
    return code, out


def _infer_fails(checkpoints, tmp_path, capsys, source, file: Path, *problem: str) -> str:
    """breastmri-infer exits 1 with ``error: <file>: <problem>`` and leaves no output (nor its folder)."""
    code, out = _infer(checkpoints, tmp_path, source)
    err = capsys.readouterr().err
    assert code == 1 and err.startswith(f"error: {file}: "), err
    for fragment in problem:
        assert fragment in err, err
    assert not out.exists(), sorted(p.name for p in out.iterdir())
    return err


def _sources(infer_inputs):
    """(command-line source, file to damage) for a scan, the pre-contrast phase and a post-contrast phase."""
    scan, folder = infer_inputs
    return {"scan": (["--scan", str(scan)], scan),
            "pre_contrast": (["--phases_folder", str(folder)], folder / f"{CASE}_0000.nii.gz"),
            "phase": (["--phases_folder", str(folder)], folder / f"{CASE}_0002.nii.gz")}


SOURCES = ["scan", "pre_contrast", "phase"]


def test_infer_valid_inputs_pass(checkpoints, infer_inputs, tmp_path, capsys):
    """The inference fixtures are valid, so every failure below is caused by the planted defect."""
    for source, _ in _sources(infer_inputs).values():
        code, out = _infer(checkpoints, tmp_path, source)
        assert code == 0 and any(out.glob("*_pred.nii.gz"))


@pytest.mark.parametrize("damage", [_corrupt, _truncate], ids=["corrupt", "truncated"])
@pytest.mark.parametrize("source", SOURCES)
def test_infer_rejects_corrupt_and_truncated(checkpoints, infer_inputs, tmp_path, capsys, damage, source):
    """Case 1 through breastmri-infer: the damaged scan or phase is named; nothing is written."""
    argv, path = _sources(infer_inputs)[source]
    damage(path)
    _infer_fails(checkpoints, tmp_path, capsys, argv, path, "cannot read as NIfTI (corrupt or truncated)")


@pytest.mark.parametrize("value", [np.nan, np.inf])
@pytest.mark.parametrize("source", ["scan", "phase"])
def test_infer_rejects_non_finite_voxels(checkpoints, infer_inputs, tmp_path, capsys, value, source):
    """Case 2 through breastmri-infer."""
    argv, path = _sources(infer_inputs)[source]
    array = _image(INFER_SHAPE)
    array[0, 0, 0] = array[5, 5, 5] = value
    save_nifti(array, AFFINE, path)
    _infer_fails(checkpoints, tmp_path, capsys, argv, path, "2 voxels are NaN or infinite")


def test_infer_constant_scan_or_case_fails_like_validation(checkpoints, infer_inputs, tmp_path, capsys):
    """Case 3 through breastmri-infer: a constant scan or phase has no image content; the command runs the
    validate stage's scan check, so both end in the same one-line error."""
    scan, folder = infer_inputs
    save_nifti(np.zeros(INFER_SHAPE, np.float32), AFFINE, scan)
    _infer_fails(checkpoints, tmp_path, capsys, ["--scan", str(scan)], scan, "scan is constant (value 0)")
    for k in range(3):
        save_nifti(np.full(INFER_SHAPE, 5.0, np.float32), AFFINE, folder / f"{CASE}_{k:04d}.nii.gz")
    _infer_fails(checkpoints, tmp_path, capsys, ["--phases_folder", str(folder)], folder / f"{CASE}_0000.nii.gz",
                 "phase is constant (value 5)")


@pytest.mark.parametrize("shape, dims", [(INFER_SHAPE[:2], "2D"), ((*INFER_SHAPE, 2), "4D")])
@pytest.mark.parametrize("source", SOURCES)
def test_infer_rejects_2d_and_4d(checkpoints, infer_inputs, tmp_path, capsys, shape, dims, source):
    """Case 4 through breastmri-infer."""
    argv, path = _sources(infer_inputs)[source]
    nib.save(nib.Nifti1Image(_image(shape), AFFINE), path)
    _infer_fails(checkpoints, tmp_path, capsys, argv, path, f"expected a 3D volume, got {dims}")


@pytest.mark.parametrize("shape", [(64, 64, 1), (20, 16, 2)])
def test_infer_rejects_thin_scans_like_validation(checkpoints, tmp_path, capsys, shape):
    """Case 5: a scan with fewer than 4 voxels along an axis is not a 3D scan (the validate stage's rule)."""
    scan = save_nifti(_image(shape, seed=4), AFFINE, tmp_path / "in" / "thin.nii.gz")
    _infer_fails(checkpoints, tmp_path, capsys, ["--scan", str(scan)], scan, "fewer than 4 voxels along axis 2")


@pytest.mark.parametrize("source", ["scan", "pre_contrast"])
def test_infer_rejects_implausible_header_without_reading(checkpoints, infer_inputs, tmp_path, capsys,
                                                          no_voxel_reads, source):
    """Case 5 through breastmri-infer: rejected from the header, no voxel is read."""
    argv, path = _sources(infer_inputs)[source]
    _header_only(path, (100000, 100000, 1000))
    _infer_fails(checkpoints, tmp_path, capsys, argv, path,
                 "implausible dimensions (100000, 100000, 1000) in the header")


@pytest.mark.parametrize("foreground", [255, 2, 0.5])
def test_infer_truth_mask_must_be_binary(checkpoints, infer_inputs, tmp_path, capsys, foreground):
    """Case 6: ``--mask_path`` (evaluation truth) must hold only 0 and 1, as the validate stage requires of
    every mask; a 0/255, 0/2 or 0/0.5 file is named with its values, and the 0/1 mask is scored."""
    scan, _ = infer_inputs
    binary = np.zeros(INFER_SHAPE, np.float32)
    binary[10:18, 2:14, 1:5] = 1
    save_nifti(binary, AFFINE, tmp_path / "binary.nii.gz")
    code, out = _infer(checkpoints, tmp_path, ["--scan", str(scan)], ["--mask_path", str(tmp_path / "binary.nii.gz")])
    assert code == 0 and f"truth_voxels: {int(binary.sum())}" in (out / "Breast_MRI_007_metrics.txt").read_text()
    shutil.rmtree(out)
    other = save_nifti(binary * foreground, AFFINE, tmp_path / "other.nii.gz")
    code, out = _infer(checkpoints, tmp_path, ["--scan", str(scan)], ["--mask_path", str(other)])
    err = capsys.readouterr().err.splitlines()[-1]  # after the first run's warnings
    assert code == 1 and err.startswith(f"error: {other}: mask is not binary") and f"({foreground:g})" in err, err
    assert not out.exists()


# ======================================================================= the real console scripts, once each

def _script(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / name), *args], capture_output=True, text=True, timeout=120)


def test_console_scripts_exit_1_with_the_file_and_the_problem(datasets, checkpoints, infer_inputs, tmp_path,
                                                              params_file):
    """Case 1 through the installed ``breastmri validate`` and ``breastmri-infer`` executables: exit status 1,
    ``error: <file>: <problem>`` as the last stderr line, no output."""
    seed, mamamia = datasets
    bad = seed / "inference/scans/Breast_MRI_002.nii.gz"
    _truncate(bad)
    out = tmp_path / "reports" / "validation.json"
    params = params_file(data={"seed_root": str(seed), "mamamia_root": str(mamamia)}, validate={"out_json": str(out)})
    run = _script("breastmri", "validate", "--params", str(params))
    assert run.returncode == 1, run.stderr
    assert run.stderr.splitlines()[-1].startswith(f"error: {bad}: cannot read as NIfTI"), run.stderr
    assert not out.parent.exists()

    scan, _ = infer_inputs
    _corrupt(scan)
    run = _script("breastmri-infer", "--scan", str(scan), "--checkpoint_path", str(checkpoints["breast"]),
                  "--out_dir", str(tmp_path / "out"), "--device", "cpu")
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.splitlines()[-1].startswith(f"error: {scan}: cannot read as NIfTI"), run.stderr
    assert not (tmp_path / "out").exists()
