"""Long tables in the reports: first rows and a link to the full CSV."""

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
