"""Dataset layouts on disk, each an adapter that yields canonical patient ids and file paths.

* Seed layout (whole-breast task)::

      <root>/train/scans/Breast_MRI_042.nii.gz      (or a DICOM series folder Breast_MRI_042/)
      <root>/train/masks/Breast_MRI_042.nii.gz     (binary breast mask)
      <root>/inference/scans/Breast_MRI_107.nii.gz
      <root>/clinical.csv                           (or the Duke Clinical_and_Other_Features.xlsx)

* MAMA-MIA layout (lesion task)::

      <root>/images/<CASE>/<CASE>_0000.nii.gz, _0001, ...  (DCE phases, any number; some may be missing)
      <root>/images/<CASE>/*.dcm                    (or the DCE as one DICOM series, split into its phases)
      <root>/segmentations/expert/<CASE>.nii.gz                       (lesion mask)
      <root>/clinical_and_imaging_info.csv | .xlsx
      <root>/train_test_splits.csv                  (optional: the official split, columns train_split, test_split)
      <root>/patient_info_files/<CASE>.json         (optional: primary_lesion.breast_coordinates, the breast's box)

Case ids of the tables and of the split file name case folders regardless of letter case (:func:`folder_names`):
real folders may be ``duke_001`` where the tables say ``DUKE_001``; so do the patient info files' names.
"""

from __future__ import annotations

import json
import re
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from breastmri.data.dicom import DicomPhase, is_dicom_series, list_dicom_phases
from breastmri.data.errors import DataError
from breastmri.data.io import is_nifti, strip_nifti_suffix

SPLIT_FILE = "train_test_splits.csv"
PATIENT_INFO_DIR = "patient_info_files"
BOX_AXES = ("z", "y", "x")  # the breast box's coordinate along voxel axis i, j, k (see BreastBox)
BREAST_BOX_MODES = ("ignore", "crop", "mask")
SPLIT_COLUMNS = {"train_split": "train", "test_split": "test"}
_DIGITS = re.compile(r"(\d+)")


def seed_patient_id(name: str | int) -> str:
    """Canonical id of a seed-layout patient from a file name or clinical id: ``Breast_MRI_042``.

    The numeric part is what identifies the patient, so ``Breast_MRI_42.nii.gz``, ``042`` and ``42``
    all map to the same id.
    """
    text = strip_nifti_suffix(Path(str(name)).name)
    numbers = _DIGITS.findall(text)
    if not numbers:
        raise DataError(None, f"no numeric patient id in {name!r}")
    return f"Breast_MRI_{int(numbers[-1]):03d}"


def _require_dir(path: Path, what: str) -> Path:
    if not path.exists():
        raise DataError(path, f"{what} folder is missing")
    if not path.is_dir():
        raise DataError(path, f"{what} is not a folder")
    return path


def _volumes_by_id(folder: Path, what: str, id_of, dicom: bool = False) -> dict[str, Path]:
    """NIfTI files of ``folder`` by patient id; with ``dicom`` also its sub-folders that hold a DICOM series."""
    _require_dir(folder, what)
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not (is_nifti(path) or dicom and is_dicom_series(path)):
            continue
        pid = id_of(path.name)
        if pid in found:
            raise DataError(path, f"duplicate patient id {pid} (also {found[pid].name})")
        found[pid] = path
    if not found:
        series = " or DICOM series folders" if dicom else ""
        raise DataError(folder, f"{what} folder holds no .nii/.nii.gz files{series}")
    return found


@dataclass(frozen=True)
class SeedLayout:
    """The seed pipeline's folder layout (single-sequence volumes, whole-breast masks)."""

    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    @property
    def train_scan_dir(self) -> Path:
        return self.root / "train" / "scans"

    @property
    def train_mask_dir(self) -> Path:
        return self.root / "train" / "masks"

    @property
    def inference_scan_dir(self) -> Path:
        return self.root / "inference" / "scans"

    def train_scans(self) -> dict[str, Path]:
        return _volumes_by_id(self.train_scan_dir, "training scans", seed_patient_id, dicom=True)

    def train_masks(self) -> dict[str, Path]:
        return _volumes_by_id(self.train_mask_dir, "training masks", seed_patient_id)

    def inference_scans(self) -> dict[str, Path]:
        return _volumes_by_id(self.inference_scan_dir, "inference scans", seed_patient_id, dicom=True)

    @property
    def clinical_path(self) -> Path:
        """``clinical.csv`` if present, else a Duke ``Clinical_and_Other_Features.xlsx``."""
        for name in ("clinical.csv", "Clinical_and_Other_Features.xlsx"):
            if (self.root / name).is_file():
                return self.root / name
        raise DataError(self.root / "clinical.csv", "clinical file is missing")


@dataclass(frozen=True)
class MamaMiaLayout:
    """The MAMA-MIA challenge layout (multi-phase DCE, expert lesion segmentations)."""

    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    @property
    def image_dir(self) -> Path:
        return self.root / "images"

    @property
    def segmentation_dir(self) -> Path:
        return self.root / "segmentations" / "expert"

    def cases(self) -> list[str]:
        """Case ids: the sub-folders of ``images/`` (sorted); two whose names differ only in letter case are an
        error (an id could not tell them apart)."""
        _require_dir(self.image_dir, "MAMA-MIA images")
        cases = sorted(p.name for p in self.image_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not cases:
            raise DataError(self.image_dir, "MAMA-MIA images folder holds no case folders")
        seen: dict[str, str] = {}
        for case in cases:
            other = seen.setdefault(case.casefold(), case)
            if other != case:
                raise DataError(self.image_dir, f"case folders {other} and {case} differ only in letter case")
        return cases

    def phase_paths(self, case: str) -> list[Path | DicomPhase | None]:
        """Every phase of a case in order (see :func:`phase_paths_in`); ``None`` where missing."""
        return phase_paths_in(self.image_dir / case, case)

    def lesion_mask(self, case: str) -> Path:
        """``<CASE>.nii.gz``, or ``<CASE>.nii`` when only that exists (the ``.nii.gz`` name when neither does,
        for the message)."""
        candidates = [self.segmentation_dir / f"{case}{sfx}" for sfx in (".nii.gz", ".nii")]
        return next((c for c in candidates if c.is_file()), candidates[0])

    CLINICAL_NAMES = ("clinical_and_imaging_info.csv", "clinical_and_imaging_info.xlsx")

    @property
    def has_clinical(self) -> bool:
        return any((self.root / name).is_file() for name in self.CLINICAL_NAMES)

    @property
    def clinical_path(self) -> Path:
        for name in self.CLINICAL_NAMES:
            if (self.root / name).is_file():
                return self.root / name
        raise DataError(self.root / self.CLINICAL_NAMES[0], "clinical file is missing")

    @property
    def split_path(self) -> Path:
        return self.root / SPLIT_FILE

    @property
    def patient_info_dir(self) -> Path:
        return self.root / PATIENT_INFO_DIR

    def breast_box(self, case: str) -> BreastBox | None:
        """The breast box of ``patient_info_files/<CASE>.json`` (the file's name matched regardless of letter case;
        :func:`read_breast_box`), ``None`` when the case has no such file."""
        path = self.patient_info_dir / f"{case}.json"
        if not path.is_file() and self.patient_info_dir.is_dir():
            named = folder_names([case], [p.name[:-len(".json")] for p in self.patient_info_dir.glob("*.json")])
            path = self.patient_info_dir / f"{named.get(case, case)}.json"
        return read_breast_box(path) if path.is_file() else None

    def official_split(self) -> dict[str, str] | None:
        """The official split of ``train_test_splits.csv`` (case -> ``"train"`` / ``"test"``, in the file's
        order), ``None`` when the layout has no such file.

        The file has the columns ``train_split`` and ``test_split``, one case id per cell, the shorter column
        padded with empty cells. It must assign every case of ``images/`` exactly once: an unreadable file, a
        missing column, a case listed twice (in one column or in both), a case not in ``images/`` or a case of
        ``images/`` in neither column is a :class:`DataError` naming the file. Ids match the case folders regardless
        of letter case (:func:`folder_names`); the mapping's keys are the folders' names.
        """
        import pandas as pd  # here only: the one-case command reads no table and skips pandas' import (0.15 s)

        path = self.split_path
        if not path.is_file():
            return None
        try:
            with warnings.catch_warnings():  # a row longer than the header: pandas would drop or shift cells
                warnings.simplefilter("error", pd.errors.ParserWarning)
                table = pd.read_csv(path, dtype=str, keep_default_na=False, index_col=False)
        except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.ParserWarning,
                pd.errors.EmptyDataError) as exc:
            raise DataError(path, f"cannot read the split table: {exc}") from exc
        missing = [c for c in SPLIT_COLUMNS if c not in table.columns]
        if missing:
            raise DataError(path, f"split table lacks the column(s) {', '.join(missing)} "
                                  f"(found: {', '.join(map(str, table.columns)) or 'none'})")
        listed = [(case, column) for column in SPLIT_COLUMNS for case in table[column].str.strip() if case]
        spelled: dict[str, str] = {}  # a case's first spelling in the file
        for case, _ in listed:
            spelled.setdefault(case.casefold(), case)
        twice = [spelled[key] for key, n in Counter(case.casefold() for case, _ in listed).items() if n > 1]
        if twice:
            columns = sorted({column for case, column in listed if case.casefold() == twice[0].casefold()})
            where = "in both train_split and test_split" if len(columns) > 1 else f"twice in {columns[0]}"
            raise DataError(path, f"case {twice[0]} is listed {where}"
                                  + (f" ({len(twice)} cases listed more than once)" if len(twice) > 1 else ""))
        cases = self.cases()
        folders = folder_names([case for case, _ in listed], cases)
        split = {folders[case]: SPLIT_COLUMNS[column] for case, column in listed if case in folders}
        for extra, problem in ((sorted(case for case, _ in listed if case not in folders), f"not in {self.image_dir}"),
                               (sorted(set(cases) - set(split)), "of the images folder in neither column")):
            if extra:
                raise DataError(path, f"{len(extra)} case(s) {problem}: {', '.join(extra[:5])}"
                                      + (", ..." if len(extra) > 5 else ""))
        return split


@dataclass(frozen=True)
class BreastBox:
    """A case's breast bounding box: half-open voxel ranges ``[start, stop)`` along the image's voxel axes i, j, k
    (nibabel's array order, SimpleITK's index order), read from ``source``.

    The challenge's code indexes the SimpleITK array (``sitk.GetArrayFromImage``: axes k, j, i) as
    ``[x_min:x_max, y_min:y_max, z_min:z_max]``: its x runs along voxel axis k, y along j and z along i.
    """

    source: Path
    ranges: tuple[tuple[int, int], tuple[int, int], tuple[int, int]]

    def slices(self, shape: Sequence[int]) -> tuple[slice, slice, slice]:
        """The box as slices of an array of ``shape`` (voxel axes i, j, k); a box beyond it is an error."""
        outside = [f"{name} {start}-{stop} > {size}" for name, (start, stop), size in zip(BOX_AXES, self.ranges, shape)
                   if stop > size]
        if outside:
            raise DataError(self.source, f"breast box beyond the image of {tuple(shape)} voxels (i, j, k): "
                                         f"{', '.join(outside)}")
        return tuple(slice(start, stop) for start, stop in self.ranges)


def read_breast_box(path: str | Path) -> BreastBox:
    """``primary_lesion.breast_coordinates`` of a MAMA-MIA patient info file as a :class:`BreastBox`; an unreadable
    file, a missing key or coordinates that are not whole numbers with ``0 <= min < max`` are a :class:`DataError`
    naming the file."""
    path = Path(path)
    try:
        coordinates = json.loads(path.read_text())["primary_lesion"]["breast_coordinates"]
        values = {axis: (coordinates[f"{axis}_min"], coordinates[f"{axis}_max"]) for axis in BOX_AXES}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(path, f"cannot read the patient info file: {exc}") from exc
    except (KeyError, TypeError) as exc:
        raise DataError(path, f"no primary_lesion.breast_coordinates with x_min .. z_max (missing {exc})") from exc
    for axis, pair in values.items():
        if any(isinstance(v, bool) or not isinstance(v, int) for v in pair) or not 0 <= pair[0] < pair[1]:
            raise DataError(path, f"breast_coordinates {axis}_min, {axis}_max must be whole numbers with "
                                  f"0 <= min < max, got {list(pair)}")
    return BreastBox(path, tuple(values[axis] for axis in BOX_AXES))


def folder_names(ids: Iterable[str], cases: Sequence[str]) -> dict[str, str]:
    """Each of ``ids`` (a table's or the split file's case ids) that names one of the case folders ``cases``,
    compared regardless of letter case, mapped to that folder's name; ids naming no folder are left out."""
    by_key = {case.casefold(): case for case in cases}
    return {i: by_key[str(i).casefold()] for i in ids if str(i).casefold() in by_key}


def phase_paths_in(folder: str | Path, case: str | None = None) -> list[Path | DicomPhase | None]:
    """Every phase file ``<CASE>_0000``, ``<CASE>_0001``, ... of one case folder (``.nii.gz``, else ``.nii``), entry
    ``k`` for phase ``k`` up to the last file there is, ``None`` for a phase missing before it; no upper limit.

    ``case`` defaults to the folder name. The pre-contrast phase ``_0000`` is required. A folder without such
    files that holds a DICOM series gives the series' phases instead (:class:`DicomPhase` references, in time
    order, the first being the pre-contrast phase; read when loaded).
    """
    folder = _require_dir(Path(folder), "case")
    case = case or folder.name
    pattern = re.compile(re.escape(case) + r"_(\d{4})\.nii(\.gz)?")
    found: dict[int, Path] = {}
    for path in sorted(folder.iterdir()):  # X_0000.nii before X_0000.nii.gz: the .nii.gz file wins
        match = pattern.fullmatch(path.name)
        if match and path.is_file():
            found[int(match[1])] = path
    if not found and is_dicom_series(folder):
        return list_dicom_phases(folder)
    if 0 not in found:
        raise DataError(folder / f"{case}_0000.nii.gz", "pre-contrast phase _0000 is missing")
    return [found.get(k) for k in range(max(found) + 1)]


def check_phase_list(phases: Sequence[int], what: str) -> list[int]:
    """``phases`` (``what`` names the setting in messages) as a list of distinct DCE phase indices >= 0."""
    if isinstance(phases, (str, bytes)) or not isinstance(phases, Sequence) or not phases \
            or any(isinstance(p, bool) or not isinstance(p, int) or p < 0 for p in phases) \
            or len(set(phases)) != len(phases):
        raise DataError(None, f"{what}: expected distinct phase indices >= 0, got {phases!r}")
    return [int(p) for p in phases]


def check_channel_phases(phases: Sequence[int], what: str) -> list[int]:
    """``phases`` as the DCE phase of each input channel of the lesion model, in channel order: distinct phase
    indices (:func:`check_phase_list`), the pre-contrast phase 0 first (the grid every phase is resampled onto)."""
    phases = check_phase_list(phases, what)
    if phases[0] != 0:
        raise DataError(None, f"{what}: the first channel must be the pre-contrast phase 0, got {phases!r}")
    return phases


def channel_entries(entries: Sequence, phases: Sequence[int]) -> list:
    """The entries of a case's phase list (:func:`phase_paths_in`) for the channel ``phases``, in channel order:
    ``None`` for a phase the case lacks."""
    return [entries[k] if k < len(entries) else None for k in phases]


def ignored_phases(entries: Sequence, phases: Sequence[int]) -> int:
    """How many phases the case has (entries not ``None``) that ``phases`` leaves out."""
    wanted = set(phases)
    return sum(1 for k, entry in enumerate(entries) if entry is not None and k not in wanted)


def phase_name(phase: int) -> str:
    """``pre_contrast`` for phase 0, ``post_contrast_<k>`` for phase ``k`` after it."""
    return "pre_contrast" if phase == 0 else f"post_contrast_{phase}"
