import json
from types import SimpleNamespace

from inference_helpers import threshold_predictor

from breastmri.inference import breast_cases
from breastmri.inference.candidates import CandidateRule
from breastmri.inference.predictor import Preprocessing
from breastmri.inference.transfer import evaluate_transfer

COHORTS = {"t1_duke": {"share": 0.5, "affine": "scanner", "contrast": "t1", "symmetric": False,
                       "acquisition": "duke"},
           "random_contrast": {"share": 0.5, "affine": "scanner", "contrast": "random", "symmetric": False,
                               "acquisition": "phantom"}}


RULE = CandidateRule(percentile=98.0, core_mm=3.0, skin_margin_mm=3.0, max_bulk_ratio=0.5)  # params.yaml candidate


def _standin(checkpoint, *args, **kwargs):
    """'Models' that need no training: the named checkpoint picks how bright tissue must be to count."""
    def predict(oriented, spacing=None):
        prob = threshold_predictor(oriented)
        return prob if checkpoint == "model.pt" else prob * 0.0
    return SimpleNamespace(predict_breast=predict, threshold=0.5, device="cpu",
                           preprocessing=Preprocessing("breast", 32), mirror_tta=False)


def test_held_out_cohorts_get_model_classical_and_baseline_rows_and_nothing_is_left(tmp_path, monkeypatch):
    monkeypatch.setattr(breast_cases, "load_predictor", _standin)
    metrics_path, figure = tmp_path / "m" / "transfer.json", tmp_path / "fig" / "examples.png"
    summary = evaluate_transfer(tmp_path / "work", metrics_path, figure, seed=3, n_scans=4, cohorts=COHORTS,
                                scanner_orientations=["LPS", "RAS"], oblique_rate=0.0, duke_matrix=96,
                                checkpoint="model.pt", baseline_checkpoint="empty.pt", rule=RULE,
                                progress=False)
    metrics = json.loads(metrics_path.read_text())
    assert set(metrics["rows"]) == {"model", "classical", "baseline"}
    for row in metrics["rows"].values():
        assert set(row) == {"t1_duke", "random_contrast", "all"} and row["all"]["dice"]["n"] == 4
    assert metrics["rows"]["baseline"]["all"]["dice"]["max"] == 0.0  # the empty 'model' scores 0 everywhere
    assert metrics["threshold"] == {"model": 0.5, "baseline": 0.5}  # each model at its own threshold
    assert metrics["rows"]["classical"]["all"]["dice"]["min"] > 0.3  # the weight-free rule finds breasts
    table = summary["per_patient"]
    assert list(table.columns) == ["cohort", "model_breast_dice", "model_breast_hd95_mm", "classical_dice",
                                   "classical_hd95_mm", "tumor_hit", "bulk_ratio", "candidate_trusted",
                                   "baseline_breast_dice", "baseline_breast_hd95_mm"]
    # the trust test of the tumour candidates, per held-out cohort: counts add up to the cohort, rates match the table
    candidate = metrics["candidate"]
    assert set(candidate) == {"t1_duke", "random_contrast", "all"}
    for cohort, group in table.groupby("cohort"):
        got = candidate[cohort]
        assert got.get("n_trusted", 0) + got.get("n_untrusted", 0) == len(group)
        trusted = group[group["candidate_trusted"]]
        if len(trusted):
            assert got["hit_rate_trusted"] == trusted["tumor_hit"].astype(bool).mean()
    assert sorted(table["cohort"].unique()) == sorted(COHORTS)
    assert figure.is_file() and metrics_path.with_suffix(".csv").is_file() and not (tmp_path / "work").exists()
    evaluate_transfer(tmp_path / "work", tmp_path / "again.json", figure, seed=3, n_scans=4, cohorts=COHORTS,
                      scanner_orientations=["LPS", "RAS"], oblique_rate=0.0, duke_matrix=96,
                      checkpoint="model.pt", baseline_checkpoint="empty.pt", rule=RULE, progress=False)
    assert (tmp_path / "again.json").read_text() == metrics_path.read_text()  # deterministic


def test_mirror_tta_reaches_both_models_and_is_recorded(tmp_path, monkeypatch):
    seen = []

    def standin(checkpoint, *args, mirror_tta=False, **kwargs):
        seen.append((checkpoint, mirror_tta))
        return _standin(checkpoint)

    monkeypatch.setattr(breast_cases, "load_predictor", standin)
    evaluate_transfer(tmp_path / "work", tmp_path / "m.json", tmp_path / "fig.png", seed=3, n_scans=2,
                      cohorts={"t1_duke": {**COHORTS["t1_duke"], "share": 1.0}}, scanner_orientations=["LPS"],
                      oblique_rate=0.0, duke_matrix=96, checkpoint="model.pt", baseline_checkpoint="empty.pt",
                      rule=RULE, mirror_tta=True, progress=False)
    assert seen == [("model.pt", True), ("empty.pt", True)]
    assert json.loads((tmp_path / "m.json").read_text())["mirror_tta"] is True
