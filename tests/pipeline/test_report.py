"""Report display helpers: the summary opening each report (bold headline, compact key table); long tables as
their first rows and a link to the full CSV."""

import math

import pandas as pd

from breastmri.pipeline import report


def test_long_table_shows_the_head_and_links_the_full_csv(monkeypatch):
    shown = []
    monkeypatch.setattr(report, "display", shown.append)
    table = pd.DataFrame({"dice": [0.123456 + k for k in range(25)]}, index=[f"P{k:02d}" for k in range(25)])
    report.long_table(table, "reports/metrics/infer_breast.csv", n=10)
    note, head = shown
    assert "First 10 of 25 rows" in note.data and "(../metrics/infer_breast.csv)" in note.data
    assert list(head.index) == [f"P{k:02d}" for k in range(10)] and head["dice"].iloc[0] == 0.1235
    shown.clear()
    report.long_table(table.head(4), "data/predictions/breast/features.csv", n=10)
    assert len(shown) == 1 and len(shown[0]) == 4  # short tables whole, no note
    shown.clear()
    report.long_table(table, None)
    assert len(shown) == 1 and len(shown[0]) == 25  # no file to link: the whole table


def test_summary_header_shows_the_headline_in_bold_then_a_compact_table(monkeypatch):
    shown = []
    monkeypatch.setattr(report, "display", shown.append)
    table = pd.DataFrame({"Dice mean": [0.912345, 0.8], "Dice min": [0.70001, math.nan], "scans": [12, 8]},
                         index=["duke", "seedlike"])
    report.summary_header("breast Dice mean 0.912 / min 0.700 on 20 scans; QC: 0 masks flagged", table)
    headline, key = shown
    assert headline.data == "**breast Dice mean 0.912 / min 0.700 on 20 scans; QC: 0 masks flagged**"
    assert key["Dice mean"].tolist() == [0.912, 0.8] and key["scans"].tolist() == [12, 8]
    assert math.isnan(key.loc["seedlike", "Dice min"]) and list(key.index) == ["duke", "seedlike"]
    shown.clear()
    report.summary_header("real exams: not available")
    assert [part.data for part in shown] == ["**real exams: not available**"]  # no table: the line alone


def test_summary_header_escapes_markdown_and_takes_mappings():
    headline, key = report.summary_parts("P_1 *x* <b> [a]", {"best epoch": 12, "Dice": 0.91234, "early": True})
    assert headline.data == r"**P\_1 \*x\* \<b\> \[a\]**"  # shown as written, not as emphasis or HTML
    assert key["value"].to_dict() == {"best epoch": 12, "Dice": 0.912, "early": True}  # ints stay ints
    _, rows = report.summary_parts("h", {"model": {"mean": 0.91234, "n": 3}, "classical": {"mean": 0.8, "n": 3}})
    assert rows.to_dict("index") == {"model": {"mean": 0.912, "n": 3}, "classical": {"mean": 0.8, "n": 3}}
    _, series = report.summary_parts("h", pd.Series({"a": 0.123456}, name="share"), digits=4)
    assert series.columns.tolist() == ["share"] and series["share"].iloc[0] == 0.1235


def test_summary_header_keeps_the_first_rows_of_a_long_table():
    headline, key = report.summary_parts("h", pd.DataFrame({"x": range(12)}))
    assert len(key) == report.SUMMARY_ROWS == 8 and headline.data.endswith("(first 8 of 12 rows below)")
    _, key = report.summary_parts("h", pd.DataFrame({"x": range(12)}), max_rows=20)
    assert len(key) == 12


def test_summary_header_takes_nullable_integers_and_grouped_columns():
    counts = pd.DataFrame({"train": [40, None], "files": [100, 72]}, index=["seed", "mamamia"]).astype("Int64")
    _, key = report.summary_parts("h", counts)
    assert key["train"].tolist()[0] == 40 and key["train"].isna().tolist() == [False, True]
    grouped = pd.DataFrame({("model", "mean"): {"duke": 0.91234}, ("model", "min"): {"duke": 0.8}})
    grouped[("model", "HD95 median (mm)")] = {"duke": 4.0}
    _, key = report.summary_parts("h", grouped)
    assert key.columns.equals(grouped.columns) and key[("model", "mean")].iloc[0] == 0.912
