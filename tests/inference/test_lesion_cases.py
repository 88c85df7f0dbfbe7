import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage
from inference_helpers import phantom_like, store, threshold_predictor, tiny_checkpoint

from breastmri.cli import main as cli
from breastmri.data.errors import DataError
from breastmri.data.io import save_nifti
from breastmri.inference import dce
from breastmri.inference.command import main as infer_command
from breastmri.inference.postprocess import erode_mm
from breastmri.inference.lesion_cases import infer_lesion_cases
from breastmri.inference.predictor import SlicePredictor
from breastmri.slices.writer import H5SliceWriter

CASES = {  # case -> (storage, phases present, lesion centre)
    "DUKE_001": ("diag", (0, 1, 2, 3, 4, 5), (34, 12, 9)),
    "ISPY1_002": ("lps", (0, 1, 3), (30, 26, 7)),
    "NACT_003": ("transposed", (0, 2), (36, 14, 11)),
}
VALIDATION = ["ISPY1_002", "NACT_003"]


def write_mamamia(root):
    """A MAMA-MIA layout: three cases stored diagonally / LPS / transposed, two with missing phases."""
    for number, (case, (storage, phases, centre)) in enumerate(CASES.items()):
        scan, _, lesion = phantom_like(seed=number, lesion_centre=centre)
        for k in phases:
            phase = scan.copy()
            phase[lesion > 0] *= 1.0 + 0.3 * k
            (arr,), affine = store([phase], storage)
            save_nifti(arr, affine, root / "images" / case / f"{case}_{k:04d}.nii.gz")
        (mask,), affine = store([lesion], storage)
        save_nifti(mask, affine, root / "segmentations" / "expert" / f"{case}.nii.gz")
    return root


def write_split(path, validation=VALIDATION, task="lesion"):
    with H5SliceWriter(path, task, 24, 6 if task == "lesion" else 1, seed=0, params={"size": 24},
                       split={"train": ["DUKE_001"], "validation": validation}):
        pass  # an empty slice file: only its attributes are read
    return path


@pytest.fixture
def layout(tmp_path):
    root = write_mamamia(tmp_path / "mamamia")
    return root, write_split(tmp_path / "lesion.h5"), tiny_checkpoint(tmp_path / "lesion.pt", task="lesion", size=24)


def _truth_predictor(monkeypatch):
    """The model replaced by the expert segmentation itself: the stage must then score Dice 1 everywhere."""
    def predict(self, paths, box=None):
        case = paths[0].parent.name
        mask = paths[0].parents[2] / "segmentations" / "expert" / f"{case}.nii.gz"
        return np.asarray(nib.load(mask).dataobj, dtype=np.float32)
    monkeypatch.setattr(SlicePredictor, "predict_lesion", predict)


def test_validation_cases_get_masks_on_their_own_grid_and_exact_scores(layout, tmp_path, monkeypatch):
    root, h5, ckpt = layout
    _truth_predictor(monkeypatch)
    out, figures, metrics_path = tmp_path / "pred", tmp_path / "fig", tmp_path / "m" / "infer_lesion.json"
    summary = infer_lesion_cases(root, ckpt, out, h5_path=h5, metrics_path=metrics_path, figures_dir=figures,
                                 progress=False)
    assert sorted(p.name for p in out.iterdir()) == [f"{c}_pred.nii.gz" for c in VALIDATION]
    for case in VALIDATION:
        ref = nib.load(root / "images" / case / f"{case}_0000.nii.gz")
        pred = nib.load(out / f"{case}_pred.nii.gz")
        assert pred.shape == ref.shape
        np.testing.assert_array_equal(pred.affine, ref.affine)
        truth = np.asarray(nib.load(root / "segmentations" / "expert" / f"{case}.nii.gz").dataobj)
        np.testing.assert_array_equal(np.asarray(pred.dataobj), truth)
        assert (figures / "overlays" / f"{case}.png").is_file()
    metrics = json.loads(metrics_path.read_text())
    assert metrics["n_cases"] == metrics["n_evaluated"] == 2
    assert metrics["dice"]["min"] == 1.0 and metrics["hd95_mm"]["max"] == 0.0
    # the challenge's scores of perfect predictions: Dice 1, voxel HD95 0, NormHD 0 -> performance 1; no
    # clinical table: no fairness variable, so no fairness and no ranking (null), not a made-up 1
    assert metrics["challenge_hd95_voxels"]["max"] == 0.0 and metrics["challenge_norm_hd"]["max"] == 0.0
    challenge = metrics["challenge"]
    assert challenge["n_cases"] == 2 and challenge["performance"] == 1.0
    assert challenge["fairness"] == {} and challenge["ranking"] is None
    assert sorted(metrics["per_case"]) == VALIDATION
    assert (figures / "prediction_grid.png").is_file() and metrics_path.with_suffix(".csv").is_file()
    assert list(summary["per_case"].index) == VALIDATION


def test_the_challenge_fairness_reads_the_layouts_clinical_table(layout, tmp_path, monkeypatch):
    """A lesion model that finds one case's lesion and misses the other's: the two cases in different age and
    menopause groups make both fairness scores 1 - 0.5 (1 + 1) = 0. The table's ids meet the case folders regardless of
    letter case (one is written lower case)."""
    root, h5, ckpt = layout

    def one_of_two(self, paths, box=None):
        case = Path(paths[0]).parent.name
        truth = np.asarray(nib.load(root / "segmentations" / "expert" / f"{case}.nii.gz").dataobj)
        return truth.astype(np.float32) * (case == VALIDATION[0])

    monkeypatch.setattr(SlicePredictor, "predict_lesion", one_of_two)
    (root / "clinical_and_imaging_info.csv").write_text(
        "patient_id,dataset,er,pr,her2,nottingham_grade,tumor_subtype,age,menopause\n"
        f"{VALIDATION[0].lower()},ISPY1,1,0,0,,luminal,38,pre\n{VALIDATION[1]},NACT,0,0,0,,triple_negative,66,post\n"
        "DUKE_001,DUKE,0,0,1,low,her2_pure,50,\n")
    metrics = infer_lesion_cases(root, ckpt, tmp_path / "pred", h5_path=h5, progress=False)["metrics"]["challenge"]
    assert metrics["dice_mean"] == 0.5 and metrics["norm_hd_mean"] == 0.5  # missed: Dice 0, NormHD 1
    assert metrics["performance"] == 0.5
    assert metrics["fairness"] == {"age": 0.0, "menopause": 0.0}
    assert metrics["ranking"] == 0.25


def test_all_cases_agree_with_the_one_case_command_and_rerun_identically(layout, tmp_path):
    root, h5, ckpt = layout
    metrics_path = tmp_path / "infer_lesion.json"
    summary = infer_lesion_cases(root, ckpt, tmp_path / "pred", cases="all", threshold_json=None,
                                 metrics_path=metrics_path, progress=False)
    assert summary["metrics"]["n_cases"] == 3
    first = metrics_path.read_bytes()
    infer_lesion_cases(root, ckpt, tmp_path / "pred", cases="all", metrics_path=metrics_path, progress=False)
    assert metrics_path.read_bytes() == first
    for case in CASES:
        one = tmp_path / "one" / case
        assert infer_command(["--phases_folder", str(root / "images" / case), "--checkpoint_path", str(ckpt),
                              "--mask_path", str(root / "segmentations" / "expert" / f"{case}.nii.gz"),
                              "--out_dir", str(one), "--device", "cpu"]) == 0
        np.testing.assert_array_equal(np.asarray(nib.load(one / f"{case}_pred.nii.gz").dataobj),
                                      np.asarray(nib.load(tmp_path / "pred" / f"{case}_pred.nii.gz").dataobj))
        dice_line = next(line for line in (one / f"{case}_metrics.txt").read_text().splitlines()
                         if line.startswith("dice:"))
        assert float(dice_line.split()[1]) == pytest.approx(summary["per_case"].loc[case, "dice"], abs=1e-6)


def test_every_lesion_path_reads_the_channel_phases_the_checkpoint_records(layout, tmp_path, monkeypatch):
    """A model of phases [0, 3]: the stage and the one-case command give it those files, nothing for a phase the
    case lacks; and the real network runs on them."""
    root, _, _ = layout
    ckpt = tiny_checkpoint(tmp_path / "two.pt", task="lesion", size=24, phases=[0, 3])
    assert infer_command(["--phases_folder", str(root / "images" / "NACT_003"), "--checkpoint_path", str(ckpt),
                          "--out_dir", str(tmp_path / "real"), "--device", "cpu"]) == 0
    seen = {}

    def predict(self, paths, box=None):
        case = Path(paths[0]).parent.name
        seen[case] = [None if p is None else Path(p).name for p in paths]
        return np.zeros(nib.load(paths[0]).shape, np.float32)

    monkeypatch.setattr(SlicePredictor, "predict_lesion", predict)
    infer_lesion_cases(root, ckpt, tmp_path / "pred", cases="all", progress=False)
    assert seen == {"DUKE_001": ["DUKE_001_0000.nii.gz", "DUKE_001_0003.nii.gz"],
                    "ISPY1_002": ["ISPY1_002_0000.nii.gz", "ISPY1_002_0003.nii.gz"],
                    "NACT_003": ["NACT_003_0000.nii.gz", None]}
    seen.clear()
    assert infer_command(["--phases_folder", str(root / "images" / "ISPY1_002"), "--checkpoint_path", str(ckpt),
                          "--out_dir", str(tmp_path / "one"), "--device", "cpu"]) == 0
    assert seen == {"ISPY1_002": ["ISPY1_002_0000.nii.gz", "ISPY1_002_0003.nii.gz"]}


def test_with_an_official_split_the_held_out_cases_are_its_test_cases(layout, tmp_path, monkeypatch):
    root, h5, ckpt = layout
    _truth_predictor(monkeypatch)
    (root / "train_test_splits.csv").write_text("train_split,test_split\nDUKE_001,nact_003\nISPY1_002,\n")
    with pytest.raises(DataError, match=r"lesion.h5: the file holds 1 official test case\(s\) \(NACT_003\): it was "
                                        r"built without train_test_splits.csv; rebuild it"):
        infer_lesion_cases(root, ckpt, tmp_path / "pred", h5_path=h5, progress=False)
    official = write_split(tmp_path / "official.h5", validation=["ISPY1_002"])  # as built: NACT_003 left out
    metrics_path = tmp_path / "infer_lesion.json"
    for h5_path in (official, None):
        summary = infer_lesion_cases(root, ckpt, tmp_path / "pred", h5_path=h5_path, metrics_path=metrics_path,
                                     progress=False)
        assert list(summary["per_case"].index) == ["NACT_003"] and summary["metrics"]["dice"]["min"] == 1.0
        assert json.loads(metrics_path.read_text())["case_set"] == "official test"
    assert sorted(p.name for p in (tmp_path / "pred").iterdir()) == ["NACT_003_pred.nii.gz"]
    (root / "train_test_splits.csv").unlink()  # without it: the HDF5's validation split, as before
    assert infer_lesion_cases(root, ckpt, tmp_path / "pred", h5_path=h5, progress=False)["metrics"]["case_set"] == (
        "validation")


def test_a_model_built_within_breast_boxes_gets_each_cases_box_where_the_layout_has_one(layout, tmp_path,
                                                                                         monkeypatch):
    """DUKE_001 has patient_info_files/duke_001.json (box z 20-46, y 2-30, x 3-17 of its (48, 40, 20) voxels): a crop
    model's probability is zero outside it; cases without a file, and a model built without boxes, get none."""
    root, _, _ = layout
    info = root / "patient_info_files" / "duke_001.json"
    info.parent.mkdir()
    info.write_text(json.dumps({"primary_lesion": {"breast_coordinates": {
        "z_min": 20, "z_max": 46, "y_min": 2, "y_max": 30, "x_min": 3, "x_max": 17}}}))
    crop = tiny_checkpoint(tmp_path / "crop.pt", task="lesion", size=24, breast_box="crop")
    out = tmp_path / "one"
    assert infer_command(["--phases_folder", str(root / "images" / "DUKE_001"), "--checkpoint_path", str(crop),
                          "--out_dir", str(out), "--device", "cpu"]) == 0
    prob = np.asarray(nib.load(out / "DUKE_001_prob.nii.gz").dataobj)
    inside = np.zeros(prob.shape, bool)
    inside[20:46, 2:30, 3:17] = True
    assert prob.shape == (48, 40, 20) and not prob[~inside].any() and (prob[inside] > 0).mean() > 0.9
    seen = {}

    def predict(self, paths, box=None):
        seen[Path(paths[0]).parent.name] = None if box is None else box.ranges
        return np.zeros(nib.load(paths[0]).shape, np.float32)

    monkeypatch.setattr(SlicePredictor, "predict_lesion", predict)
    infer_lesion_cases(root, crop, tmp_path / "pred", cases="all", progress=False)
    assert seen == {"DUKE_001": ((20, 46), (2, 30), (3, 17)), "ISPY1_002": None, "NACT_003": None}
    infer_lesion_cases(root, tiny_checkpoint(tmp_path / "plain.pt", task="lesion", size=24), tmp_path / "pred",
                       cases="all", progress=False)
    assert seen == {"DUKE_001": None, "ISPY1_002": None, "NACT_003": None}


def test_stale_predictions_of_other_cases_are_removed(layout, tmp_path, monkeypatch):
    root, h5, ckpt = layout
    _truth_predictor(monkeypatch)
    out = tmp_path / "pred"
    infer_lesion_cases(root, ckpt, out, cases="all", progress=False)
    infer_lesion_cases(root, ckpt, out, h5_path=h5, progress=False)
    assert sorted(p.name for p in out.iterdir()) == [f"{c}_pred.nii.gz" for c in VALIDATION]


def test_a_case_without_segmentation_is_predicted_but_not_scored(layout, tmp_path, monkeypatch):
    root, h5, ckpt = layout
    (root / "segmentations" / "expert" / "DUKE_001.nii.gz").unlink()
    monkeypatch.setattr(SlicePredictor, "predict_lesion",  # a model that finds nothing
                        lambda self, paths, box=None: np.zeros(nib.load(paths[0]).shape, np.float32))
    summary = infer_lesion_cases(root, ckpt, tmp_path / "pred", cases="all", metrics_path=tmp_path / "m.json",
                                 progress=False)
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert (metrics["n_cases"], metrics["n_evaluated"]) == (3, 2)
    assert metrics["per_case"]["DUKE_001"] == {"cohort": "all", "pred_voxels": 0}
    assert (tmp_path / "pred" / "DUKE_001_pred.nii.gz").is_file()
    assert metrics["dice"]["max"] == 0.0 and metrics["hd95_mm"]["n_not_finite"] == 2  # empty prediction
    assert np.isnan(summary["per_case"].loc["DUKE_001", "dice"])


def test_bad_inputs_are_errors_naming_the_problem(layout, tmp_path):
    root, h5, ckpt = layout
    out = tmp_path / "pred"
    with pytest.raises(DataError, match="cases must be one of"):
        infer_lesion_cases(root, ckpt, out, cases="train", h5_path=h5)
    with pytest.raises(DataError, match="needs the lesion HDF5"):
        infer_lesion_cases(root, ckpt, out)
    with pytest.raises(DataError, match="task 'breast'"):
        infer_lesion_cases(root, ckpt, out, h5_path=write_split(tmp_path / "breast.h5", task="breast"))
    with pytest.raises(DataError, match="not in the layout: MISSING_009"):
        infer_lesion_cases(root, ckpt, out, h5_path=write_split(tmp_path / "other.h5", ["MISSING_009"]))
    breast = tiny_checkpoint(tmp_path / "breast.pt", task="breast", size=24)
    with pytest.raises(DataError, match="'breast' task"):
        infer_lesion_cases(root, breast, out, h5_path=h5)
    save_nifti(np.zeros((5, 5, 5), np.uint8), np.eye(4), root / "segmentations" / "expert" / "NACT_003.nii.gz")
    with pytest.raises(DataError, match="NACT_003.nii.gz.*mask grid"):
        infer_lesion_cases(root, ckpt, out, h5_path=h5, progress=False)


def test_command_reads_its_params_section(layout, tmp_path, capsys, params_file):
    root, h5, ckpt = layout
    section = {"checkpoint": str(ckpt), "h5_path": str(h5), "out_dir": str(tmp_path / "pred"), "threshold_json": "",
               "metrics_path": str(tmp_path / "m.json"), "figures_dir": "", "breast_checkpoint": "",
               "breast_threshold_json": "", "device": "cpu"}
    params = params_file(data={"mamamia_root": str(root), "truth_dir": ""}, infer_lesion=section)
    assert cli(["infer_lesion", "--params", str(params)]) == 0
    assert "2 cases predicted" in capsys.readouterr().out
    params = params_file(data={"mamamia_root": str(root), "truth_dir": ""},
                         infer_lesion={**section, "checkpoint": str(tmp_path / "missing.pt")})
    assert cli(["infer_lesion", "--params", str(params)]) == 1
    assert "missing.pt" in capsys.readouterr().err


def _stored_breast(case):
    storage, _, centre = CASES[case]
    _, breast, _ = phantom_like(seed=list(CASES).index(case), lesion_centre=centre)
    (stored,), _ = store([breast], storage)
    return stored


def _guided(monkeypatch):
    """A lesion 'model' that calls the whole breast a lesion (skin included), and a breast model that finds the
    bright tissue of the oriented scan's breast half: the lesion output can then only be what the breast
    restriction lets through (the skin shell it removes is a minority: the models agree)."""
    monkeypatch.setattr(SlicePredictor, "predict_lesion",
                        lambda self, paths, box=None: _stored_breast(Path(paths[0]).parent.name).astype(np.float32))
    monkeypatch.setattr(SlicePredictor, "predict_breast", lambda self, oriented, spacing=None: threshold_predictor(oriented))


def test_guided_lesions_are_zero_outside_the_breast_less_its_skin_by_construction(layout, tmp_path, monkeypatch):
    root, h5, ckpt = layout
    _guided(monkeypatch)
    breast_ckpt = tiny_checkpoint(tmp_path / "breast.pt", task="breast", size=24)
    out, metrics_path = tmp_path / "pred", tmp_path / "m.json"
    summary = infer_lesion_cases(root, ckpt, out, cases="all", breast_checkpoint=breast_ckpt, skin_margin_mm=2.0,
                                 breast_mirror_tta=True, min_component_fraction=0.0, metrics_path=metrics_path,
                                 progress=False)
    for number, (case, (storage, phases, centre)) in enumerate(CASES.items()):
        ref = nib.load(root / "images" / case / f"{case}_0000.nii.gz")
        breast = nib.load(out / f"{case}_breast.nii.gz")
        assert breast.shape == ref.shape and np.array_equal(breast.affine, ref.affine)
        _, truth_breast, lesion = phantom_like(seed=number, lesion_centre=centre)
        (stored_breast, stored_lesion), _ = store([truth_breast, lesion], storage)
        np.testing.assert_array_equal(np.asarray(breast.dataobj), stored_breast)  # found in the stored frame
        # the whole breast called lesion -> exactly the region: the breast less 2 mm where it meets the air, so
        # inside the breast, and holding all of the breast eroded on every side
        pred = np.asarray(nib.load(out / f"{case}_pred.nii.gz").dataobj)
        eroded = erode_mm(stored_breast, ref.header.get_zooms(), 2.0)
        assert not (pred & (1 - stored_breast)).any() and not (eroded & (1 - pred)).any()
        assert (pred & (1 - eroded)).any()  # the side against the chest wall is not taken off
        tumor = np.asarray(nib.load(out / f"{case}_tumor.nii.gz").dataobj)
        assert (tumor & stored_lesion).any() and not (tumor & (1 - pred)).any()
        rule = "enhancement" if 1 in phases else "percentile"
        assert summary["per_case"].loc[case, "tumor_rule"] == rule
    metrics = json.loads(metrics_path.read_text())
    assert metrics["breast_restricted"] and metrics["skin_margin_mm"] == 2.0 and metrics["breast_flagged"] == 0
    assert metrics["breast_mirror_tta"] is True and metrics["mirror_tta"] is False  # each model's own setting
    assert metrics["breast_unrestricted"] == 0 and summary["per_case"]["breast_restricted"].all()
    assert metrics["tumor_hit_rate"] == 1.0 and metrics["by_cohort"]["all"]["tumor_hits"] == 3
    assert "breast less 2 mm where it meets the air" in metrics["tumor_candidate_rule"]


def test_an_implausible_breast_mask_does_not_restrict_the_lesions_and_says_so(layout, tmp_path, monkeypatch, capsys):
    """A breast 'model' that finds a few voxels only (far below any breast's volume): the QC flags it, and the
    lesion output is the unrestricted prediction (here: everything) instead of the breast's tiny remainder."""
    root, h5, ckpt = layout
    monkeypatch.setattr(SlicePredictor, "predict_lesion",
                        lambda self, paths, box=None: np.ones(nib.load(paths[0]).shape, np.float32))

    def speck(self, oriented, spacing=None):
        prob = np.zeros(np.shape(oriented), np.float32)
        prob[tuple(n * 3 // 4 for n in prob.shape[:2])] = 1.0  # one column of voxels in the breast half
        return prob

    monkeypatch.setattr(SlicePredictor, "predict_breast", speck)
    breast_ckpt = tiny_checkpoint(tmp_path / "breast.pt", task="breast", size=24)
    out, metrics_path = tmp_path / "pred", tmp_path / "m.json"
    summary = infer_lesion_cases(root, ckpt, out, cases="all", breast_checkpoint=breast_ckpt, skin_margin_mm=0.0,
                                 min_component_fraction=0.0, metrics_path=metrics_path, progress=False)
    metrics = json.loads(metrics_path.read_text())
    assert metrics["breast_flagged"] == metrics["breast_unrestricted"] == len(CASES)
    assert not summary["per_case"]["breast_restricted"].any()
    for case in CASES:
        pred = np.asarray(nib.load(out / f"{case}_pred.nii.gz").dataobj)
        assert pred.all()  # not cut down to the speck
    assert capsys.readouterr().err.count("lesions not restricted to it") >= len(CASES)


def test_a_lesion_mostly_outside_the_breast_region_leaves_the_case_unrestricted(layout, tmp_path, monkeypatch):
    """A plausible breast mask, but a lesion model that calls every voxel a lesion: most of its lesion lies
    outside the breast, the two models disagree, the restriction is doubted and not applied."""
    root, h5, ckpt = layout
    monkeypatch.setattr(SlicePredictor, "predict_lesion",
                        lambda self, paths, box=None: np.ones(nib.load(paths[0]).shape, np.float32))
    monkeypatch.setattr(SlicePredictor, "predict_breast",
                        lambda self, oriented, spacing=None: threshold_predictor(oriented))
    breast_ckpt = tiny_checkpoint(tmp_path / "breast.pt", task="breast", size=24)
    summary = infer_lesion_cases(root, ckpt, tmp_path / "pred", cases="all", breast_checkpoint=breast_ckpt,
                                 skin_margin_mm=0.0, min_component_fraction=0.0, progress=False)
    per_case = summary["per_case"]
    assert not per_case["breast_restricted"].any() and summary["metrics"]["breast_unrestricted"] == len(CASES)
    assert per_case["breast_problems"].str.contains("lies mostly outside the breast region").all()
    for case in CASES:
        assert np.asarray(nib.load(tmp_path / "pred" / f"{case}_pred.nii.gz").dataobj).all()


def test_the_enhancement_candidate_ignores_bright_tissue_that_does_not_enhance(layout, tmp_path, monkeypatch):
    root, h5, ckpt = layout
    _guided(monkeypatch)
    case = "DUKE_001"
    lesion = np.asarray(nib.load(root / "segmentations" / "expert" / f"{case}.nii.gz").dataobj) > 0
    breast = np.asarray(nib.load(root / "images" / case / f"{case}_0000.nii.gz").dataobj) >= 90
    far = np.zeros_like(lesion)
    far[np.argwhere(breast & ~lesion)[-1][0] - 3:, :, :] = True  # the breast's far end, away from the lesion
    decoy = breast & far & ~ndimage.binary_dilation(lesion, iterations=2)
    assert decoy.sum() > lesion.sum()
    for k in range(6):  # brighter than the lesion in EVERY phase, but it does not enhance
        path = root / "images" / case / f"{case}_{k:04d}.nii.gz"
        img = nib.load(path)
        arr = np.asarray(img.dataobj, dtype=np.float32)
        arr[decoy] = 900.0
        save_nifti(arr, img.affine, path)
    infer_lesion_cases(root, ckpt, tmp_path / "pred", cases="all", breast_checkpoint=tiny_checkpoint(
        tmp_path / "breast.pt", task="breast", size=24), skin_margin_mm=0.0, progress=False)
    tumor = np.asarray(nib.load(tmp_path / "pred" / f"{case}_tumor.nii.gz").dataobj) > 0
    assert (tumor & lesion).any() and not (tumor & decoy).any()


def test_the_one_case_command_restricts_to_the_breast_too(layout, tmp_path, monkeypatch, capsys):
    root, h5, ckpt = layout
    _guided(monkeypatch)
    breast_ckpt = tiny_checkpoint(tmp_path / "breast.pt", task="breast", size=24)
    case = "ISPY1_002"
    infer_lesion_cases(root, ckpt, tmp_path / "stage", cases="all", breast_checkpoint=breast_ckpt,
                       tumor_percentile=60.0, tumor_core_mm=0.0, progress=False)
    rules, candidate = [], dce.tumor_candidate
    monkeypatch.setattr(dce, "tumor_candidate",
                        lambda *a, **k: rules.append((a[2], k["core_mm"])) or candidate(*a, **k))
    assert infer_command(["--phases_folder", str(root / "images" / case), "--checkpoint_path", str(ckpt),
                          "--breast_checkpoint_path", str(breast_ckpt), "--out_dir", str(tmp_path / "one"),
                          "--tumor_percentile", "60", "--tumor_core_mm", "0", "--device", "cpu"]) == 0
    assert rules == [(60.0, 0.0)]  # the command's candidate flags reach the guided case
    for suffix in ("_pred", "_breast", "_tumor"):
        np.testing.assert_array_equal(np.asarray(nib.load(tmp_path / "one" / f"{case}{suffix}.nii.gz").dataobj),
                                      np.asarray(nib.load(tmp_path / "stage" / f"{case}{suffix}.nii.gz").dataobj))
    capsys.readouterr()
    scan = root / "images" / case / f"{case}_0000.nii.gz"
    assert infer_command(["--scan", str(scan), "--checkpoint_path", str(breast_ckpt), "--breast_checkpoint_path",
                          str(breast_ckpt), "--out_dir", str(tmp_path / "bad"), "--device", "cpu"]) == 1
    assert capsys.readouterr().err.strip() == f"error: {breast_ckpt}: --breast_checkpoint_path goes with --phases_folder"
    assert infer_command(["--phases_folder", str(root / "images" / case), "--checkpoint_path", str(ckpt),
                          "--breast_checkpoint_path", str(ckpt), "--out_dir", str(tmp_path / "bad"),
                          "--device", "cpu"]) == 1
    assert "needs a 'breast' checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())
