"""Clinical EDA: missing counts, class balance (every class, missing last), figure, deterministic files."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from breastmri.analysis.eda import class_balance, missing_counts, plot_clinical_distributions, run_eda  # noqa: E402
from breastmri.data.clinical import SUBTYPE_DTYPE  # noqa: E402
from breastmri.data.errors import DataError  # noqa: E402

NA = pd.NA


@pytest.fixture
def frame():
    return pd.DataFrame({
        "patient_id": ["a", "b", "c", "d", "e"],
        "er": pd.array([1, 1, 0, NA, 1], dtype="Int8"),
        "pr": pd.array([0, 0, 0, 0, 0], dtype="Int8"),
        "her2": pd.array([NA, NA, 1, NA, 0], dtype="Int8"),
        "mol_subtype": pd.Categorical(["luminal", "luminal", "her2_enriched", None, "luminal"],
                                      dtype=SUBTYPE_DTYPE),
        "nottingham_grade": pd.array([3, 3, 2, NA, NA], dtype="Int8"),
    })


def _row(table, variable, cls):
    return table[(table["variable"] == variable) & (table["class"] == cls)].iloc[0]


def test_missing_counts(frame):
    assert missing_counts(frame).to_dict() == {"patient_id": 0, "er": 1, "pr": 0, "her2": 3, "mol_subtype": 1,
                                               "nottingham_grade": 2}


def test_class_balance_counts_every_class(frame):
    table = class_balance(frame)
    assert list(table.columns) == ["variable", "class", "count", "fraction", "fraction_known"]
    assert list(table["variable"].unique()) == ["er", "pr", "her2", "mol_subtype", "nottingham_grade"]
    assert len(table) == 3 + 3 + 3 + 5 + 4
    counts = {(v, c): n for v, c, n in table[["variable", "class", "count"]].itertuples(index=False)}
    assert counts[("er", "positive")] == 3 and counts[("er", "negative")] == 1 and counts[("er", "missing")] == 1
    assert counts[("pr", "positive")] == 0 and counts[("pr", "negative")] == 5 and counts[("pr", "missing")] == 0
    assert counts[("her2", "missing")] == 3
    assert [counts[("mol_subtype", c)] for c in ("luminal", "luminal_her2", "her2_enriched", "triple_negative",
                                                 "missing")] == [3, 0, 1, 0, 1]
    assert [counts[("nottingham_grade", c)] for c in ("1", "2", "3", "missing")] == [0, 1, 2, 2]
    assert _row(table, "er", "positive")["fraction"] == pytest.approx(0.6)
    assert _row(table, "er", "positive")["fraction_known"] == pytest.approx(0.75)
    assert pd.isna(_row(table, "er", "missing")["fraction_known"])
    assert table.groupby("variable")["count"].sum().eq(5).all()


def test_optional_variables_and_non_canonical_frame(frame):
    frame["hr"] = pd.array([1, 1, 0, NA, 1], dtype="Int8")
    assert _row(class_balance(frame), "hr", "positive")["count"] == 3
    with pytest.raises(DataError, match="lacks column.s. nottingham_grade"):
        class_balance(frame.drop(columns="nottingham_grade"))


def test_figure_has_one_panel_per_variable_with_a_missing_bar(frame):
    fig = plot_clinical_distributions(frame)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["ER", "PR", "HER2", "molecular subtype", "Nottingham grade"]
    er_heights = [p.get_height() for p in visible[0].patches]
    assert er_heights == [1, 3, 1]  # negative, positive, missing
    assert [t.get_text() for t in visible[0].get_xticklabels()] == ["negative", "positive", "missing"]
    plt.close(fig)


def test_run_eda_writes_deterministic_outputs(tmp_path, capsys):
    clinical = tmp_path / "clinical.csv"
    clinical.write_text("patient_id,er,pr,her2,mol_subtype,nottingham_grade\n"
                        "1,1,0,0,0,2\n2,0,0,1,2,\n3,,,,,3\n4,0,0,0,3,3\n")
    summary = run_eda(clinical, tmp_path / "out")
    assert summary["n_patients"] == 4
    assert summary["missing"]["nottingham_grade"] == 1
    assert summary["class_counts"]["mol_subtype"] == {"luminal": 1, "luminal_her2": 0, "her2_enriched": 1,
                                                      "triple_negative": 1, "missing": 1}
    table = pd.read_csv(tmp_path / "out/class_balance.csv")
    assert _row(table, "nottingham_grade", "3")["count"] == 2
    png = (tmp_path / "out/clinical_distributions.png").read_bytes()
    csv = (tmp_path / "out/class_balance.csv").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    run_eda(clinical, tmp_path / "out")
    assert (tmp_path / "out/clinical_distributions.png").read_bytes() == png
    assert (tmp_path / "out/class_balance.csv").read_bytes() == csv
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["class_balance.csv", "clinical_distributions.png"]
    with pytest.raises(DataError, match="none.csv"):
        run_eda(tmp_path / "none.csv", tmp_path / "other")
    assert not (tmp_path / "other").exists()
