"""Top-level generation: byte-identical reruns, seeds that differ, summary, settings from params.yaml only,
safety, the `breastmri synthesize` command."""

import hashlib
import json
from collections import Counter

import numpy as np
import pytest
from scipy import ndimage

from breastmri.data.errors import DataError
from breastmri.cli import main as cli
from breastmri.data.io import load_volume
from breastmri.phantom.synthesize import synthesize
from breastmri.phantom.truth import load_seed_truth, truth_file

from .conftest import SMALL, phantom_settings
from .test_seed import plan_of


def _hashes(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files(small_phantom, tmp_path):
    root, summary, _ = small_phantom
    again = synthesize(**phantom_settings(tmp_path, **SMALL))
    assert again == summary
    first, second = _hashes(root), _hashes(tmp_path)
    assert first == second and any(name.endswith(".nii.gz") for name in first)


def test_another_seed_gives_other_patients_cohorts_and_defects(tmp_path):
    a, b = (plan_of(phantom_settings(tmp_path, seed=seed, n_train=8, n_inference=8))[0] for seed in (1, 2))
    assert a.ids != b.ids and a.lesions != b.lesions and a.defects != b.defects and a.cohorts != b.cohorts


def test_summary_counts_cohorts_storages_and_defects(small_phantom):
    root, summary, values = small_phantom
    truth = json.loads((root / "truth" / "truth.json").read_text())
    records = truth["seed_layout"]["patients"]
    assert truth["seed_layout"]["cohorts"] == values["seed_cohorts"]
    assert truth["mamamia_layout"]["cohorts"] == values["mamamia_cohorts"]
    assert summary["train_patients"] == values["n_train"] and summary["inference_patients"] == values["n_inference"]
    for split in ("train", "inference"):
        mine = [r for r in records.values() if r["split"] == split]
        for name in ("scan_swap", "scan_flip_ud", "scan_flip_hf"):
            assert summary[f"{split}_{name}"] == sum(r[name] for r in mine) >= 2
        for name in values["seed_cohorts"]:
            assert summary[f"{split}_cohort_{name}"] == sum(r["cohort"] == name for r in mine) >= 2
        assert sum(v for k, v in summary.items() if k.startswith(f"{split}_storage_")) == len(mine)
    assert summary["train_mask_flip_ud"] >= 4 and summary["train_mask_flip_lr"] >= 4
    assert summary["mamamia_cases_missing_phases"] == 1 and summary["mamamia_cases"] == values["n_mamamia"]
    by_phases = Counter(len(r["phases_present"]) for r in truth["mamamia_layout"]["cases"].values())
    assert summary["mamamia_cases_by_phases"] == {str(n): k for n, k in sorted(by_phases.items())}
    assert summary["mamamia_sagittal_cases"] >= 2


def test_truth_record_lists_the_associations(small_phantom):
    root, _, values = small_phantom
    truth = json.loads((root / "truth" / "truth.json").read_text())
    assert truth["seed"] == values["seed"] and truth["associations"]["null"] == ["er"]
    planted = {(a["feature"], a["variable"], a["sign"]) for a in truth["associations"]["planted"]}
    assert ("tumor_volume_mm3", "nottingham_grade", 1) in planted


def test_bad_settings_are_named_before_anything_is_written(tmp_path):
    bad = [({"n_train": -1}, r"synthesize\.n_train: expected an integer >= 0"),
           ({"scan_swap_rate": 1.5}, r"synthesize\.scan_swap_rate: expected a rate in \[0, 1\]"),
           ({"duke_matrix": 20}, r"synthesize\.duke_matrix: expected an in-plane matrix"),
           ({"scanner_orientations": ["LPS", "PIR"]}, r"scanner_orientations\[1\]: stored axis 2 of a axial stack"),
           ({"scanner_orientations": []}, r"scanner_orientations: expected at least one")]
    for overrides, message in bad:
        with pytest.raises(DataError, match=message):
            synthesize(**phantom_settings(tmp_path / "out", **overrides))
    assert not (tmp_path / "out").exists()  # nothing is written before the settings are checked


def test_refuses_to_overwrite_a_folder_that_is_not_a_phantom(tmp_path):
    (tmp_path / "seed").mkdir()
    (tmp_path / "seed" / "precious.txt").write_text("real data")
    with pytest.raises(DataError, match="not a phantom"):
        synthesize(**phantom_settings(tmp_path, n_train=1, n_inference=1, n_mamamia=1))
    assert (tmp_path / "seed" / "precious.txt").is_file()


def test_command_writes_and_reports(tmp_path, capsys, params_file):
    params = params_file(synthesize={"out_dir": str(tmp_path / "p"), "seed": 3, "n_train": 2, "n_inference": 1,
                                     "n_mamamia": 0, "mask_flip_lr_rate": 0, "duke_matrix": 96})
    assert cli(["synthesize", "--params", str(params)]) == 0
    assert capsys.readouterr().out.startswith("phantom: 2 training and 1 inference scans (seed layout), 0 MAMA-MIA")
    assert (tmp_path / "p" / "seed" / "clinical.csv").is_file()
    assert cli(["synthesize", "--params", str(params)]) == 0  # a rerun replaces the previous phantom
    (tmp_path / "p" / "truth" / "truth.json").unlink()
    assert cli(["synthesize", "--params", str(params)]) == 1 and "not a phantom" in capsys.readouterr().err
    assert cli(["synthesize", "--params", str(tmp_path / "missing.yaml")]) == 1


def test_a_sagittal_dark_fat_cohort_writes_one_dark_breast_in_thick_left_right_slices(tmp_path):
    cohorts = {"dark_sagittal": {"share": 1.0, "affine": "scanner", "contrast": "dark_fat", "symmetric": False,
                                 "acquisition": "sagittal"}}
    synthesize(**phantom_settings(tmp_path, seed=3, n_train=0, n_inference=2, n_mamamia=0,
                                  scanner_orientations=["LPS"], oblique_rate=0.0, seed_cohorts=cohorts))
    for pid, record in load_seed_truth(tmp_path / "truth").items():
        scan = load_volume(tmp_path / "seed" / "inference" / "scans" / f"{pid}.nii.gz", pid)
        breast = load_volume(truth_file(tmp_path / "truth", record["breast_mask"]), pid).array > 0
        assert breast.shape == scan.shape and ndimage.label(breast)[1] == 1  # one breast
        assert 2.0 <= scan.spacing[0] <= 3.0 and max(scan.spacing[1:]) < 2.0  # L thick, P and S fine
        image = scan.array
        assert np.median(image[breast]) < 0.2 * np.percentile(image[breast], 99)  # fat near the noise floor
