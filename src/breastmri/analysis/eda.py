"""Exploratory analysis of a canonical clinical table: missing values, class balance, distributions.

Works on the canonical schema of :mod:`breastmri.data.clinical`. Outputs are deterministic: the class-balance
table lists every class of every variable in a fixed order (zero counts included, ``missing`` last) with
fractions rounded to 6 decimals, and the PNG carries no timestamp or software metadata.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from breastmri.analysis.figures import save_figure
from breastmri.data.atomic import atomic_path
from breastmri.data.clinical import SUBTYPES, load_clinical
from breastmri.data.errors import DataError

MISSING = "missing"
#: Variables summarised, in order, with (code, label) per class. Optional ones appear when present.
CLASSES: dict[str, list[tuple[object, str]]] = {
    "er": [(0, "negative"), (1, "positive")],
    "pr": [(0, "negative"), (1, "positive")],
    "her2": [(0, "negative"), (1, "positive")],
    "mol_subtype": [(s, s) for s in SUBTYPES],
    "nottingham_grade": [(1, "1"), (2, "2"), (3, "3")],
    "hr": [(0, "negative"), (1, "positive")],
    "pcr": [(0, "no"), (1, "yes")],
}
REQUIRED_VARIABLES = ("er", "pr", "her2", "mol_subtype", "nottingham_grade")
TITLES = {"er": "ER", "pr": "PR", "her2": "HER2", "mol_subtype": "molecular subtype",
          "nottingham_grade": "Nottingham grade", "hr": "HR", "pcr": "pCR"}


def _variables(df: pd.DataFrame) -> list[str]:
    missing = [v for v in REQUIRED_VARIABLES if v not in df.columns]
    if missing:
        raise DataError(None, f"clinical table lacks column(s) {', '.join(missing)} (not the canonical schema)")
    return [v for v in CLASSES if v in df.columns]


def missing_counts(df: pd.DataFrame) -> pd.Series:
    """Number of missing values per column (column order kept), as ``int``."""
    return df.isna().sum().astype(int).rename("missing")


def _labels(df: pd.DataFrame, variable: str) -> pd.Series:
    """The variable as class labels (``missing`` for <NA>)."""
    mapping = {code: label for code, label in CLASSES[variable]}
    values = df[variable].astype(object)
    return pd.Series([MISSING if pd.isna(v) else mapping.get(v if isinstance(v, str) else int(v), str(v))
                      for v in values], index=df.index, dtype=object)


def class_balance(df: pd.DataFrame) -> pd.DataFrame:
    """Per variable (ER, PR, HER2, mol_subtype, Nottingham grade; HR and pCR when present) and class:
    ``count``, ``fraction`` (of all rows) and ``fraction_known`` (of non-missing rows; NaN for ``missing``).

    Every class is listed (zero counts too), then a ``missing`` row.
    """
    rows = []
    total = len(df)
    for variable in _variables(df):
        labels = _labels(df, variable)
        counts = labels.value_counts()
        known = total - int(counts.get(MISSING, 0))
        for _, label in CLASSES[variable]:
            n = int(counts.get(label, 0))
            rows.append((variable, label, n, n / total if total else np.nan, n / known if known else np.nan))
        n = int(counts.get(MISSING, 0))
        rows.append((variable, MISSING, n, n / total if total else np.nan, np.nan))
    out = pd.DataFrame(rows, columns=["variable", "class", "count", "fraction", "fraction_known"])
    out["count"] = out["count"].astype(int)
    out[["fraction", "fraction_known"]] = out[["fraction", "fraction_known"]].round(6)
    return out


def plot_clinical_distributions(df: pd.DataFrame, title: str = ""):
    """One seaborn count plot per variable; missing values are their own (grey) bar. Returns the figure."""
    variables = _variables(df)
    ncols = 4 if len(variables) > 6 else 3
    nrows = int(np.ceil(len(variables) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False)
    for ax, variable in zip(axes.flat, variables):
        order = [label for _, label in CLASSES[variable]] + [MISSING]
        data = pd.DataFrame({"class": _labels(df, variable)})
        palette = {label: ("#b0b0b0" if label == MISSING else color)
                   for label, color in zip(order, sns.color_palette("deep", len(order)))}
        sns.countplot(data=data, x="class", order=order, hue="class", hue_order=order, palette=palette,
                      legend=False, ax=ax)
        for container in ax.containers:
            ax.bar_label(container, fontsize=8)
        ax.set_title(TITLES[variable], fontsize=10)
        ax.set_xlabel("")
        ax.set_ylabel("patients")
        ax.tick_params(axis="x", labelrotation=30 if variable == "mol_subtype" else 0, labelsize=8)
    for ax in list(axes.flat)[len(variables):]:
        ax.set_visible(False)
    fig.suptitle(title or f"Clinical variables (n = {len(df)})", fontsize=11)
    fig.tight_layout()
    return fig


def run_eda(clinical_path: str | Path, out_dir: str | Path, title: str = "") -> dict:
    """Load a clinical table (any supported format), write ``class_balance.csv`` and
    ``clinical_distributions.png`` to ``out_dir`` (atomically) and return a summary dict."""
    clinical_path, out_dir = Path(clinical_path), Path(out_dir)
    df = load_clinical(clinical_path)
    balance = class_balance(df)
    with atomic_path(out_dir / "class_balance.csv") as tmp:
        balance.to_csv(tmp, index=False, lineterminator="\n")
    save_figure(plot_clinical_distributions(df, title or f"{clinical_path.name} (n = {len(df)})"),
                out_dir / "clinical_distributions.png")
    counts = {v: dict(zip(g["class"], map(int, g["count"]))) for v, g in balance.groupby("variable", sort=False)}
    return {"file": clinical_path.name, "n_patients": int(len(df)),
            "missing": {k: int(v) for k, v in missing_counts(df).items()},
            "class_counts": counts}
