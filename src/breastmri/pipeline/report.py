"""Display helpers for the stage notebooks: what the HTML report shows of a long table."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from IPython.display import Markdown, display

REPORT_DIR = Path("reports/html")


def long_table(table: pd.DataFrame, csv_path: str | Path | None, n: int = 10, digits: int = 4) -> None:
    """Show the first ``n`` rows of ``table`` and a link to the full table at ``csv_path`` (relative to the
    HTML report in ``reports/html/``); a table of at most ``n`` rows, or one with no file, is shown whole."""
    shown = table.round(digits)
    if len(table) > n and csv_path:
        link = Path(os.path.relpath(Path(csv_path), REPORT_DIR)).as_posix()
        display(Markdown(f"First {n} of {len(table)} rows; the full table: [{Path(csv_path).name}]({link})"))
        shown = shown.head(n)
    display(shown)
