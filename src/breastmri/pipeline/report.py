"""Display helpers for the stage notebooks: the summary that opens a report, and what the HTML report shows of a
long table."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from IPython.display import Markdown, display
from pandas.api.types import is_bool_dtype, is_numeric_dtype

REPORT_DIR = Path("reports/html")
SUMMARY_ROWS = 8  # rows of the summary's table: it shares the report's first screen with the title


def long_table(table: pd.DataFrame, csv_path: str | Path | None, n: int = 10, digits: int = 4) -> None:
    """Show the first ``n`` rows of ``table`` and a link to the full table at ``csv_path`` (relative to the
    HTML report in ``reports/html/``); a table of at most ``n`` rows, or one with no file, is shown whole."""
    shown = table.round(digits)
    if len(table) > n and csv_path:
        link = Path(os.path.relpath(Path(csv_path), REPORT_DIR)).as_posix()
        display(Markdown(f"First {n} of {len(table)} rows; the full table: [{Path(csv_path).name}]({link})"))
        shown = shown.head(n)
    display(shown)


def _markdown_text(text: str) -> str:
    """``text`` with the characters Markdown, HTML or the notebook's math would read escaped: it shows as written."""
    return re.sub(r"([\\`*_\[\]<>|~$])", r"\\\1", text)


def _rounded(value, digits: int):
    return round(value, digits) if isinstance(value, float) else value


def compact_table(table: pd.DataFrame | pd.Series | Mapping, digits: int = 3,
                  max_rows: int = SUMMARY_ROWS) -> tuple[pd.DataFrame, int]:
    """``table`` as a compact frame, floats rounded to ``digits``, at most ``max_rows`` rows; and its full row
    count. A mapping of mappings gives one row per key; a mapping of values, one ``value`` column."""
    if isinstance(table, Mapping):
        rows = list(table.values())
        table = (pd.DataFrame.from_dict(dict(table), orient="index") if rows and all(isinstance(r, Mapping)
                                                                                     for r in rows)
                 else pd.Series(dict(table), name="value", dtype=object))
    frame = table.to_frame() if isinstance(table, pd.Series) else table
    if frame.shape[1]:
        columns = [frame.iloc[:, k] for k in range(frame.shape[1])]  # by position: labels may repeat
        rounded = pd.concat([c.round(digits) if is_numeric_dtype(c) and not is_bool_dtype(c)
                             else c.map(lambda v: _rounded(v, digits)) for c in columns], axis=1)
        rounded.columns = frame.columns
        frame = rounded
    return frame.head(max_rows), len(frame)


def summary_parts(headline: str, table: pd.DataFrame | pd.Series | Mapping | None = None, digits: int = 3,
                  max_rows: int = SUMMARY_ROWS) -> list:
    """What :func:`summary_header` displays: the headline as one bold Markdown line (with a note when the table is
    cut), then the compact table, if any."""
    text = f"**{_markdown_text(headline)}**"
    if table is None:
        return [Markdown(text)]
    shown, n_rows = compact_table(table, digits, max_rows)
    if n_rows > len(shown):
        text += f"  \n(first {len(shown)} of {n_rows} rows below)"
    return [Markdown(text), shown]


def summary_header(headline: str, table: pd.DataFrame | pd.Series | Mapping | None = None, digits: int = 3,
                   max_rows: int = SUMMARY_ROWS) -> None:
    """Open a stage's report: its one-line result (``<stage>.describe(summary)``, key figure first) in bold, and
    under it a small table of the key figures (floats rounded to ``digits``, at most ``max_rows`` rows), so both
    fit the first screen under the title and the collapsed parameters."""
    for part in summary_parts(headline, table, digits, max_rows):
        display(part)
