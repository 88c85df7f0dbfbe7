"""Correlation of per-patient imaging features with clinical variables.

Method (one row per feature x variable column):

* the feature table and the canonical clinical table are inner-joined on ``patient_id``; patients in one
  table only are dropped and counted (``n_joined``, ``n_features_without_clinical`` in the metrics); no
  patient in common is an error naming both files;
* per clinical variable, rows where that variable (or the feature) is missing are dropped, so each
  variable uses every patient that has it (``n`` is reported per test and per variable);
* binary variables (``er``, ``pr``, ``her2``, ``hr``, ``pcr``): point-biserial correlation
  (:func:`scipy.stats.pointbiserialr`; the sign is that of "feature higher when the variable is 1");
* ordinal variables (``nottingham_grade``): Spearman rank correlation;
* the nominal ``mol_subtype``: one-vs-rest point-biserial per category (column ``mol_subtype=<category>``),
  chosen over Kruskal-Wallis because it keeps a direction and fits the same heatmap as the others;
* p-values are corrected with Benjamini-Hochberg (:func:`statsmodels.stats.multitest.multipletests`) over
  ALL tests in the table (one family), and ``significant`` is ``q < alpha``. Tests that cannot be computed
  (fewer than 3 rows, a constant feature, a single level) have NaN statistic/p/q and are not significant.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402
from statsmodels.stats.multitest import multipletests  # noqa: E402

from breastmri.analysis.figures import save_figure  # noqa: E402
from breastmri.data.atomic import atomic_path  # noqa: E402
from breastmri.data.errors import DataError  # noqa: E402
from breastmri.data.io import write_json  # noqa: E402
from breastmri.inference.features import TRUSTED, TUMOR_PREFIX  # noqa: E402

DEFAULT_VARIABLES = ("er", "pr", "her2", "mol_subtype", "nottingham_grade")
BINARY = frozenset({"er", "pr", "her2", "hr", "pcr"})
ORDINAL = frozenset({"nottingham_grade"})
NOMINAL = frozenset({"mol_subtype"})
MIN_N = 3
RESULT_COLUMNS = ["feature", "variable", "method", "n", "statistic", "p", "q", "significant"]


def _feature_frame(features: pd.DataFrame) -> pd.DataFrame:
    """Features indexed by patient_id (accepts a ``patient_id`` column or index), numeric columns only; where the
    table says a tumour candidate is not trusted (``candidate_trusted``), its ``tumor_*`` features are missing."""
    df = features.copy()
    if "patient_id" in df.columns:
        df = df.set_index("patient_id")
    df.index = df.index.astype(str)
    df.index.name = "patient_id"
    if df.index.has_duplicates:
        dup = sorted(set(df.index[df.index.duplicated()]))
        raise DataError(None, f"feature table has duplicate patient ids: {', '.join(dup[:5])}")
    untrusted = untrusted_candidates(df)  # such a candidate's features describe something else (fat): left out
    df = df.drop(columns=[TRUSTED], errors="ignore")
    df.loc[untrusted, [c for c in df.columns if c.startswith(TUMOR_PREFIX)]] = np.nan
    numeric = df.select_dtypes(include=[np.number, "boolean"]).astype(float)
    return numeric


def untrusted_candidates(features: pd.DataFrame) -> pd.Series:
    """Per row of a feature table, whether its tumour candidate is not trusted (``candidate_trusted`` false; a
    table without that column trusts every candidate)."""
    if TRUSTED not in features.columns:
        return pd.Series(False, index=features.index)
    return ~features[TRUSTED].astype(bool)


def join_tables(features: pd.DataFrame, clinical: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Inner join on patient_id. Returns (joined frame indexed by patient_id, feature column names)."""
    feats = _feature_frame(features)
    if "patient_id" not in clinical.columns:
        raise DataError(None, "clinical table has no patient_id column (not the canonical schema)")
    clin = clinical.copy()
    clin["patient_id"] = clin["patient_id"].astype(str)
    clin = clin.set_index("patient_id")
    overlap = [c for c in feats.columns if c in clin.columns]
    clin = clin.drop(columns=overlap)
    joined = feats.join(clin, how="inner")
    return joined, list(feats.columns)


def _method_for(variable: str, values: pd.Series) -> str:
    if variable in BINARY:
        return "point-biserial"
    if variable in ORDINAL:
        return "spearman"
    if variable in NOMINAL or isinstance(values.dtype, pd.CategoricalDtype):
        return "one-vs-rest point-biserial"
    levels = pd.Series(values).dropna().unique()
    return "point-biserial" if len(levels) <= 2 and set(map(float, levels)) <= {0.0, 1.0} else "spearman"


def _test(x: np.ndarray, y: np.ndarray, method: str) -> tuple[float, float]:
    """Statistic and p-value of feature ``x`` against variable ``y``; NaN when undefined."""
    if len(x) < MIN_N or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method == "spearman":
            res = stats.spearmanr(x, y)
        else:
            res = stats.pointbiserialr(y.astype(bool), x)
    return float(res.statistic), float(res.pvalue)


def _variable_columns(joined: pd.DataFrame, variable: str) -> list[tuple[str, str, pd.Series]]:
    """(column label, method, numeric series with NaN for missing) for one clinical variable."""
    values = joined[variable]
    method = _method_for(variable, values)
    if method == "one-vs-rest point-biserial":
        cats = (list(values.cat.categories) if isinstance(values.dtype, pd.CategoricalDtype)
                else sorted(values.dropna().unique()))
        present = values.notna()
        out = []
        for cat in cats:
            series = pd.Series(np.where(present, (values == cat).fillna(False).astype(float), np.nan),
                               index=joined.index)
            out.append((f"{variable}={cat}", "point-biserial (one-vs-rest)", series))
        return out
    numeric = pd.to_numeric(values.astype("object").where(values.notna(), np.nan), errors="coerce")
    return [(variable, method, numeric.astype(float))]


def correlate(features_df: pd.DataFrame, clinical_df: pd.DataFrame,
              variables: Sequence[str] = DEFAULT_VARIABLES, alpha: float = 0.05) -> pd.DataFrame:
    """Correlate every numeric feature with every clinical variable (see the module docstring).

    ``features_df``: one row per patient, ``patient_id`` as index or column. ``clinical_df``: the canonical
    clinical schema. A variable absent from the clinical table is an error naming it.
    Returns a frame with columns feature, variable, method, n, statistic, p, q, significant.
    """
    joined, feature_cols = join_tables(features_df, clinical_df)
    missing = [v for v in variables if v not in joined.columns]
    if missing:
        raise DataError(None, f"clinical table lacks variable(s) {', '.join(missing)}")
    rows = []
    for variable in variables:
        for label, method, y_all in _variable_columns(joined, variable):
            for feature in feature_cols:
                keep = y_all.notna() & joined[feature].notna()
                x, y = joined.loc[keep, feature].to_numpy(float), y_all[keep].to_numpy(float)
                stat, p = _test(x, y, method)
                rows.append(dict(feature=feature, variable=label, method=method, n=int(keep.sum()),
                                 statistic=stat, p=p))
    result = pd.DataFrame(rows, columns=RESULT_COLUMNS[:-2])
    result["q"] = np.nan
    valid = result["p"].notna().to_numpy()
    if valid.any():
        result.loc[valid, "q"] = multipletests(result.loc[valid, "p"].to_numpy(), alpha=alpha,
                                               method="fdr_bh")[1]
    result["significant"] = (result["q"] < alpha).fillna(False).astype(bool)
    return result[RESULT_COLUMNS]


def n_per_variable(features_df: pd.DataFrame, clinical_df: pd.DataFrame,
                   variables: Sequence[str] = DEFAULT_VARIABLES) -> pd.DataFrame:
    """Patients per variable after the join: n (non-missing), n_missing and the level counts."""
    joined, _ = join_tables(features_df, clinical_df)
    rows = []
    for variable in variables:
        values = joined[variable] if variable in joined.columns else pd.Series(dtype=float)
        counts = values.dropna().value_counts().sort_index()
        rows.append(dict(variable=variable, n=int(values.notna().sum()), n_missing=int(values.isna().sum()),
                         levels="; ".join(f"{k}: {int(v)}" for k, v in counts.items())))
    out = pd.DataFrame(rows, columns=["variable", "n", "n_missing", "levels"])
    out.attrs["n_joined"] = len(joined)
    return out


def check_planted(results: pd.DataFrame, truth_dir: str | Path) -> pd.DataFrame:
    """Compare the results with the phantom's planted associations (``truth.json`` ``associations``; read
    for evaluation only). One row per planted pair (expected sign, found statistic, q, ``recovered`` =
    significant with the right sign) and one per null variable (``recovered`` = no significant test)."""
    import json

    path = Path(truth_dir) / "truth.json"
    if not path.is_file():
        raise DataError(path, "ground-truth record not found")
    try:
        assoc = json.loads(path.read_text()).get("associations", {})
    except json.JSONDecodeError as exc:
        raise DataError(path, f"not valid JSON: {exc}") from exc
    rows = []
    for item in assoc.get("planted", []):
        match = results[(results["feature"] == item["feature"]) & (results["variable"] == item["variable"])]
        stat = float(match["statistic"].iloc[0]) if len(match) else float("nan")
        q = float(match["q"].iloc[0]) if len(match) else float("nan")
        sign = int(np.sign(item.get("sign", 1)))
        ok = bool(len(match) and bool(match["significant"].iloc[0]) and np.sign(stat) == sign)
        rows.append(dict(kind="planted", feature=item["feature"], variable=item["variable"], expected_sign=sign,
                         statistic=stat, q=q, recovered=ok))
    for variable in assoc.get("null", []):
        sub = results[(results["variable"] == variable) | results["variable"].str.startswith(f"{variable}=")]
        n_sig = int(sub["significant"].sum())
        rows.append(dict(kind="null", feature="(any)", variable=variable, expected_sign=0,
                         statistic=float(sub["statistic"].abs().max()) if len(sub) else float("nan"),
                         q=float(sub["q"].min()) if len(sub) else float("nan"), recovered=n_sig == 0))
    return pd.DataFrame(rows, columns=["kind", "feature", "variable", "expected_sign", "statistic", "q",
                                       "recovered"])


def _heatmap(results: pd.DataFrame, title: str):
    import seaborn as sns

    stat = results.pivot(index="feature", columns="variable", values="statistic")
    sig = results.pivot(index="feature", columns="variable", values="significant").reindex_like(stat)
    q = results.pivot(index="feature", columns="variable", values="q").reindex_like(stat)
    order_f = list(dict.fromkeys(results["feature"]))
    order_v = list(dict.fromkeys(results["variable"]))
    stat, sig, q = (t.reindex(index=order_f, columns=order_v) for t in (stat, sig, q))
    annot = stat.copy().astype(object)
    for i in stat.index:
        for j in stat.columns:
            s = stat.loc[i, j]
            annot.loc[i, j] = "" if pd.isna(s) else f"{s:+.2f}{'*' if bool(sig.loc[i, j]) else ''}"
    longest_feature = max(len(str(f)) for f in order_f)
    width = 2.4 + 0.065 * longest_feature + 0.75 * len(order_v)
    height = 1.9 + 0.06 * max(len(str(v)) for v in order_v) + 0.3 * len(order_f)
    fig, ax = plt.subplots(figsize=(width, height))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # seaborn's cmap.set_bad
        sns.heatmap(stat.astype(float), annot=annot.to_numpy(), fmt="", cmap="RdBu_r", vmin=-1, vmax=1,
                    center=0, cbar_kws={"label": "correlation"}, linewidths=0.5, ax=ax, annot_kws={"fontsize": 7})
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(""), ax.set_ylabel("")
    ax.tick_params(labelsize=7)
    ax.set_xticklabels(ax.get_xticklabels(), rotation=40, ha="right")
    fig.tight_layout()
    return fig


def plot_variable_heatmap(results: pd.DataFrame, variable: str):
    """Heatmap for one clinical variable: rows = features, column(s) = the variable (one per category for
    ``mol_subtype``); cells show the statistic, ``*`` where significant after FDR."""
    sub = results[(results["variable"] == variable) | results["variable"].str.startswith(f"{variable}=")]
    if sub.empty:
        raise DataError(None, f"no correlation results for variable {variable!r}")
    return _heatmap(sub, f"{variable}\n{sub['method'].iloc[0]}, n={int(sub['n'].max())}\n* significant (BH-FDR)")


def plot_combined_heatmap(results: pd.DataFrame):
    """One heatmap of every feature against every variable column."""
    return _heatmap(results, "features x clinical variables; * significant after BH-FDR")


def _write_csv(df: pd.DataFrame, path: Path, index: bool = False) -> Path:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=index, float_format="%.6g")
    return path


def run_correlation(features_csv: str | Path, clinical_path: str | Path, out_dir: str | Path,
                    variables: Sequence[str] = DEFAULT_VARIABLES, alpha: float = 0.05,
                    metrics_path: str | Path | None = None, truth_dir: str | Path | None = None) -> dict:
    """Read features (CSV indexed by patient_id) and a clinical file (any supported loader), correlate, and
    write ``correlation.csv``, ``n_per_variable.csv``, ``heatmap_<variable>.png``, ``heatmap_all.png`` and a
    metrics JSON (``metrics_path``, default ``<out_dir>/correlation_metrics.json``). With a phantom
    ``truth_dir`` the planted associations are checked too (``planted_check.csv``). Returns the metrics."""
    from breastmri.data.clinical import load_clinical

    features_csv, out_dir = Path(features_csv), Path(out_dir)
    if not features_csv.is_file():
        raise DataError(features_csv, "feature table not found")
    try:
        features = pd.read_csv(features_csv, dtype={"patient_id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(features_csv, f"cannot read feature table: {exc}") from exc
    if "patient_id" not in features.columns:
        raise DataError(features_csv, "feature table has no patient_id column")
    clinical = load_clinical(clinical_path)
    feature_ids = set(features["patient_id"].astype(str))
    common = feature_ids & set(clinical["patient_id"].astype(str))
    if not common:
        raise DataError(features_csv, f"no patient id in common with the clinical table {clinical_path} "
                                      f"(features: {len(feature_ids)} ids, e.g. {sorted(feature_ids)[:3]}; "
                                      f"clinical: {len(clinical)} ids, e.g. {sorted(clinical['patient_id'])[:3]})")
    variables = list(variables)
    results = correlate(features, clinical, variables, alpha)
    counts = n_per_variable(features, clinical, variables)

    _write_csv(results, out_dir / "correlation.csv")
    _write_csv(counts, out_dir / "n_per_variable.csv")
    figures = {}
    for variable in variables:
        figures[variable] = str(save_figure(plot_variable_heatmap(results, variable),
                                            out_dir / f"heatmap_{variable}.png", dpi=120))
    figures["all"] = str(save_figure(plot_combined_heatmap(results), out_dir / "heatmap_all.png", dpi=120))
    significant = results[results["significant"]]
    metrics = {
        "n_joined": int(counts.attrs["n_joined"]),
        "n_features_without_clinical": len(feature_ids - common),
        "n_candidates_untrusted": int(untrusted_candidates(features).sum()),
        "n_features": int(results["feature"].nunique()),
        "n_tests": int(results["p"].notna().sum()),
        "n_significant": int(len(significant)),
        "alpha": float(alpha),
        "n_per_variable": {r.variable: int(r.n) for r in counts.itertuples()},
        "significant": [f"{r.feature}~{r.variable} ({r.statistic:+.2f}, q={r.q:.2g})"
                        for r in significant.itertuples()],
    }
    if truth_dir:
        planted = check_planted(results, truth_dir)
        _write_csv(planted, out_dir / "planted_check.csv")
        metrics["planted_recovered"] = int(planted.loc[planted["kind"] == "planted", "recovered"].sum())
        metrics["planted_total"] = int((planted["kind"] == "planted").sum())
        metrics["null_variables_clean"] = int(planted.loc[planted["kind"] == "null", "recovered"].sum())
        metrics["null_variables_total"] = int((planted["kind"] == "null").sum())
    write_json(metrics, Path(metrics_path) if metrics_path else out_dir / "correlation_metrics.json")
    return metrics
