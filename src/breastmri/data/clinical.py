"""Clinical tables in, one canonical schema out.

Every loader returns a :class:`pandas.DataFrame` with one row per patient (source row order, fresh index):

===================  ==============================================================================
``patient_id``       str, unique (seed/Duke ids via :func:`seed_patient_id`, MAMA-MIA ids as given)
``er``/``pr``/``her2``  ``Int8`` 0 (negative) / 1 (positive) / <NA>
``mol_subtype``      Categorical with exactly :data:`SUBTYPES` as categories, <NA> when unknown:
                     ``luminal`` = HR+/HER2-, ``luminal_her2`` = HR+/HER2+, ``her2_enriched`` = HR-/HER2+,
                     ``triple_negative`` = HR-/HER2- (HR+ means ER+ or PR+)
``nottingham_grade`` ``Int8`` 1 / 2 / 3 / <NA>
optional             ``hr`` (Int8), ``age`` (float64), ``cohort`` (str), ``pcr`` (Int8), ``menopause`` and
                     ``breast_density`` (str as written, <NA> when blank), when the source has them
===================  ==============================================================================

Supported sources (:func:`load_clinical` picks one from the file's content when ``fmt="auto"``):

* ``seed`` -- the seed pipeline's ``clinical.csv``: ``patient_id, er, pr, her2, mol_subtype,
  nottingham_grade`` with the Duke coding (see :func:`load_seed_clinical`); blanks for unknown.
* ``duke`` -- the Duke-Breast-Cancer-MRI ``Clinical_and_Other_Features.xlsx`` (sheet ``Data``, three header
  rows: group, name, encoding; tokens ``NA``/``NC``/``NP`` for unknown), see :func:`load_duke_clinical`.
* ``mamamia`` -- the MAMA-MIA ``clinical_and_imaging_info`` table (csv, or xlsx sheet ``dataset_info``),
  see :func:`load_mamamia_clinical` for the cohort-dependent subtype labels.

Every problem (file missing, empty or unreadable, a required column missing, duplicate ids, codes that are not
in the coding) raises :class:`~breastmri.data.errors.DataError` naming the file, the column and the values.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from breastmri.data.errors import DataError
from breastmri.data.layouts import seed_patient_id

SUBTYPES = ("luminal", "luminal_her2", "her2_enriched", "triple_negative")
SUBTYPE_DTYPE = pd.CategoricalDtype(list(SUBTYPES), ordered=False)
CANONICAL_COLUMNS = ("patient_id", "er", "pr", "her2", "mol_subtype", "nottingham_grade")
OPTIONAL_COLUMNS = ("hr", "age", "cohort", "pcr", "menopause", "breast_density")
FORMATS = ("auto", "seed", "duke", "mamamia")

#: Duke ``Mol Subtype`` coding (also used by the seed ``clinical.csv``).
DUKE_SUBTYPE_CODES = {0: "luminal", 1: "luminal_her2", 2: "her2_enriched", 3: "triple_negative"}
#: Tokens meaning "unknown" (compared case-insensitively after stripping blanks).
MISSING_TOKENS = frozenset({"", "na", "nc", "np", "nan", "n/a", "none", "<na>"})
MAMAMIA_GRADES = {"low": 1, "intermediate": 2, "high": 3}

#: What a MAMA-MIA ``tumor_subtype`` label says about (HR, HER2); ``None`` = the label does not tell.
#: ISPY2 splits luminal tumours by HER2 (luminal_a = HR+/HER2-, luminal_b = HR+/HER2+) and calls HR-/HER2+
#: ``her2_enriched``; the other cohorts (DUKE, ISPY1, NACT) call HR+/HER2+ ``her2_enriched`` and HR-/HER2+
#: ``her2_pure``, and use ``luminal`` for HR+/HER2-. Verified against the receptor columns of the real table.
MAMAMIA_LABELS_ISPY2 = {
    "luminal": (1, None),          # not seen; in ISPY2 the A/B split is the HER2 split, so HER2 is unknown
    "luminal_a": (1, 0),
    "luminal_b": (1, 1),
    "her2_enriched": (0, 1),
    "her2_pure": (0, 1),
    "triple_negative": (0, 0),
}
MAMAMIA_LABELS_OTHER = {
    "luminal": (1, 0),             # "not enough info to categorize as A or B"; HR+/HER2- in every row
    "luminal_a": (1, 0),           # luminal A is HER2- by definition
    "luminal_b": (1, None),        # not seen outside ISPY2; luminal B may be HER2- or HER2+
    "her2_enriched": (1, 1),
    "her2_pure": (0, 1),
    "triple_negative": (0, 0),
}
_SPLIT_LABEL_COHORTS = frozenset({"ispy2"})


# ----------------------------------------------------------------------------------------------- helpers

def _is_missing(value) -> bool:
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return str(value).strip().lower() in MISSING_TOKENS


def _show(values: Iterable, limit: int = 8) -> str:
    values = list(dict.fromkeys(values))  # unique, first-seen order
    text = ", ".join(repr(v) for v in values[:limit])
    return text + (f", ... ({len(values)} distinct)" if len(values) > limit else "")


def _as_number(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def parse_codes(values: Iterable, column: str, allowed: Iterable[int], path: Path | str,
                aliases: dict[str, int] | None = None) -> pd.Series:
    """Integer codes (``Int8``) from raw cells; missing tokens become <NA>.

    Numbers must be whole and in ``allowed`` (``1``, ``1.0`` and ``"1"`` are the same code); ``aliases``
    maps text (lower-cased) to codes. Anything else raises :class:`DataError` naming the column and values.
    """
    allowed = set(allowed)
    aliases = aliases or {}
    out: list = []
    bad: list = []
    for raw in values:
        if _is_missing(raw):
            out.append(pd.NA)
            continue
        text = str(raw).strip().lower()
        if text in aliases:
            out.append(aliases[text])
            continue
        number = _as_number(raw)
        if number is not None and number.is_integer() and int(number) in allowed:
            out.append(int(number))
        else:
            out.append(pd.NA)
            bad.append(raw.strip() if isinstance(raw, str) else raw)
    if bad:
        expected = ", ".join([*(str(a) for a in sorted(allowed)), *aliases])
        raise DataError(path, f"column '{column}' has invalid value(s) {_show(bad)} "
                              f"(expected one of {expected}, or blank for unknown)")
    return pd.Series(pd.array(out, dtype="Int8"))


def parse_floats(values: Iterable, column: str, path: Path | str) -> pd.Series:
    """Float column (e.g. age); missing tokens become NaN, text raises :class:`DataError`."""
    out, bad = [], []
    for raw in values:
        if _is_missing(raw):
            out.append(np.nan)
            continue
        number = _as_number(raw)
        if number is None or not np.isfinite(number):
            bad.append(raw)
            out.append(np.nan)
        else:
            out.append(number)
    if bad:
        raise DataError(path, f"column '{column}' has non-numeric value(s) {_show(bad)}")
    return pd.Series(np.asarray(out, dtype=np.float64))


def _texts(values: Iterable) -> list:
    return [pd.NA if _is_missing(v) else str(v).strip() for v in values]


def _ids(values: Iterable, path: Path, normalise: Callable[[str], str] | None) -> list[str]:
    ids, blank_rows = [], []
    for row, raw in enumerate(values):
        if _is_missing(raw):
            blank_rows.append(row + 1)
            continue
        text = str(raw).strip()
        if normalise is not None:
            if isinstance(raw, float) and raw.is_integer():
                text = str(int(raw))
            try:
                text = normalise(text)
            except DataError as exc:
                raise DataError(path, f"column with patient ids: {exc.problem}") from exc
        ids.append(text)
    if blank_rows:
        raise DataError(path, f"{len(blank_rows)} row(s) have no patient id (data rows {_show(blank_rows)})")
    duplicated = pd.Series(ids)[pd.Series(ids).duplicated()].tolist()
    if duplicated:
        raise DataError(path, f"duplicate patient id(s) {_show(duplicated)}")
    return ids


def receptor_hr(er: pd.Series, pr: pd.Series) -> pd.Series:
    """Hormone-receptor status from ER/PR: 1 if either is positive, 0 if both negative, else <NA>."""
    er, pr = pd.Series(er, dtype="Int8"), pd.Series(pr, dtype="Int8")
    positive = (er == 1) | (pr == 1)
    negative = (er == 0) & (pr == 0)
    out = pd.Series(pd.NA, index=er.index, dtype="Int8")
    out[negative.fillna(False).astype(bool)] = 0
    out[positive.fillna(False).astype(bool)] = 1
    return out


def subtype_from_receptors(hr: pd.Series, her2: pd.Series) -> pd.Series:
    """Canonical subtype from HR and HER2 status (<NA> unless both are known)."""
    hr, her2 = pd.Series(hr, dtype="Int8"), pd.Series(her2, dtype="Int8")
    table = {(1, 0): "luminal", (1, 1): "luminal_her2", (0, 1): "her2_enriched", (0, 0): "triple_negative"}
    values = [pd.NA if (pd.isna(h) or pd.isna(e)) else table[(int(h), int(e))] for h, e in zip(hr, her2)]
    return pd.Series(pd.Categorical(values, dtype=SUBTYPE_DTYPE), index=hr.index)


def _frame(ids: list[str], er, pr, her2, subtype, grade, extras: dict | None = None) -> pd.DataFrame:
    df = pd.DataFrame({
        "patient_id": pd.Series(ids, dtype="str"),
        "er": pd.Series(er, dtype="Int8").reset_index(drop=True),
        "pr": pd.Series(pr, dtype="Int8").reset_index(drop=True),
        "her2": pd.Series(her2, dtype="Int8").reset_index(drop=True),
        "mol_subtype": pd.Series(pd.Categorical(list(subtype), dtype=SUBTYPE_DTYPE)),
        "nottingham_grade": pd.Series(grade, dtype="Int8").reset_index(drop=True),
    })
    for name in OPTIONAL_COLUMNS:
        if extras and name in extras:
            df[name] = pd.Series(extras[name]).reset_index(drop=True)
    return df


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise DataError(path, "clinical file not found")
    if path.stat().st_size == 0:
        raise DataError(path, "clinical file is empty (0 bytes)")


def _read_csv(path: Path) -> pd.DataFrame:
    _check_file(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[], skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(path, f"cannot read as CSV: {exc}") from exc
    df.columns = [str(c).strip() for c in df.columns]
    df = df[~df.apply(lambda r: all(_is_missing(v) for v in r), axis=1)].reset_index(drop=True)
    if df.empty:
        raise DataError(path, "clinical table has no data rows")
    return df


def _excel_sheets(path: Path) -> list[str]:
    _check_file(path)
    try:
        with pd.ExcelFile(path, engine="openpyxl") as book:
            return list(book.sheet_names)
    except (zipfile.BadZipFile, OSError, ValueError, KeyError) as exc:
        raise DataError(path, f"cannot read as an Excel workbook: {exc}") from exc


def _read_sheet(path: Path, sheet: str, header) -> pd.DataFrame:
    sheets = _excel_sheets(path)
    if sheet not in sheets:
        raise DataError(path, f"no sheet '{sheet}' (sheets: {', '.join(sheets)})")
    try:
        return pd.read_excel(path, sheet_name=sheet, header=header, dtype=object, engine="openpyxl")
    except (zipfile.BadZipFile, OSError, ValueError, KeyError) as exc:
        raise DataError(path, f"cannot read sheet '{sheet}': {exc}") from exc


def _require(df: pd.DataFrame, columns: Iterable[str], path: Path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(path, f"missing required column(s) {', '.join(missing)} "
                              f"(found: {', '.join(map(str, df.columns))})")


# ------------------------------------------------------------------------------------------------ loaders

SEED_COLUMNS = ("patient_id", "er", "pr", "her2", "mol_subtype", "nottingham_grade")


def _duke_subtype(codes: pd.Series, er: pd.Series, pr: pd.Series, her2: pd.Series) -> pd.Series:
    """Duke ``Mol Subtype`` code as given; where the code is blank, the receptor-derived subtype."""
    coded = pd.Series(pd.Categorical([pd.NA if pd.isna(c) else DUKE_SUBTYPE_CODES[int(c)] for c in codes],
                                     dtype=SUBTYPE_DTYPE))
    derived = subtype_from_receptors(receptor_hr(er, pr), her2)
    return coded.where(coded.notna(), derived).astype(SUBTYPE_DTYPE)


def load_seed_clinical(path: str | Path) -> pd.DataFrame:
    """The seed layout's ``clinical.csv`` in the canonical schema.

    Columns ``patient_id, er, pr, her2, mol_subtype, nottingham_grade`` (extra columns are ignored, except the
    optional canonical ``hr``, ``age``, ``cohort``, ``pcr``, which are parsed and kept). Codes: er/pr/her2
    0/1; ``mol_subtype`` is the Duke coding 0 = luminal (HR+/HER2-), 1 = ER/PR+ and HER2+ (``luminal_her2``),
    2 = HER2 enriched (HR-/HER2+), 3 = triple negative; ``nottingham_grade`` 1-3; blank = unknown.
    The subtype code is taken as given (it is the source's own, unambiguous coding); only where it is blank
    is it derived from the receptors (HR+ = ER+ or PR+) when HR and HER2 are both known.
    Ids are normalised with :func:`seed_patient_id` (``42`` -> ``Breast_MRI_042``).
    """
    path = Path(path)
    raw = _read_csv(path)
    _require(raw, SEED_COLUMNS, path)
    return _duke_like(raw, path, {c: c for c in SEED_COLUMNS})


def _duke_like(raw: pd.DataFrame, path: Path, names: dict[str, str | int]) -> pd.DataFrame:
    """Shared seed/Duke parsing; ``names`` maps canonical column -> source column."""
    ids = _ids(raw[names["patient_id"]], path, seed_patient_id)
    label = {k: str(v) for k, v in names.items()}
    er = parse_codes(raw[names["er"]], label["er"], (0, 1), path)
    pr = parse_codes(raw[names["pr"]], label["pr"], (0, 1), path)
    her2 = parse_codes(raw[names["her2"]], label["her2"], (0, 1), path)
    codes = parse_codes(raw[names["mol_subtype"]], label["mol_subtype"], DUKE_SUBTYPE_CODES, path)
    grade = parse_codes(raw[names["nottingham_grade"]], label["nottingham_grade"], (1, 2, 3), path)
    extras = _optional_columns(raw, path)
    return _frame(ids, er, pr, her2, _duke_subtype(codes, er, pr, her2), grade, extras)


def _optional_columns(raw: pd.DataFrame, path: Path) -> dict:
    extras: dict = {}
    for name in ("hr", "pcr"):
        if name in raw.columns:
            extras[name] = parse_codes(raw[name], name, (0, 1), path)
    if "age" in raw.columns:
        extras["age"] = parse_floats(raw["age"], "age", path)
    if "cohort" in raw.columns:
        extras["cohort"] = pd.Series(_texts(raw["cohort"]), dtype="str")
    return extras


DUKE_SHEET = "Data"
DUKE_HEADER_ROWS = 3
DUKE_NAME_ROW = 1
DUKE_COLUMNS = {"patient_id": "Patient ID", "er": "ER", "pr": "PR", "her2": "HER2",
                "mol_subtype": "Mol Subtype", "nottingham_grade": "Nottingham grade"}


def _norm_header(text) -> str:
    return "" if _is_missing(text) else re.sub(r"\s+", " ", str(text)).strip().lower()


def load_duke_clinical(path: str | Path) -> pd.DataFrame:
    """Duke-Breast-Cancer-MRI ``Clinical_and_Other_Features.xlsx`` in the canonical schema.

    Sheet ``Data`` has three header rows (group, name, encoding); the needed columns (``Patient ID``, ``ER``,
    ``PR``, ``HER2``, ``Mol Subtype``, ``Nottingham grade``) are found by the name row (case and spacing
    ignored; a name sitting in another header row, e.g. a vertically merged cell, is accepted too). ``NA``,
    ``NC``, ``NP`` and blanks mean unknown. Codes as in :func:`load_seed_clinical`.
    """
    path = Path(path)
    sheet = _read_sheet(path, DUKE_SHEET, header=None)
    if len(sheet) <= DUKE_HEADER_ROWS:
        raise DataError(path, f"sheet '{DUKE_SHEET}' has no data rows below its {DUKE_HEADER_ROWS} header rows")
    headers = [[_norm_header(v) for v in sheet.iloc[r]] for r in range(DUKE_HEADER_ROWS)]
    order = [DUKE_NAME_ROW] + [r for r in range(DUKE_HEADER_ROWS) if r != DUKE_NAME_ROW]
    positions: dict[str, int] = {}
    missing = []
    for key, name in DUKE_COLUMNS.items():
        wanted = _norm_header(name)
        found = next((row.index(wanted) for r in order for row in [headers[r]] if wanted in row), None)
        if found is None:
            missing.append(name)
        else:
            positions[key] = found
    if missing:
        raise DataError(path, f"sheet '{DUKE_SHEET}': missing required column(s) {', '.join(missing)} "
                              f"(looked for them in header row {DUKE_NAME_ROW + 1})")
    data = sheet.iloc[DUKE_HEADER_ROWS:].reset_index(drop=True)
    data = data[~data.apply(lambda r: all(_is_missing(v) for v in r), axis=1)].reset_index(drop=True)
    raw = pd.DataFrame({DUKE_COLUMNS[key]: data.iloc[:, pos].tolist() for key, pos in positions.items()})
    if raw.empty:
        raise DataError(path, f"sheet '{DUKE_SHEET}' has no data rows")
    return _duke_like(raw, path, DUKE_COLUMNS)


MAMAMIA_SHEET = "dataset_info"
MAMAMIA_REQUIRED = ("patient_id", "er", "pr", "her2", "tumor_subtype", "nottingham_grade")


def _label_status(labels: list, cohorts: list, path: Path) -> tuple[pd.Series, pd.Series]:
    hr, her2, bad = [], [], []
    for label, cohort in zip(labels, cohorts):
        if pd.isna(label):
            hr.append(pd.NA), her2.append(pd.NA)
            continue
        key = re.sub(r"[\s\-]+", "_", str(label).strip().lower())
        table = (MAMAMIA_LABELS_ISPY2 if not pd.isna(cohort) and str(cohort).strip().lower()
                 in _SPLIT_LABEL_COHORTS else MAMAMIA_LABELS_OTHER)
        if key not in table:
            bad.append(label)
            hr.append(pd.NA), her2.append(pd.NA)
            continue
        h, e = table[key]
        hr.append(pd.NA if h is None else h), her2.append(pd.NA if e is None else e)
    if bad:
        raise DataError(path, f"column 'tumor_subtype' has unknown label(s) {_show(bad)} "
                              f"(expected one of {', '.join(MAMAMIA_LABELS_OTHER)}, or blank)")
    return pd.Series(pd.array(hr, dtype="Int8")), pd.Series(pd.array(her2, dtype="Int8"))


def load_mamamia_clinical(path: str | Path) -> pd.DataFrame:
    """MAMA-MIA ``clinical_and_imaging_info`` (``.csv``, or ``.xlsx`` sheet ``dataset_info``), canonical.

    * ids as given (``DUKE_001``); ``cohort`` from ``dataset``; ``age`` from ``age``; ``pcr`` from ``pcr``;
      ``menopause`` and ``breast_density`` (the MAMA-MIA challenge's fairness variables) as written.
    * ``er``/``pr``/``her2``/``hr``/``pcr`` are 0/1 (floats in the file) with blanks for unknown; ER and PR
      are blank for every ISPY2 patient. ``hr`` is the file's column where given, else derived from ER/PR
      (positive if either is positive, negative if both are negative); a given ``hr`` that contradicts ER/PR
      is an error. The columns are reported as given: they are not filled in from ``tumor_subtype``.
    * ``nottingham_grade``: ``low``/``intermediate``/``high`` -> 1/2/3 (1-3 accepted as well).
    * ``mol_subtype`` rule: **receptors first**. Where HR and HER2 are both known the subtype is derived from
      them (HR+/HER2- luminal, HR+/HER2+ luminal_her2, HR-/HER2+ her2_enriched, HR-/HER2- triple_negative),
      whatever ``tumor_subtype`` says. Where a receptor is unknown it is taken from what the cohort's
      ``tumor_subtype`` label implies (:data:`MAMAMIA_LABELS_ISPY2` for ISPY2, :data:`MAMAMIA_LABELS_OTHER`
      elsewhere): ISPY2 ``luminal_a``/``luminal_b``/``her2_enriched`` = HR+/HER2-, HR+/HER2+, HR-/HER2+;
      elsewhere ``luminal``/``luminal_a`` = HR+/HER2-, ``her2_enriched`` = HR+/HER2+, ``her2_pure`` = HR-/HER2+,
      and a non-ISPY2 ``luminal_b`` only says HR+ (luminal B may be HER2- or HER2+). If HR or HER2 is still
      unknown the subtype is <NA>. In the real table every label agrees with the receptors under these maps.
    """
    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        raw = _read_sheet(path, MAMAMIA_SHEET, header=0)
        raw.columns = [str(c).strip() for c in raw.columns]
        raw = raw[~raw.apply(lambda r: all(_is_missing(v) for v in r), axis=1)].reset_index(drop=True)
        if raw.empty:
            raise DataError(path, f"sheet '{MAMAMIA_SHEET}' has no data rows")
    else:
        raw = _read_csv(path)
    _require(raw, MAMAMIA_REQUIRED, path)
    ids = _ids(raw["patient_id"], path, None)
    er = parse_codes(raw["er"], "er", (0, 1), path)
    pr = parse_codes(raw["pr"], "pr", (0, 1), path)
    her2 = parse_codes(raw["her2"], "her2", (0, 1), path)
    grade = parse_codes(raw["nottingham_grade"], "nottingham_grade", (1, 2, 3), path, aliases=MAMAMIA_GRADES)
    cohorts = _texts(raw["dataset"]) if "dataset" in raw.columns else [pd.NA] * len(raw)

    from_receptors = receptor_hr(er, pr)
    if "hr" in raw.columns:
        given = parse_codes(raw["hr"], "hr", (0, 1), path)
        conflict = (given.notna() & from_receptors.notna() & (given != from_receptors)).fillna(False)
        if conflict.any():
            rows = [ids[i] for i in np.flatnonzero(conflict.to_numpy(dtype=bool))]
            raise DataError(path, f"column 'hr' contradicts er/pr for patient(s) {_show(rows)}")
        hr = given.where(given.notna(), from_receptors).astype("Int8")
    else:
        hr = from_receptors

    label_hr, label_her2 = _label_status(_texts(raw["tumor_subtype"]), cohorts, path)
    subtype = subtype_from_receptors(hr.where(hr.notna(), label_hr), her2.where(her2.notna(), label_her2))

    extras = {"hr": hr, "cohort": pd.Series(cohorts, dtype="str")}
    if "age" in raw.columns:
        extras["age"] = parse_floats(raw["age"], "age", path)
    if "pcr" in raw.columns:
        extras["pcr"] = parse_codes(raw["pcr"], "pcr", (0, 1), path)
    for name in ("menopause", "breast_density"):
        if name in raw.columns:
            extras[name] = pd.Series(_texts(raw[name]), dtype="string")
    return _frame(ids, er, pr, her2, subtype, grade, extras)


# ---------------------------------------------------------------------------------------------- dispatch

def detect_format(path: str | Path) -> str:
    """``seed``, ``duke`` or ``mamamia`` from the file's content (sheet names / columns)."""
    path = Path(path)
    _check_file(path)
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        sheets = _excel_sheets(path)
        if DUKE_SHEET in sheets:
            return "duke"
        if MAMAMIA_SHEET in sheets:
            return "mamamia"
        raise DataError(path, f"unknown clinical workbook: expected sheet '{DUKE_SHEET}' (Duke) or "
                              f"'{MAMAMIA_SHEET}' (MAMA-MIA), found {', '.join(sheets)}")
    try:
        columns = {str(c).strip() for c in pd.read_csv(path, nrows=0, dtype=str).columns}
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(path, f"cannot read as CSV: {exc}") from exc
    return "mamamia" if {"tumor_subtype", "dataset"} & columns else "seed"


def load_clinical(path: str | Path, fmt: str = "auto") -> pd.DataFrame:
    """Load any supported clinical table into the canonical schema (see the module docstring).

    ``fmt``: ``auto`` (workbook sheet ``Data`` -> duke, ``dataset_info`` -> mamamia; a CSV with a
    ``tumor_subtype`` or ``dataset`` column -> mamamia, else seed), or ``seed``, ``duke``, ``mamamia``.
    """
    if fmt not in FORMATS:
        raise DataError(path, f"unknown clinical format {fmt!r} (choose from {', '.join(FORMATS)})")
    if fmt == "auto":
        fmt = detect_format(path)
    loader = {"seed": load_seed_clinical, "duke": load_duke_clinical, "mamamia": load_mamamia_clinical}[fmt]
    return loader(path)
