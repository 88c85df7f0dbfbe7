"""Top-level generation: byte-identical reruns, seeds that differ, summary, safety, console entry."""

import hashlib
import json

import pytest

from breastmri.data.errors import DataError
from breastmri.phantom.synthesize import main, plan_seed, synthesize

from .conftest import SMALL


def _hashes(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files(small_phantom, tmp_path):
    root, summary, _ = small_phantom
    again = synthesize(tmp_path, **SMALL)
    assert again == summary
    first, second = _hashes(root), _hashes(tmp_path)
    assert first == second and any(name.endswith(".nii.gz") for name in first)


def test_another_seed_gives_other_patients_and_defects():
    rates = {k: 0.25 for k in ("scan_flip_ud", "scan_flip_hf", "mask_flip_ud", "mask_flip_lr")}
    a, b = (plan_seed(seed, 8, 8, rates, 0.1) for seed in (1, 2))
    assert a.ids != b.ids and a.lesions != b.lesions and a.defects != b.defects


def test_summary_counts_the_planted_defects(small_phantom):
    root, summary, params = small_phantom
    records = json.loads((root / "truth" / "truth.json").read_text())["seed_layout"]["patients"]
    assert summary["train_patients"] == params["n_train"] and summary["inference_patients"] == params["n_inference"]
    for split in ("train", "inference"):
        for name in ("scan_flip_ud", "scan_flip_hf"):
            assert summary[f"{split}_{name}"] == sum(r[name] for r in records.values() if r["split"] == split) >= 2
    assert summary["train_mask_flip_ud"] >= 2 and summary["train_mask_flip_lr"] >= 2
    assert summary["mamamia_cases_with_gap"] == 1 and summary["mamamia_cases"] == params["n_mamamia"]


def test_truth_record_lists_the_associations(small_phantom):
    root, _, params = small_phantom
    truth = json.loads((root / "truth" / "truth.json").read_text())
    assert truth["seed"] == params["seed"] and truth["associations"]["null"] == ["er"]
    planted = {(a["feature"], a["variable"], a["sign"]) for a in truth["associations"]["planted"]}
    assert ("tumor_volume_mm3", "nottingham_grade", 1) in planted


def test_refuses_to_overwrite_a_folder_that_is_not_a_phantom(tmp_path):
    (tmp_path / "seed").mkdir()
    (tmp_path / "seed" / "precious.txt").write_text("real data")
    with pytest.raises(DataError, match="not a phantom"):
        synthesize(tmp_path, n_train=1, n_inference=1, n_mamamia=1)
    assert (tmp_path / "seed" / "precious.txt").is_file()


def test_console_entry_writes_and_reports(tmp_path, capsys):
    args = ["--out-dir", str(tmp_path), "--seed", "3", "--n-train", "2", "--n-inference", "1", "--n-mamamia", "0",
            "--storage-rate", "0", "--mask-flip-lr-rate", "0"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["train_patients"] == 2 and summary["train_mask_flip_lr"] == 0
    assert summary["train_storage_lps"] == summary["train_storage_transposed"] == summary["mamamia_cases"] == 0
    assert main(args) == 0  # a rerun replaces the previous phantom
    (tmp_path / "truth" / "truth.json").unlink()
    assert main(args) == 1 and "not a phantom" in capsys.readouterr().err
