import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from inference_helpers import phantom_like, store, threshold_predictor, tiny_checkpoint

from breastmri.data.errors import DataError
from breastmri.data.io import save_nifti
from breastmri.inference.predictor import SlicePredictor
from breastmri.inference.real_exams import evaluate_real

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "real" / "nact" / "mamamia"


def write_real(root, storage="lps"):
    """A 'real' MAMA-MIA folder: 3 phases, no expert segmentation, a tissue-box mask around the lesion; the lesion
    enhances by 100% (inside the FTV), the rest of the breast by 20% (outside it)."""
    scan, breast, lesion = phantom_like(seed=3)
    for k, gain in enumerate((0.0, 1.0, 0.8)):
        phase = scan * np.where(lesion > 0, 1.0 + gain, 1.0 + 0.2 * (k > 0))
        (arr,), affine = store([phase.astype(np.float32)], storage)
        save_nifti(arr, affine, root / "images" / "REAL_01" / f"REAL_01_{k:04d}.nii.gz")
    box = np.zeros_like(breast)
    box[28:42, 6:20, 4:15] = 1
    (tissue, stored_lesion), affine = store([box & breast, lesion], storage)
    save_nifti(tissue, affine, root / "segmentations" / "fgt_voi" / "REAL_01.nii.gz")
    return stored_lesion


@pytest.fixture
def checkpoints(tmp_path):
    return {"checkpoint": tiny_checkpoint(tmp_path / "lesion.pt", task="lesion", size=24),
            "breast_checkpoint": tiny_checkpoint(tmp_path / "breast.pt", task="breast", size=24)}


def test_a_prediction_equal_to_the_lesion_covers_the_ftv_and_lies_on_it(tmp_path, checkpoints, monkeypatch):
    lesion = write_real(tmp_path / "real")

    def predict(self, paths, box=None):  # the 'model' outlines the lesion: bright pre-contrast AND enhancing
        pre, post = (np.asarray(nib.load(p).dataobj) for p in paths[:2])
        return ((post > 1.5 * pre) & (pre > 150)).astype(np.float32)
    monkeypatch.setattr(SlicePredictor, "predict_lesion", predict)
    monkeypatch.setattr(SlicePredictor, "predict_breast", lambda self, oriented, spacing=None: threshold_predictor(oriented))
    metrics_path = tmp_path / "m" / "real.json"
    summary = evaluate_real(tmp_path / "real", tmp_path / "pred", tissue_mask_dir="segmentations/fgt_voi",
                            metrics_path=metrics_path, figures_dir=tmp_path / "fig", skin_margin_mm=0.0,
                            progress=False, **checkpoints)
    row = summary["per_case"].loc["REAL_01"]
    pred = np.asarray(nib.load(tmp_path / "pred" / "REAL_01_pred.nii.gz").dataobj)
    np.testing.assert_array_equal(pred, lesion)
    assert row["ftv_covered"] == 1.0 and row["pred_near_ftv"] == 1.0 and row["tumor_in_ftv"] == 1.0
    assert row["ftv_ml"] == pytest.approx(lesion.sum() * 0.8 * 0.7 * 2.5 / 1000)
    metrics = json.loads(metrics_path.read_text())
    assert metrics["available"] and metrics["ftv_covered"]["min"] == 1.0 and metrics["breast_flagged"] == 0
    assert (tmp_path / "fig" / "REAL_01.png").is_file() and metrics_path.with_suffix(".csv").is_file()


def test_without_real_exams_the_stage_says_so_and_a_missing_tissue_mask_is_an_error(tmp_path, checkpoints):
    summary = evaluate_real("", tmp_path / "pred", tissue_mask_dir="x", metrics_path=tmp_path / "m.json",
                            **checkpoints)
    assert summary["metrics"] == {"available": False, "real_root": ""}
    assert json.loads((tmp_path / "m.json").read_text())["available"] is False
    assert (tmp_path / "m.csv").read_text() == "case_id\n"  # the declared table exists, empty
    write_real(tmp_path / "real")
    with pytest.raises(DataError, match="elsewhere/REAL_01.nii.gz: tissue mask not found"):
        evaluate_real(tmp_path / "real", tmp_path / "pred", tissue_mask_dir="elsewhere",
                      metrics_path=tmp_path / "m.json", progress=False, **checkpoints)
    with pytest.raises(DataError, match="needs the whole-breast model"):
        evaluate_real(tmp_path / "real", tmp_path / "pred", tissue_mask_dir="segmentations/fgt_voi",
                      metrics_path=tmp_path / "m.json", checkpoint=checkpoints["checkpoint"])


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/real/nact not available")
def test_the_real_sagittal_exams_go_through_the_whole_path(tmp_path, checkpoints):
    """Untrained tiny models: only the path is checked (grids, files, finite shares), not the quality."""
    summary = evaluate_real(REAL, tmp_path / "pred", tissue_mask_dir="segmentations/fgt_voi",
                            metrics_path=tmp_path / "m.json", progress=False, **checkpoints)
    assert list(summary["per_case"].index) == ["UCSF-BR-06", "UCSF-BR-08"]
    for case in summary["per_case"].index:
        ref = nib.load(REAL / "images" / case / f"{case}_0000.nii.gz")
        for suffix in ("pred", "breast", "tumor"):
            out = nib.load(tmp_path / "pred" / f"{case}_{suffix}.nii.gz")
            assert out.shape == ref.shape and np.allclose(out.affine, ref.affine)
        assert 30.0 < summary["per_case"].loc[case, "ftv_ml"] < 60.0  # about 40 ml in each exam
