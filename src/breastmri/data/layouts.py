"""Dataset layouts on disk, each an adapter that yields canonical patient ids and file paths.

* Seed layout (whole-breast task)::

      <root>/train/scans/Breast_MRI_042.nii.gz      (or a DICOM series folder Breast_MRI_042/)
      <root>/train/masks/Breast_MRI_042.nii.gz     (binary breast mask)
      <root>/inference/scans/Breast_MRI_107.nii.gz
      <root>/clinical.csv                           (or the Duke Clinical_and_Other_Features.xlsx)

* MAMA-MIA layout (lesion task)::

      <root>/images/<CASE>/<CASE>_0000.nii.gz ... <CASE>_0005.nii.gz   (DCE phases, some may be missing)
      <root>/images/<CASE>/*.dcm                    (or the DCE as one DICOM series, split into its phases)
      <root>/segmentations/expert/<CASE>.nii.gz                       (lesion mask)
      <root>/clinical_and_imaging_info.csv | .xlsx
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from breastmri.data.dicom import DicomPhase, is_dicom_series, list_dicom_phases
from breastmri.data.errors import DataError
from breastmri.data.io import is_nifti, strip_nifti_suffix

MAX_PHASES = 6
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
        """Case ids: the sub-folders of ``images/`` (sorted)."""
        _require_dir(self.image_dir, "MAMA-MIA images")
        cases = sorted(p.name for p in self.image_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not cases:
            raise DataError(self.image_dir, "MAMA-MIA images folder holds no case folders")
        return cases

    def phase_paths(self, case: str) -> list[Path | DicomPhase | None]:
        """The ``MAX_PHASES`` phases of a case in order (see :func:`phase_paths_in`); ``None`` where missing."""
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


def phase_paths_in(folder: str | Path, case: str | None = None) -> list[Path | DicomPhase | None]:
    """Phase files ``<CASE>_0000`` .. ``<CASE>_0005`` of one case folder; ``None`` for missing phases.

    ``case`` defaults to the folder name. The pre-contrast phase ``_0000`` is required. A folder without such
    files that holds a DICOM series gives the series' phases instead (:class:`DicomPhase` references, in time
    order, the first being the pre-contrast phase; read when loaded), padded with ``None``.
    """
    folder = _require_dir(Path(folder), "case")
    case = case or folder.name
    paths: list[Path | DicomPhase | None] = []
    for k in range(MAX_PHASES):
        candidates = [folder / f"{case}_{k:04d}{sfx}" for sfx in (".nii.gz", ".nii")]
        paths.append(next((c for c in candidates if c.is_file()), None))
    if all(p is None for p in paths) and is_dicom_series(folder):
        return _dicom_phase_entries(folder)
    if paths[0] is None:
        raise DataError(folder / f"{case}_0000.nii.gz", "pre-contrast phase _0000 is missing")
    return paths


def _dicom_phase_entries(folder: Path) -> list[DicomPhase | None]:
    phases = list_dicom_phases(folder)
    if len(phases) > MAX_PHASES:
        raise DataError(folder, f"the DICOM series holds {len(phases)} phases; a case has at most {MAX_PHASES}")
    return phases + [None] * (MAX_PHASES - len(phases))
