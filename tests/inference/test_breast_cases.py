import hashlib
import json
from types import SimpleNamespace

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from inference_helpers import threshold_predictor, tiny_checkpoint

from breastmri.data.errors import DataError
from breastmri.inference import breast_cases
from breastmri.inference.candidates import CandidateRule
from breastmri.inference.features import FEATURE_NAMES, TRUSTED
from breastmri.inference.predictor import Preprocessing

RULE = CandidateRule(percentile=98.0, core_mm=0.0, skin_margin_mm=3.0, max_bulk_ratio=0.5)  # the tumour candidate's


def _standin(*args, **kwargs):
    return SimpleNamespace(predict_breast=threshold_predictor, threshold=0.5, device="cpu",
                           preprocessing=Preprocessing("breast", 32), mirror_tta=kwargs.get("mirror_tta", False))


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def test_stage_outputs_metrics_and_determinism(seed_dataset, tmp_path, monkeypatch):
    seed_root, truth_dir = seed_dataset
    monkeypatch.setattr(breast_cases, "load_predictor", _standin)
    out, metrics_path = tmp_path / "pred", tmp_path / "metrics" / "infer_breast.json"
    summary = breast_cases.infer_dataset(seed_root, "unused.pt", out, rule=RULE, truth_dir=truth_dir,
                                         metrics_path=metrics_path, figures_dir=tmp_path / "fig", n_preview=3,
                                         progress=False)
    for scan in sorted((seed_root / "inference" / "scans").iterdir()):
        pid = scan.name[:-7]
        src = nib.load(str(scan))
        for suffix in ("_breast.nii.gz", "_tumor.nii.gz"):
            img = nib.load(str(out / f"{pid}{suffix}"))
            assert img.shape == src.shape
            np.testing.assert_array_equal(img.affine, src.affine)
            assert img.get_data_dtype() == np.uint8
        assert (tmp_path / "fig" / "overlays" / f"{pid}.png").is_file()
    assert (tmp_path / "fig" / "prediction_grid.png").is_file()
    features = pd.read_csv(out / "features.csv", index_col="patient_id")
    assert list(features.columns) == [*FEATURE_NAMES, TRUSTED] and len(features) == 5
    m = summary["metrics"]
    # the stand-in scans' breasts are uniform bright tissue (median 0.95 of the 99th percentile): every candidate is
    # reported untrusted, in the table, the QC and the per-patient rows, with the hit rate among them
    assert not features[TRUSTED].any()
    candidate = m["qc"]["candidate"]
    assert candidate["n_untrusted"] == 5 and candidate["untrusted"] == sorted(features.index)
    assert candidate["bulk_ratio"]["min"] > 0.5 and candidate["max_bulk_ratio"] == 0.5
    assert candidate["n_untrusted"] == 5 and candidate["hit_rate_untrusted"] == 1.0
    assert "n_trusted" not in candidate and not summary["per_patient"][TRUSTED].any()
    assert m["breast_dice"]["min"] > 0.95 and m["tumor_hit_rate"] == 1.0
    assert m["breast_hd95_mm"]["max"] < 3.0
    dices = [v["breast_dice"] for v in m["per_patient"].values()]
    assert max(dices) - min(dices) < 0.02          # storage / flips do not matter
    assert set(m["breast_dice_by_storage"]) == {"diag", "lps", "transposed"}
    classical = m["classical"]  # the weight-free baseline, scored on the same patients and cohorts
    assert set(classical["breast_dice_by_cohort"]) == set(m["breast_dice_by_cohort"])
    assert classical["breast_dice"]["n"] == 5 and 0.0 <= classical["breast_dice"]["min"] <= 1.0
    assert set(m["tumor_hit_rate_by_cohort"]) == set(m["breast_dice_by_cohort"])
    assert metrics_path.is_file() and metrics_path.with_suffix(".csv").is_file()
    first = _digest(out)
    (out / "Breast_MRI_099_breast.nii.gz").write_bytes(b"stale")
    breast_cases.infer_dataset(seed_root, "unused.pt", out, rule=RULE, progress=False)
    assert _digest(out) == first                    # deterministic, stale outputs removed


def test_without_truth_the_declared_metric_files_still_exist(seed_dataset, tmp_path, monkeypatch):
    seed_root, _ = seed_dataset
    monkeypatch.setattr(breast_cases, "load_predictor", _standin)
    metrics_path = tmp_path / "metrics" / "infer_breast.json"
    summary = breast_cases.infer_dataset(seed_root, "unused.pt", tmp_path / "pred", rule=RULE, truth_dir=None,
                                         metrics_path=metrics_path, progress=False)
    assert "metrics" not in summary
    written = json.loads(metrics_path.read_text())
    qc = written.pop("qc")
    assert written == {"evaluated": False, "n_patients": 5, "threshold": 0.5, "mirror_tta": False}
    # no truth, yet every prediction's plausibility is measured: the stand-in finds the breasts, in the body
    assert qc["n_flagged"] == 0 and qc["inside_body"]["min"] > 0.9 and qc["front_covered"]["min"] > 0.9
    listed = pd.read_csv(metrics_path.with_suffix(".csv"))
    assert list(listed["patient_id"]) == sorted(p.name[:-7] for p in (seed_root / "inference" / "scans").iterdir())


def test_stage_with_orientation_record_and_real_checkpoint(seed_dataset, tmp_path):
    from breastmri.data.io import load_volume
    from breastmri.orientation.orient import orient_scan
    from breastmri.orientation.record import save_records

    seed_root, truth_dir = seed_dataset
    scans = sorted((seed_root / "inference" / "scans").iterdir())
    records = [orient_scan(load_volume(p, p.name[:-7]), split="inference")[1] for p in scans]
    record_path = save_records(records, tmp_path / "oriented" / "orientation_record.json")
    ckpt = tiny_checkpoint(tmp_path / "best.pt")
    (tmp_path / "threshold.json").write_text('{"threshold": 0.4}')
    summary = breast_cases.infer_dataset(seed_root, ckpt, tmp_path / "pred", rule=RULE,
                                         threshold_json=tmp_path / "threshold.json", record_path=record_path,
                                         truth_dir=truth_dir, batch_size=8, progress=False)
    assert summary["threshold"] == 0.4 and summary["preprocessing"]["size"] == 32
    assert summary["metrics"]["n_patients"] == 5
    # a record file that lacks a patient is an error naming it
    save_records(records[:2], record_path)
    with pytest.raises(DataError, match="no orientation record"):
        breast_cases.infer_dataset(seed_root, ckpt, tmp_path / "pred2", rule=RULE, record_path=record_path,
                                   progress=False)


def test_stage_refuses_lesion_checkpoint(seed_dataset, tmp_path):
    seed_root, _ = seed_dataset
    ckpt = tiny_checkpoint(tmp_path / "lesion.pt", task="lesion")
    with pytest.raises(DataError, match="'lesion' task"):
        breast_cases.infer_dataset(seed_root, ckpt, tmp_path / "pred", rule=RULE, progress=False)


def test_figures_grid_and_focus(tmp_path):
    from inference_helpers import phantom_like, store

    from breastmri.analysis.figures import save_figure
    from breastmri.inference.figures import Case, _focus_indices, case_overlay, prediction_grid

    scan, breast, lesion = phantom_like()
    (s, b, l), affine = store([scan, breast, lesion], "transposed", flip_ud=True)
    case = Case("Breast_MRI_001", s, affine, b, l, l)
    shown = case.viewer_frame()
    np.testing.assert_array_equal(shown.scan, scan)                   # shown in the working frame
    ks = _focus_indices(shown, 5)
    assert len(ks) == 5 and shown.tumor[:, :, ks[2]].any()
    fig = prediction_grid([case, case], focus=True)
    assert len(fig.axes) == 10
    path = save_figure(case_overlay(case, {"dice": 0.9}), tmp_path / "o.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
