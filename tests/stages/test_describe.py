"""Each stage's ``describe(summary)`` (the line ``breastmri <stage>`` prints and the headline of its report) leads
with the stage's key figure, reads only keys the stage's summary has, and says so when there is no truth to score
against. The summaries are hand-made in the shape of what each ``run`` returns."""

import math

import pandas as pd
import pytest

from breastmri.stages import (build_hdf5, correlate, eda, infer, infer_lesion, orient, real_data, synthesize,
                              threshold, train, transfer, validate)


def scores(mean, minimum, n=4):
    """The shape of :func:`breastmri.inference.evaluation.summarize`."""
    return {"n": n, "n_not_finite": 0, "mean": mean, "median": mean, "min": minimum, "max": 1.0}


def test_synthesize_leads_with_what_was_drawn():
    summary = {"train_patients": 40, "train_scan_swap": 3, "train_scan_flip_ud": 4, "train_scan_flip_hf": 2,
               "train_mask_flip_ud": 5, "train_mask_flip_lr": 6, "train_cohort_duke": 4, "train_cohort_seedlike": 36,
               "train_storage_diag": 30, "train_storage_LPS": 10, "inference_patients": 20,
               "inference_scan_swap": 1, "inference_scan_flip_ud": 2, "inference_scan_flip_hf": 0,
               "inference_cohort_duke": 2, "inference_cohort_seedlike": 18, "inference_storage_diag": 20,
               "mamamia_cases": 12, "mamamia_sagittal_cases": 6, "mamamia_phase_files": 60,
               "mamamia_cases_by_phases": {"3": 5, "6": 7}, "mamamia_cases_missing_phases": 1}
    line = synthesize.describe(summary)
    assert line.startswith("phantom: 40 training and 20 inference scans (seed layout), 12 MAMA-MIA cases")
    assert "2 seed cohorts" in line and "4 scan_swap" in line and "6 mask_flip_lr" in line


def test_validate_leads_with_patients_and_cases_per_layout():
    clinical = {"file": "clinical.csv", "n_rows": 60, "missing": {}, "n_imaging_patients_without_clinical": 0,
                "imaging_patients_without_clinical": [], "n_clinical_patients_without_imaging": 0}
    summary = {"seed": {"n_patients": {"train": 40, "inference": 20, "total": 60},
                        "n_files": {"train_scans": 40, "train_masks": 40, "inference_scans": 20}, "clinical": clinical},
               "mamamia": {"n_cases": 12, "n_files": {"phases": 60, "segmentations": 12},
                           "clinical": {**clinical, "n_imaging_patients_without_clinical": 1}}}
    assert validate.describe(summary) == ("validation passed: seed: 60 patients (40 train, 20 inference), 0 without "
                                          "clinical data; mamamia: 12 cases (60 phase files), 1 without clinical data")
    assert validate.describe({"mamamia": summary["mamamia"]}).startswith("validation passed: mamamia: 12 cases")


def test_eda_leads_with_patients_per_table():
    summary = {"seed": {"file": "clinical.csv", "n_patients": 60, "missing": {"er": 2, "pr": 0, "her2": 1},
                        "class_counts": {}},
               "mamamia": {"file": "clinical.xlsx", "n_patients": 12, "missing": {"er": 0}, "class_counts": {}}}
    line = eda.describe(summary)
    assert line.startswith("seed: 60 patients (clinical.csv; 3 missing values in 2 columns); mamamia: 12 patients")


def _orient_summary(metrics):
    return {"out_dir": "data/oriented", "record_path": "data/oriented/orientation_record.json",
            "affine_mode": "ignore", "n_patients": {"train": 40, "inference": 20},
            "flipped": {"scan_swap": 3, "scan_flip_ud": 4, "scan_flip_hf": 2, "mask_flip_ud": 5, "mask_flip_lr": 6},
            "excluded": {"P9": ["mask outside the body"]}, "metrics": metrics, "errors": ["P3:scan_flip_ud"]}


def test_orient_leads_with_placement_accuracy_and_mask_dice():
    cohort = {"accuracy": {"scan_swap": 1.0, "all": 1.0}, "counts": {}, "min_margin": {"scan_swap": 0.4}}
    metrics = {"accuracy": {"scan_swap": 1.0, "all": 0.99}, "counts": {},
               "by_cohort": {"duke": {**cohort, "accuracy": {"all": 0.95}}, "seedlike": cohort}, "n_errors": 1,
               "n_patients": {"train": 40, "inference": 20}, "left_right_as_stored_mirrored": 0,
               "mask_dice": {"n": 40, "min": 0.9512, "mean": 0.98765}, "min_margin": {}, "excluded": {}}
    line = orient.describe(_orient_summary(metrics))
    assert line.startswith("placement accuracy 0.990 (1 wrong decision; lowest cohort duke 0.950), aligned-mask "
                           "Dice mean 0.988 / min 0.951 (40 masks)")
    assert line.endswith("60 patients placed (40 train, 20 inference), 1 excluded (P9)")


def test_orient_without_truth_says_not_scored():
    line = orient.describe(_orient_summary(None))
    assert line.startswith("60 patients placed (40 train, 20 inference), 1 excluded (P9); no ground truth: not scored")


def _task(**extra):
    return {"file": "data/h5/x.h5", "n_patients": 5, "patients": {"train": 4, "validation": 1},
            "slices": {"train": 18, "validation": 4}, "cases_computed": 5, "cases_reused": 0, **extra}


def test_build_hdf5_leads_with_slices_and_balance_per_task():
    summary = {"breast": _task(task="breast", n_slices=22, slices_with_mask=12, slices_without_mask=10),
               "lesion": _task(task="lesion", n_slices=40, positives=20, negatives=20, balance_pos_minus_neg=0,
                               cases_reused=3, cases_computed=0)}
    line = build_hdf5.describe(summary)
    assert line.startswith("breast: 22 slices, 12 with breast / 10 without, 4 train / 1 validation patients "
                           "(5 cases computed, 0 reused from shards); lesion: 40 slices, 20 positive / 20 negative "
                           "(balance +0)")
    assert line.endswith("(0 cases computed, 3 reused from shards)")
    summary["lesion"].update(split_source="official", test_cases=["DUKE_002", "NACT_01"])
    assert build_hdf5.describe(summary).endswith("4 train / 1 validation cases, 2 official test cases held out "
                                                 "(0 cases computed, 3 reused from shards)")


def _train_summary(**changes):
    return {"task": "breast", "best_epoch": 12, "best_val_loss": 0.08123, "epochs_run": 15, "max_epochs": 40,
            "stopped_early": True, "threshold": 0.5, "val_loss": 0.08123, "val_dice_patient_mean": 0.91234,
            "val_dice_patient_min": 0.80111, "val_dice_per_patient": {"P1": 0.80111, "P2": 1.0},
            "val_dice_slice_mean": 0.9, "n_val_patients_scored": 2, "n_train_slices": 100, "n_val_slices": 20,
            "patient_dice_scope": "all slices of each validation patient (3D volume)", **changes}


def test_train_leads_with_best_epoch_and_validation_dice():
    assert train.describe(_train_summary()) == (
        "breast: best epoch 12 of 15 run (stopped early), validation per-patient Dice mean 0.9123 / min 0.8011 "
        "(2 patients), validation loss 0.0812")
    nothing_scored = _train_summary(val_dice_patient_mean=math.nan, val_dice_patient_min=math.nan,
                                    n_val_patients_scored=0, stopped_early=False)
    assert "best epoch 12 of 15 run, validation per-patient Dice mean n/a / min n/a" in train.describe(nothing_scored)


def test_threshold_leads_with_the_chosen_threshold_and_its_dice():
    summary = {"task": "lesion", "threshold": 0.45, "mean_dice": 0.8312, "selection": "one_se",
               "best_threshold": 0.35, "best_mean_dice": 0.8401, "se_at_best": 0.02, "mean_dice_at_0.5": 0.8299,
               "n_patients": 6, "evaluated_on": "volumes", "checkpoint_epoch": 12}
    assert threshold.describe(summary).startswith("lesion: threshold 0.45, mean per-patient Dice 0.8312 (at 0.5: "
                                                  "0.8299; best 0.8401 at 0.35, one_se rule) over 6")


def _infer_summary(flagged=None, untrusted=(), **candidate):
    flagged = flagged or {}
    return {"n_scans": 20, "threshold": 0.5, "out_dir": "data/predictions/breast", "preprocessing": {},
            "device": "cpu", "qc": {"n_flagged": len(flagged), "flagged": flagged, "inside_body": scores(0.99, 0.97),
                                    "front_covered": scores(0.95, 0.9), "not_placed_by_orient": {},
                                    "candidate": {"untrusted": list(untrusted), "n_untrusted": len(untrusted),
                                                  **candidate}}}


def test_infer_leads_with_breast_dice_and_the_qc_flags():
    summary = _infer_summary({"P3": ["mask outside the body"]})
    summary["metrics"] = {"n_patients": 20, "breast_dice": scores(0.9234, 0.8012, 20),
                          "breast_hd95_mm": scores(3.0, 1.0, 20), "tumor_hit_rate": 0.9, "tumor_hits": 18,
                          "classical": {"breast_dice": scores(0.85, 0.7, 20)}}
    summary["per_patient"] = pd.DataFrame()
    assert infer.describe(summary) == ("breast Dice mean 0.923 / min 0.801 on 20 scans (classical baseline 0.850 / "
                                       "0.700), tumour hit rate 0.900; QC: 1 breast mask flagged (P3)")


def test_infer_gives_the_untrusted_candidates_and_the_trusted_hit_rate():
    summary = _infer_summary(untrusted=["P1", "P2"], hit_rate_trusted=1.0)
    summary["metrics"] = {"n_patients": 20, "breast_dice": scores(0.95, 0.9, 20), "tumor_hit_rate": 0.9,
                          "tumor_hits": 18}
    assert infer.describe(summary) == ("breast Dice mean 0.950 / min 0.900 on 20 scans, tumour hit rate 0.900 (1.000 "
                                       "where trusted); QC: 0 breast masks flagged, 2 tumour candidates not trusted "
                                       "(fat not suppressed)")


def test_infer_without_truth_says_not_scored_and_gives_the_qc_flags():
    line = infer.describe(_infer_summary())
    assert line == ("20 scans predicted into data/predictions/breast; no ground truth: not scored; QC: 0 breast masks "
                    "flagged")


def _lesion_summary(**metrics):
    return {"out_dir": "data/predictions/lesion", "device": "cpu", "per_case": pd.DataFrame(),
            "metrics": {"n_cases": 4, "n_evaluated": 0, "cases": "all", "threshold": 0.5, "mirror_tta": False,
                        "min_component_fraction": 0.1, "breast_restricted": True, **metrics}}


def test_infer_lesion_leads_with_lesion_dice_and_the_challenge_ranking():
    summary = _lesion_summary(n_evaluated=4, dice=scores(0.8123, 0.5012), hd95_mm=scores(3.25, 1.0),
                              challenge={"n_cases": 4, "dice_mean": 0.81, "norm_hd_mean": 0.02,
                                         "performance": 0.8951, "fairness": {"age": 0.9}, "fairness_mean": 0.9,
                                         "ranking": 0.8976})
    assert infer_lesion.describe(summary) == (
        "lesion Dice mean 0.812 / min 0.501 on 4 cases, HD95 median 3.2 mm; challenge ranking 0.898 (performance "
        "0.895, fairness 0.900); 4 cases predicted into data/predictions/lesion")
    no_clinical = _lesion_summary(n_evaluated=3, dice=scores(0.8, 0.5, 3), hd95_mm=scores(3.0, 1.0, 3),
                                  challenge={"n_cases": 3, "performance": 0.9, "fairness": {},
                                             "fairness_mean": math.nan, "ranking": math.nan})
    assert infer_lesion.describe(no_clinical).startswith("lesion Dice mean 0.800 / min 0.500 on 3 of 4 cases")
    official = _lesion_summary(n_evaluated=4, dice=scores(0.8, 0.5), hd95_mm=scores(3.0, 1.0), case_set="official test")
    assert infer_lesion.describe(official).startswith("lesion Dice mean 0.800 / min 0.500 on 4 official test cases")
    assert "challenge ranking n/a" in infer_lesion.describe(no_clinical)


def test_infer_lesion_without_truth_says_not_scored():
    assert infer_lesion.describe(_lesion_summary()) == ("4 cases predicted into data/predictions/lesion; no ground "
                                                        "truth: not scored")


def test_real_data_leads_with_the_ftv_covered_per_exam():
    rows = {"NACT01": {"ftv_covered": 0.8123, "pred_near_ftv": 0.9}, "NACT02": {"ftv_covered": 0.6541,
                                                                                "pred_near_ftv": 0.8}}
    summary = {"metrics": {"available": True, "real_root": "../shared/real/nact", "n_cases": 2,
                           "ftv_enhancement": 0.7, "near_mm": 2.0, "ftv_covered": scores(0.7332, 0.6541, 2),
                           "pred_near_ftv": scores(0.85, 0.8, 2), "tumor_in_ftv": scores(0.5, 0.4, 2),
                           "breast_flagged": 0, "per_case": rows}, "per_case": pd.DataFrame.from_dict(rows, "index")}
    assert real_data.describe(summary) == (
        "FTV covered per exam: NACT01 0.812, NACT02 0.654 (mean 0.733); predicted lesion within 2 mm of the FTV: "
        "mean 0.850; 2 real exams, 0 breast masks flagged")


def test_real_data_without_exams_says_so():
    summary = {"metrics": {"available": False, "real_root": ""}, "per_case": pd.DataFrame()}
    assert real_data.describe(summary) == "real exams: not available (real_root empty): nothing evaluated"


@pytest.mark.parametrize("with_baseline", [False, True])
def test_transfer_leads_with_the_models_dice_against_the_baselines(with_baseline):
    def method(mean, low):
        return {"t1_duke": {"dice": scores(low, low - 0.1), "hd95_mm": scores(4.0, 2.0)},
                "random": {"dice": scores(mean, mean - 0.1), "hd95_mm": scores(3.0, 2.0)},
                "all": {"dice": scores(mean, low - 0.1), "hd95_mm": scores(3.5, 2.0)}}
    rows = {"model": method(0.91, 0.85), "classical": method(0.8, 0.7)}
    if with_baseline:
        rows["baseline"] = method(0.88, 0.6)
    summary = {"metrics": {"seed": 7, "n_scans": 20, "cohorts": {}, "rows": rows, "baseline": "", "threshold": {}},
               "per_patient": pd.DataFrame()}
    line = transfer.describe(summary)
    assert line.startswith("model Dice mean 0.910 / min 0.750 on 20 unseen scans (lowest cohort t1_duke 0.850); vs "
                           "classical baseline 0.800 / min 0.600")
    assert ("unaugmented model 0.880 / min 0.500" in line) == with_baseline


def _correlate_summary(**extra):
    return {"n_joined": 60, "n_features_without_clinical": 0, "n_features": 8, "n_tests": 48, "n_significant": 5,
            "alpha": 0.05, "n_per_variable": {"er": 60}, "significant": [], **extra}


def test_correlate_leads_with_the_planted_associations_recovered():
    summary = _correlate_summary(planted_recovered=2, planted_total=2, null_variables_clean=1,
                                 null_variables_total=1)
    assert correlate.describe(summary) == (
        "planted associations recovered: 2 of 2 (1 of 1 null variables clean); 5 of 48 tests significant after FDR "
        "(q < 0.05); 60 patients joined")


def test_correlate_without_truth_leads_with_the_tests_significant():
    assert correlate.describe(_correlate_summary()) == (
        "60 patients joined: 5 of 48 tests significant after FDR (q < 0.05); no ground truth: planted associations "
        "not checked")
