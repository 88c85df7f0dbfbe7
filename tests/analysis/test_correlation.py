import json

import numpy as np
import pandas as pd
import pytest

from breastmri.analysis.correlation import correlate, n_per_variable, plot_combined_heatmap, plot_variable_heatmap
from breastmri.data.errors import DataError

SUBTYPES = ["luminal", "luminal_her2", "her2_enriched", "triple_negative"]


def planted_tables(n=40, seed=0):
    """Features and a canonical clinical table: tumour volume rises with grade; er has no effect."""
    rng = np.random.default_rng(seed)
    ids = [f"Breast_MRI_{i:03d}" for i in range(1, n + 1)]
    grade = rng.integers(1, 4, n)
    er = rng.integers(0, 2, n)
    volume = 800.0 * grade + rng.normal(0, 400, n)
    features = pd.DataFrame({"tumor_volume_mm3": volume, "tumor_mean_intensity": rng.normal(200, 20, n),
                             "tumor_extent": rng.uniform(0.3, 0.7, n)},
                            index=pd.Index(ids, name="patient_id"))
    clinical = pd.DataFrame({
        "patient_id": ids,
        "er": pd.array(er, dtype="Int8"),
        "pr": pd.array(rng.integers(0, 2, n), dtype="Int8"),
        "her2": pd.array(rng.integers(0, 2, n), dtype="Int8"),
        "mol_subtype": pd.Categorical(rng.choice(SUBTYPES, n), categories=SUBTYPES),
        "nottingham_grade": pd.array(grade, dtype="Int8"),
    })
    # missing values, and patients present in one table only
    clinical.loc[[0, 1, 2], "nottingham_grade"] = pd.NA
    clinical.loc[[3], "er"] = pd.NA
    clinical.loc[[4], "mol_subtype"] = np.nan
    clinical = pd.concat([clinical, pd.DataFrame({"patient_id": ["Breast_MRI_999"]})], ignore_index=True)
    for col in ("er", "pr", "her2", "nottingham_grade"):
        clinical[col] = clinical[col].astype("Int8")
    clinical["mol_subtype"] = pd.Categorical(clinical["mol_subtype"], categories=SUBTYPES)
    return features.drop(index="Breast_MRI_040"), clinical


def test_planted_association_recovered_and_null_not():
    features, clinical = planted_tables()
    res = correlate(features, clinical)
    assert list(res.columns) == ["feature", "variable", "method", "n", "statistic", "p", "q", "significant"]
    grade = res[(res.feature == "tumor_volume_mm3") & (res.variable == "nottingham_grade")].iloc[0]
    assert grade.method == "spearman"
    assert grade.significant and grade.q < 0.05 and grade.statistic > 0
    assert grade.n == 39 - 3                      # inner join (39), minus 3 missing grades
    er = res[(res.feature == "tumor_volume_mm3") & (res.variable == "er")].iloc[0]
    assert er.method == "point-biserial" and er.n == 38 and not er.significant
    assert res.q.dropna().ge(res.p.dropna()).all()
    # only the planted pair is significant
    assert res.significant.sum() == 1


def test_sign_follows_the_data():
    features, clinical = planted_tables(seed=1)
    features["tumor_volume_mm3"] *= -1
    res = correlate(features, clinical, variables=("nottingham_grade",))
    row = res[res.feature == "tumor_volume_mm3"].iloc[0]
    assert row.significant and row.statistic < 0


def test_binary_point_biserial_sign():
    features, clinical = planted_tables(seed=2)
    er = clinical.set_index("patient_id")["er"].reindex(features.index)
    features["tumor_max_intensity"] = np.where(er.fillna(0).to_numpy() == 1, 10.0, 0.0) + np.arange(len(er)) * 0.01
    res = correlate(features, clinical, variables=("er",))
    row = res[res.feature == "tumor_max_intensity"].iloc[0]
    assert row.significant and row.statistic > 0.9


def test_mol_subtype_one_vs_rest_and_edge_cases():
    features, clinical = planted_tables()
    features["constant"] = 1.0
    res = correlate(features.reset_index(), clinical, variables=("mol_subtype",))
    assert sorted(res.variable.unique()) == sorted(f"mol_subtype={c}" for c in SUBTYPES)
    assert (res.n == 38).all()
    const = res[res.feature == "constant"]
    assert const.statistic.isna().all() and not const.significant.any()
    with pytest.raises(DataError, match="age"):
        correlate(features, clinical, variables=("age",))


def test_counts_and_heatmaps():
    features, clinical = planted_tables()
    counts = n_per_variable(features, clinical)
    assert dict(zip(counts.variable, counts.n))["nottingham_grade"] == 36
    assert counts.attrs["n_joined"] == 39
    res = correlate(features, clinical)
    fig = plot_variable_heatmap(res, "mol_subtype")
    assert len(fig.axes[0].get_xticklabels()) == 4
    assert len(plot_combined_heatmap(res).axes[0].get_yticklabels()) == 3
    import matplotlib.pyplot as plt
    plt.close("all")


def _write_seed_csv(clinical: pd.DataFrame, path):
    codes = {c: i for i, c in enumerate(SUBTYPES)}
    out = clinical.copy()
    out["patient_id"] = out["patient_id"].str.replace("Breast_MRI_", "", regex=False)
    out["mol_subtype"] = out["mol_subtype"].map(codes).astype("Int8")
    out.to_csv(path, index=False)


def test_run_correlation_files_metrics_and_planted_check(tmp_path):
    import json

    from breastmri.analysis.correlation import run_correlation

    features, clinical = planted_tables()
    features.to_csv(tmp_path / "features.csv")
    _write_seed_csv(clinical, tmp_path / "clinical.csv")
    truth = tmp_path / "truth"
    truth.mkdir()
    (truth / "truth.json").write_text(json.dumps({"associations": {
        "planted": [{"feature": "tumor_volume_mm3", "variable": "nottingham_grade", "sign": 1}], "null": ["er"]}}))
    metrics = run_correlation(tmp_path / "features.csv", tmp_path / "clinical.csv", tmp_path / "out",
                              truth_dir=truth)
    assert metrics["n_joined"] == 39 and metrics["n_significant"] == 1
    assert metrics["n_features_without_clinical"] == 0  # Breast_MRI_999 is a clinical row without features
    assert metrics["planted_recovered"] == metrics["planted_total"] == 1
    assert metrics["null_variables_clean"] == metrics["null_variables_total"] == 1
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted(["correlation.csv", "n_per_variable.csv", "correlation_metrics.json", "planted_check.csv",
                            "heatmap_all.png"] + [f"heatmap_{v}.png" for v in
                                                  ("er", "pr", "her2", "mol_subtype", "nottingham_grade")])
    with pytest.raises(DataError, match="nope.csv"):
        run_correlation(tmp_path / "nope.csv", tmp_path / "clinical.csv", tmp_path / "o2")
    assert not (tmp_path / "o2").exists()


def test_run_correlation_without_common_patients_fails_naming_both_files(tmp_path):
    from breastmri.analysis.correlation import run_correlation

    features, clinical = planted_tables()
    features.index = features.index.str.replace("Breast_MRI_", "Other_", regex=False)
    features.to_csv(tmp_path / "features.csv")
    _write_seed_csv(clinical, tmp_path / "clinical.csv")
    with pytest.raises(DataError, match="features.csv: no patient id in common with the clinical table "
                                        ".*clinical.csv"):
        run_correlation(tmp_path / "features.csv", tmp_path / "clinical.csv", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_works_on_real_mamamia_clinical_table():
    """Every loader's canonical schema: the real MAMA-MIA table (skipped when ../shared is absent)."""
    from pathlib import Path

    from breastmri.data.clinical import load_clinical

    path = Path(__file__).resolve().parents[3] / "shared" / "real" / "mamamia_clinical_and_imaging_info.csv"
    if not path.is_file():
        pytest.skip("shared real clinical table not available")
    clinical = load_clinical(path)
    rng = np.random.default_rng(0)
    ids = clinical["patient_id"].sample(300, random_state=0).to_list()
    features = pd.DataFrame({"tumor_volume_mm3": rng.lognormal(7, 1, 300)}, index=pd.Index(ids, name="patient_id"))
    res = correlate(features, clinical)
    counts = n_per_variable(features, clinical)
    assert set(res.variable) >= {"er", "pr", "her2", "nottingham_grade"}
    assert (counts.n <= 300).all() and counts.set_index("variable").loc["nottingham_grade", "n"] < 300


def phantom_features_and_clinical(tmp_path, n=40, seed=7):
    """Patients and lesions from the phantom's own clinical module (its planted associations), features as
    the inference stage would measure them (with measurement noise), and the seed clinical.csv it writes."""
    clinical_mod = pytest.importorskip("breastmri.phantom.clinical")
    rng = np.random.default_rng(seed)
    ids = [f"Breast_MRI_{i:03d}" for i in rng.choice(np.arange(1, 923), n, replace=False)]
    if hasattr(clinical_mod, "draw_patients"):
        patients = clinical_mod.draw_patients(rng, n)
    else:
        patients = [clinical_mod.draw_patient(rng) for _ in ids]
    lesions = [clinical_mod.lesion_for(rng, p) for p in patients]
    volume = np.array([np.pi / 6 * les.diameter_mm ** 3 for les in lesions]) * rng.lognormal(0, 0.25, n)
    ratio = np.array([1 + les.kinetics.amplitude for les in lesions]) * rng.lognormal(0, 0.1, n)
    features = pd.DataFrame({"tumor_volume_mm3": volume, "tumor_to_breast_mean_ratio": ratio,
                             "tumor_extent": rng.uniform(0.3, 0.7, n), "tumor_skewness": rng.normal(0, 1, n)},
                            index=pd.Index(ids, name="patient_id"))
    path = tmp_path / "clinical.csv"
    clinical_mod.seed_table(rng, ids, patients).to_csv(path, index=False)
    return features, path, clinical_mod.ASSOCIATIONS


def test_acceptance_planted_phantom_association_recovered(tmp_path):
    from breastmri.analysis.correlation import check_planted
    from breastmri.data.clinical import load_clinical

    features, path, associations = phantom_features_and_clinical(tmp_path)
    res = correlate(features, load_clinical(path))
    truth = tmp_path / "truth"
    truth.mkdir()
    (truth / "truth.json").write_text(json.dumps({"associations": associations}))
    check = check_planted(res, truth)
    assert check["recovered"].all(), check.to_string()
    grade = res[(res.feature == "tumor_volume_mm3") & (res.variable == "nottingham_grade")].iloc[0]
    assert grade.significant and grade.statistic > 0
    assert not res[res.variable == "er"].significant.any()


def test_untrusted_candidates_tumour_features_are_left_out():
    """A feature table's ``candidate_trusted`` column: the tumour features of untrusted rows are missing (fewer n),
    the breast's features stay, and the column itself is no feature."""
    features, clinical = planted_tables()
    features["breast_volume_mm3"] = np.linspace(5e5, 9e5, len(features))
    features["candidate_trusted"] = True
    features.iloc[:10, features.columns.get_loc("candidate_trusted")] = False
    results = correlate(features, clinical, ["nottingham_grade"], 0.05)
    full = correlate(features.drop(columns="candidate_trusted"), clinical, ["nottingham_grade"], 0.05)
    n = results.set_index("feature")["n"]
    n_full = full.set_index("feature")["n"]
    assert "candidate_trusted" not in set(results["feature"])
    assert n["breast_volume_mm3"] == n_full["breast_volume_mm3"]
    untrusted_with_grade = clinical.set_index("patient_id").loc[features.index[:10], "nottingham_grade"].notna().sum()
    assert n["tumor_volume_mm3"] == n_full["tumor_volume_mm3"] - untrusted_with_grade > 0
