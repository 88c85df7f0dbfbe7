"""Clinical loaders: seed csv, Duke xlsx (3 header rows), MAMA-MIA table -> one canonical schema."""

from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from breastmri.data.clinical import (SUBTYPES, detect_format, load_clinical, load_duke_clinical,
                                     load_mamamia_clinical, load_seed_clinical)
from breastmri.data.errors import DataError

NA = pd.NA
REAL_MAMAMIA = Path(__file__).resolve().parents[2].parent / "shared/real/mamamia_clinical_and_imaging_info.csv"


def _assert_schema(df, extra=()):
    assert list(df.columns) == ["patient_id", "er", "pr", "her2", "mol_subtype", "nottingham_grade", *extra]
    assert df["patient_id"].is_unique and df.index.equals(pd.RangeIndex(len(df)))
    for col in ("er", "pr", "her2", "nottingham_grade"):
        assert df[col].dtype == "Int8"
    assert isinstance(df["mol_subtype"].dtype, pd.CategoricalDtype)
    assert list(df["mol_subtype"].cat.categories) == list(SUBTYPES)


def _values(series):
    return [None if pd.isna(v) else v for v in series]


# ------------------------------------------------------------------------------------------------- seed

SEED_CSV = """patient_id,er,pr,her2,mol_subtype,nottingham_grade
Breast_MRI_001,1,0,0,0,2
Breast_MRI_2,1,1,1,1,3
003,0,0,1,2,
Breast_MRI_004,0,0,0,3,1
Breast_MRI_005,,,,,
Breast_MRI_006,0,1,1,,2
"""


def test_seed_csv_is_canonical(tmp_path):
    (tmp_path / "clinical.csv").write_text(SEED_CSV)
    df = load_clinical(tmp_path / "clinical.csv")
    _assert_schema(df)
    assert list(df["patient_id"]) == [f"Breast_MRI_{i:03d}" for i in range(1, 7)]
    assert _values(df["er"]) == [1, 1, 0, 0, None, 0]
    assert _values(df["pr"]) == [0, 1, 0, 0, None, 1]
    assert _values(df["her2"]) == [0, 1, 1, 0, None, 1]
    # codes as given; the blank code of patient 6 (PR+ HER2+) is derived from the receptors
    assert _values(df["mol_subtype"]) == ["luminal", "luminal_her2", "her2_enriched", "triple_negative", None,
                                          "luminal_her2"]
    assert _values(df["nottingham_grade"]) == [2, 3, None, 1, None, 2]
    assert detect_format(tmp_path / "clinical.csv") == "seed"


def test_seed_csv_keeps_optional_canonical_columns(tmp_path):
    (tmp_path / "c.csv").write_text("patient_id,er,pr,her2,mol_subtype,nottingham_grade,age,notes\n"
                                    "7,1,1,0,0,1,51.5,x\n8,0,0,0,3,3,,y\n")
    df = load_seed_clinical(tmp_path / "c.csv")
    _assert_schema(df, extra=["age"])
    assert _values(df["age"]) == [51.5, None]


@pytest.mark.parametrize("column, value, shown", [("er", "pos", "'pos'"), ("nottingham_grade", "7", "'7'"),
                                                  ("mol_subtype", "4", "'4'"), ("her2", "0.5", "'0.5'")])
def test_seed_invalid_codes_name_column_and_values(tmp_path, column, value, shown):
    df = pd.read_csv(pd.io.common.StringIO(SEED_CSV), dtype=str, keep_default_na=False)
    df.loc[1, column] = value
    df.to_csv(tmp_path / "clinical.csv", index=False)
    with pytest.raises(DataError, match=f"column '{column}' has invalid value") as err:
        load_clinical(tmp_path / "clinical.csv")
    assert "clinical.csv" in str(err.value) and shown in str(err.value)


def test_seed_missing_column_duplicates_and_bad_files(tmp_path):
    path = tmp_path / "clinical.csv"
    path.write_text("patient_id,er,pr,her2,nottingham_grade\n1,1,1,0,2\n")
    with pytest.raises(DataError, match="clinical.csv: missing required column.s. mol_subtype"):
        load_clinical(path)
    path.write_text(SEED_CSV + "Breast_MRI_01,1,1,0,0,1\n")
    with pytest.raises(DataError, match=r"clinical.csv: duplicate patient id.s. 'Breast_MRI_001'"):
        load_clinical(path)
    with pytest.raises(DataError, match="nope.csv: clinical file not found"):
        load_clinical(tmp_path / "nope.csv")
    path.write_text("")
    with pytest.raises(DataError, match="clinical.csv: clinical file is empty"):
        load_clinical(path)
    path.write_text("patient_id,er,pr,her2,mol_subtype,nottingham_grade\n")
    with pytest.raises(DataError, match="clinical.csv: clinical table has no data rows"):
        load_clinical(path)
    path.write_bytes(b"\xff\xfe\x00\x81garbage\x00\x9f")
    with pytest.raises(DataError, match="clinical.csv: cannot read as CSV"):
        load_clinical(path)
    with pytest.raises(DataError, match="unknown clinical format"):
        load_clinical(path, fmt="excel")


# ------------------------------------------------------------------------------------------------- Duke

def _duke_xlsx(path, rows, names=None):
    names = names or ["Patient ID", "Days to MRI", "ER", "PR", "HER2", "Mol Subtype", "Nottingham grade"]
    wb = openpyxl.Workbook()
    wb.active.title = "Info"
    ws = wb.create_sheet("Data")
    ws.append(["Patient Information", None, "Tumor Characteristics", None, None, None, None][: len(names)])
    ws.append(names)
    ws.append([None, "(days)", "{0 = neg, 1 = pos}", "{0 = neg, 1 = pos}", "{0 = neg, 1 = pos}",
               "{0 = luminal-like, 1 = ER/PR pos HER2 pos, 2 = her2, 3 = trip neg}", "{1, 2, 3}"][: len(names)])
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


DUKE_ROWS = [
    ["Breast_MRI_001", 6, 1, 0, 0, 0, 2],
    ["Breast_MRI_002", 12, 0, 0, 1, 2, "NA"],
    ["Breast_MRI_003", 3, "NC", "NC", "NP", 3, 3],
    ["Breast_MRI_010", 0, 1, 1, 1, 1, 1],
    ["Breast_MRI_011", 1, "NP", 1, 0, "NA", "NP"],
]


def test_duke_xlsx_with_three_header_rows_and_unknown_tokens(tmp_path):
    path = _duke_xlsx(tmp_path / "Clinical_and_Other_Features.xlsx", DUKE_ROWS)
    assert detect_format(path) == "duke"
    df = load_clinical(path)
    _assert_schema(df)
    assert list(df["patient_id"]) == ["Breast_MRI_001", "Breast_MRI_002", "Breast_MRI_003", "Breast_MRI_010",
                                      "Breast_MRI_011"]
    assert _values(df["er"]) == [1, 0, None, 1, None]
    assert _values(df["pr"]) == [0, 0, None, 1, 1]
    assert _values(df["her2"]) == [0, 1, None, 1, 0]
    # last row: code NA, PR+ HER2- -> derived luminal
    assert _values(df["mol_subtype"]) == ["luminal", "her2_enriched", "triple_negative", "luminal_her2",
                                          "luminal"]
    assert _values(df["nottingham_grade"]) == [2, None, 3, 1, None]


def test_duke_xlsx_errors(tmp_path):
    path = _duke_xlsx(tmp_path / "d.xlsx", DUKE_ROWS,
                      names=["Patient ID", "Days to MRI", "ER", "PR", "HER 2", "Mol Subtype", "Nottingham grade"])
    with pytest.raises(DataError, match="d.xlsx: sheet 'Data': missing required column.s. HER2"):
        load_duke_clinical(path)
    path = _duke_xlsx(tmp_path / "e.xlsx", DUKE_ROWS + [["Breast_MRI_003", 1, 1, 1, 0, 0, 1]])
    with pytest.raises(DataError, match="e.xlsx: duplicate patient id.s. 'Breast_MRI_003'"):
        load_clinical(path)
    path = _duke_xlsx(tmp_path / "f.xlsx", DUKE_ROWS + [["Breast_MRI_020", 1, "yes", 1, 0, 0, 9]])
    with pytest.raises(DataError, match="f.xlsx: column 'ER' has invalid value.s. 'yes'"):
        load_clinical(path)
    (tmp_path / "g.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="g.xlsx: cannot read as an Excel workbook"):
        load_clinical(tmp_path / "g.xlsx")
    wb = openpyxl.Workbook()
    wb.active.title = "Other"
    wb.save(tmp_path / "h.xlsx")
    with pytest.raises(DataError, match="h.xlsx: no sheet 'Data'"):
        load_duke_clinical(tmp_path / "h.xlsx")
    with pytest.raises(DataError, match="h.xlsx: unknown clinical workbook"):
        load_clinical(tmp_path / "h.xlsx")


# --------------------------------------------------------------------------------------------- MAMA-MIA

MAMAMIA_CSV = """patient_id,dataset,pcr,hr,er,pr,her2,nottingham_grade,tumor_subtype,age,pixel_spacing
DUKE_001,DUKE,0.0,0.0,0.0,0.0,1.0,intermediate,her2_pure,41.0,"[0.8, 0.8]"
DUKE_005,DUKE,1.0,1.0,1.0,0.0,1.0,high,her2_enriched,38.0,"[0.78, 0.78]"
DUKE_007,DUKE,,1.0,0.0,1.0,1.0,low,,55.0,"[0.7, 0.7]"
ISPY1_1001,ISPY1,1.0,1.0,1.0,1.0,0.0,,luminal,,"[0.7, 0.7]"
ISPY1_1002,ISPY1,0.0,,,,,,,47.0,"[0.7, 0.7]"
ISPY2_100001,ISPY2,1.0,0.0,,,1.0,,her2_enriched,50.0,"[0.7, 0.7]"
ISPY2_100002,ISPY2,0.0,1.0,,,1.0,,luminal_b,61.0,"[0.7, 0.7]"
ISPY2_100003,ISPY2,0.0,1.0,,,0.0,,luminal_a,33.0,"[0.7, 0.7]"
ISPY2_100004,ISPY2,1.0,0.0,,,0.0,,triple_negative,45.0,"[0.7, 0.7]"
NACT_01,NACT,0.0,,,,,,her2_enriched,52.0,"[0.7, 0.7]"
NACT_02,NACT,0.0,,,,,,luminal_b,58.0,"[0.7, 0.7]"
"""
MAMAMIA_EXTRA = ["hr", "age", "cohort", "pcr"]


def test_mamamia_csv_is_canonical_with_cohort_dependent_labels(tmp_path):
    path = tmp_path / "clinical_and_imaging_info.csv"
    path.write_text(MAMAMIA_CSV)
    assert detect_format(path) == "mamamia"
    df = load_clinical(path)
    _assert_schema(df, extra=MAMAMIA_EXTRA)
    assert list(df["patient_id"])[:2] == ["DUKE_001", "DUKE_005"]
    assert _values(df["er"]) == [0, 1, 0, 1, None, None, None, None, None, None, None]
    assert _values(df["pr"]) == [0, 0, 1, 1, None, None, None, None, None, None, None]
    assert _values(df["her2"]) == [1, 1, 1, 0, None, 1, 1, 0, 0, None, None]
    assert _values(df["hr"]) == [0, 1, 1, 1, None, 0, 1, 1, 0, None, None]
    assert _values(df["mol_subtype"]) == [
        "her2_enriched",    # DUKE her2_pure = HR-/HER2+
        "luminal_her2",     # DUKE her2_enriched = HR+/HER2+
        "luminal_her2",     # no label, ER-/PR+/HER2+ -> from receptors
        "luminal",          # ISPY1 luminal
        None,               # nothing known
        "her2_enriched",    # ISPY2 her2_enriched = HR-/HER2+
        "luminal_her2",     # ISPY2 luminal_b = HR+/HER2+
        "luminal",          # ISPY2 luminal_a
        "triple_negative",
        "luminal_her2",     # NACT her2_enriched, receptors blank -> label says HR+/HER2+
        None,               # non-ISPY2 luminal_b: HR+ but HER2 unknown
    ]
    assert _values(df["nottingham_grade"]) == [2, 3, 1] + [None] * 8
    assert list(df["cohort"]) == ["DUKE"] * 3 + ["ISPY1"] * 2 + ["ISPY2"] * 4 + ["NACT"] * 2
    assert _values(df["age"])[:5] == [41.0, 38.0, 55.0, None, 47.0]
    assert _values(df["pcr"])[:3] == [0, 1, None]


def test_mamamia_fairness_variables_are_kept_as_written(tmp_path):
    path = tmp_path / "clinical_and_imaging_info.csv"
    lines = MAMAMIA_CSV.splitlines()
    rows = [lines[0] + ",menopause,breast_density"] + [line + (",post,b" if i == 1 else ",,") for i, line in
                                                        enumerate(lines[1:], start=1)]
    path.write_text("\n".join(rows) + "\n")
    df = load_clinical(path)
    _assert_schema(df, extra=[*MAMAMIA_EXTRA, "menopause", "breast_density"])
    assert _values(df["menopause"])[:2] == ["post", None] and _values(df["breast_density"])[:2] == ["b", None]


def test_receptors_win_over_a_contradicting_label(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("patient_id,dataset,er,pr,her2,nottingham_grade,tumor_subtype\n"
                    "X_1,DUKE,0,0,0,,luminal\n")
    assert _values(load_clinical(path)["mol_subtype"]) == ["triple_negative"]


def test_mamamia_xlsx_sheet_dataset_info(tmp_path):
    csv = tmp_path / "c.csv"
    csv.write_text(MAMAMIA_CSV)
    path = tmp_path / "clinical_and_imaging_info.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        pd.DataFrame({"Field": ["patient_id"]}).to_excel(writer, sheet_name="legend", index=False)
        pd.read_csv(csv).to_excel(writer, sheet_name="dataset_info", index=False)
    assert detect_format(path) == "mamamia"
    from_xlsx, from_csv = load_clinical(path), load_mamamia_clinical(csv)
    pd.testing.assert_frame_equal(from_xlsx, from_csv)


@pytest.mark.parametrize("column, old, new, message", [
    ("nottingham_grade", "intermediate", "medium", "column 'nottingham_grade' has invalid value.s. 'medium'"),
    ("er", "1.0,0.0,1.0,high", "2.0,0.0,1.0,high", "column 'er' has invalid value.s. '2.0'"),
    ("tumor_subtype", "her2_pure", "basal", "column 'tumor_subtype' has unknown label.s. 'basal'"),
    ("age", "41.0", "forty", "column 'age' has non-numeric value.s. 'forty'"),
    ("hr", "DUKE,1.0,1.0,1.0,0.0", "DUKE,1.0,0.0,1.0,0.0", "column 'hr' contradicts er/pr for patient.s. 'DUKE_005'"),
    ("patient_id", "DUKE_007", "DUKE_005", "duplicate patient id.s. 'DUKE_005'"),
])
def test_mamamia_invalid_values(tmp_path, column, old, new, message):
    path = tmp_path / "clinical_and_imaging_info.csv"
    assert old in MAMAMIA_CSV
    path.write_text(MAMAMIA_CSV.replace(old, new, 1))
    with pytest.raises(DataError, match=f"clinical_and_imaging_info.csv: {message}"):
        load_clinical(path)


def test_mamamia_missing_columns_are_named(tmp_path):
    path = tmp_path / "info.csv"
    path.write_text("patient_id,dataset,er,her2\nA_1,DUKE,1,0\n")
    with pytest.raises(DataError, match="info.csv: missing required column.s. pr, tumor_subtype, nottingham_grade"):
        load_clinical(path)


@pytest.mark.skipif(not REAL_MAMAMIA.is_file(), reason="../shared/real MAMA-MIA table not available")
def test_real_mamamia_table(tmp_path):
    df = load_clinical(REAL_MAMAMIA)
    _assert_schema(df, extra=[*MAMAMIA_EXTRA, "menopause"])  # no breast_density column in the public table
    assert len(df) == 1506
    assert df.groupby("cohort").size().to_dict() == {"DUKE": 291, "ISPY1": 171, "ISPY2": 980, "NACT": 64}
    ispy2 = df[df["cohort"] == "ISPY2"]
    assert ispy2["er"].isna().all() and ispy2["pr"].isna().all()
    assert ispy2["hr"].notna().all() and ispy2["her2"].notna().all() and ispy2["mol_subtype"].notna().all()
    assert df["nottingham_grade"].notna().sum() == 192  # Duke only
    assert df.loc[df["cohort"] != "DUKE", "nottingham_grade"].isna().all()
    assert df["mol_subtype"].value_counts().to_dict() == {"luminal": 592, "triple_negative": 499,
                                                          "luminal_her2": 242, "her2_enriched": 151}
    assert df["age"].notna().sum() == 1503 and df["age"].between(18, 100).sum() == 1503
    # the challenge's fairness variable, as written (blank = <NA>): 408 blank, pre/peri/post texts
    assert df["menopause"].isna().sum() == 408 and (df["menopause"] == "post").sum() == 420
    assert df["menopause"].str.startswith("peri").sum() == 35
    # the cohort label maps agree with the receptors: blank every receptor, the labels alone give the same
    # subtype wherever a label and both receptors are known
    raw = pd.read_csv(REAL_MAMAMIA, dtype=str, keep_default_na=False)
    raw[["er", "pr", "hr", "her2"]] = ""
    raw.to_csv(tmp_path / "labels_only.csv", index=False)
    from_labels = load_clinical(tmp_path / "labels_only.csv")["mol_subtype"]
    both = from_labels.notna() & df["mol_subtype"].notna()
    assert both.sum() == 1480
    assert (from_labels[both] == df["mol_subtype"][both]).all()
