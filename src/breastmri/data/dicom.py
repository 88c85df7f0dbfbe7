"""DICOM series in: a folder of single-frame slices read into the pipeline's :class:`~breastmri.data.io.Volume`.

The array is indexed as SimpleITK's ``ImageSeriesReader`` would write the series to NIfTI and nibabel would read
it back: axis 0 = the DICOM column index (along the first ImageOrientationPatient vector), axis 1 = the row index,
axis 2 = the slices in ascending order along the slice normal (row x column direction). The affine is RAS+ mm:
ITK's LPS geometry (origin = the first slice's ImagePositionPatient) times ``diag(-1, -1, 1)``.

A multi-phase DCE may be ONE series, its phases repeating the same slice positions (as in TCIA's
Breast-MRI-NACT-Pilot). Its phases, in time order, are told apart by TemporalPositionIdentifier when every slice
has one; otherwise, when positions repeat, by AcquisitionTime or else ContentTime (the first whose values each
hold every position once), else by InstanceNumber order at each position (the first slice at a position belongs to
the first phase). Only headers are read to list and split a series; pixel data only for the phases returned.

DICOM-SEG objects, DICOMDIR files and non-DICOM files in the folder are ignored; sub-folders are not searched.
Every problem (no image files, a corrupt file, several series, missing geometry, mixed orientations or matrix
sizes, a series that cannot be split, irregular or tilted slice stacks) is a :class:`DataError` naming the
folder or the file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_file_meta_info
from pydicom.misc import is_dicom
from pydicom.pixels import apply_rescale
from pydicom.uid import MediaStorageDirectoryStorage, SegmentationStorage
from pydicom.valuerep import TM

from breastmri.data.errors import DataError
from breastmri.data.io import Volume, check_affine

#: SOP classes in a series folder that are not image slices.
SKIPPED_SOP_CLASSES = frozenset({SegmentationStorage, MediaStorageDirectoryStorage})
REQUIRED_TAGS = ("SeriesInstanceUID", "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "Rows",
                 "Columns")
POSITION_TOL_MM = 0.01  # slices closer than this along the normal share a position; largest in-plane drift
ORIENTATION_TOL = 1e-4  # direction cosines: agreement between slices, unit length and orthogonality
SPACING_TOL = 0.01      # largest relative deviation of a slice gap from the mean gap
RAS_LPS = np.diag([-1.0, -1.0, 1.0])  # world RAS+ <-> DICOM / ITK LPS (its own inverse)
_READ_ERRORS = (InvalidDicomError, OSError, EOFError, ValueError, TypeError, AttributeError, KeyError, IndexError,
                RuntimeError, NotImplementedError)


@dataclass(frozen=True, eq=False)
class _Slice:
    """The header of one image file: what listing, splitting and placing the series need."""

    path: Path
    series: str
    position: np.ndarray     # ImagePositionPatient (LPS mm)
    orientation: np.ndarray  # ImageOrientationPatient: row direction, column direction
    pixel_spacing: tuple[float, float]  # (between rows, between columns)
    size: tuple[int, int]    # (Rows, Columns)
    tags: dict               # what tells phases apart: TemporalPositionIdentifier, AcquisitionTime, ContentTime,
                             # InstanceNumber (None where absent)

    @property
    def normal(self) -> np.ndarray:
        """Unit slice normal: row direction x column direction."""
        normal = np.cross(self.orientation[:3], self.orientation[3:])
        return normal / np.linalg.norm(normal)

    @property
    def distance(self) -> float:
        """Position along the slice normal (mm)."""
        return float(self.position @ self.normal)


@dataclass(frozen=True)
class DicomPhase:
    """One phase of a (multi-phase) DICOM series, read when loaded: an entry of a case's phase list, like a phase
    file. ``os.fspath`` gives the series folder, so errors about the phase name the folder."""

    folder: Path
    index: int  # time order: 0 = the first (pre-contrast) phase

    def __fspath__(self) -> str:
        return str(self.folder)

    @property
    def name(self) -> str:
        return f"{self.folder.name} (DICOM phase {self.index})"

    def load(self, patient_id: str | None = None, dtype=np.float32) -> Volume:
        """This phase as a :class:`Volume` (``patient_id`` defaults to the folder name)."""
        phases = _series_phases(self.folder)
        if self.index >= len(phases):
            raise DataError(self.folder, f"the series holds {len(phases)} phase(s), not phase {self.index}")
        return _volume(phases[self.index], self.folder, patient_id, dtype)


def is_dicom_series(path: str | Path) -> bool:
    """Whether ``path`` is a folder holding at least one DICOM image file (DICOM-SEG, DICOMDIR and non-DICOM files
    do not count). Reads only the files' preambles and file meta."""
    path = Path(path)
    return path.is_dir() and any(_is_image_file(f) for f in sorted(path.iterdir()))


def load_dicom_phases(folder: str | Path, patient_id: str | None = None, dtype=np.float32) -> list[Volume]:
    """Every phase of the folder's series as a :class:`Volume`, in time order (one for a single-phase series).

    ``patient_id`` defaults to the folder name; ``Volume.path`` is the folder."""
    folder = Path(folder)
    return [_volume(phase, folder, patient_id, dtype) for phase in _series_phases(folder)]


def load_dicom_volume(folder: str | Path, patient_id: str | None = None, dtype=np.float32) -> Volume:
    """The folder's series as one :class:`Volume`; a :class:`DataError` naming the folder if it holds several
    phases."""
    folder = Path(folder)
    phases = _series_phases(folder)
    if len(phases) > 1:
        raise DataError(folder, f"the series holds {len(phases)} phases (a multi-phase DCE), not one volume: give "
                                "it as a case's phases folder")
    return _volume(phases[0], folder, patient_id, dtype)


def list_dicom_phases(folder: str | Path) -> list[DicomPhase]:
    """The phases of the folder's series in time order, from the headers alone (nothing is loaded)."""
    folder = Path(folder)
    return [DicomPhase(folder, k) for k in range(len(_series_phases(folder)))]


# -- listing -------------------------------------------------------------------------------------------------------
def _is_image_file(path: Path) -> bool:
    if not path.is_file() or not is_dicom(path):
        return False
    try:
        sop_class = read_file_meta_info(path).get("MediaStorageSOPClassUID")
    except _READ_ERRORS:
        return True  # a damaged DICOM file: reading the series reports it
    return sop_class not in SKIPPED_SOP_CLASSES


def _read_header(path: Path) -> _Slice:
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except _READ_ERRORS as exc:
        raise DataError(path, f"cannot read as DICOM (corrupt or truncated): {exc}") from exc
    missing = [tag for tag in REQUIRED_TAGS if ds.get(tag) in (None, "")]
    if missing:
        raise DataError(path, f"missing DICOM tag(s) {', '.join(missing)} (truncated, or not an image slice)")
    try:
        tags = {"TemporalPositionIdentifier": _value(ds, "TemporalPositionIdentifier", int),
                "AcquisitionTime": _value(ds, "AcquisitionTime", TM),
                "ContentTime": _value(ds, "ContentTime", TM),
                "InstanceNumber": _value(ds, "InstanceNumber", int)}
        return _Slice(path, str(ds.SeriesInstanceUID),
                      np.array(ds.ImagePositionPatient, dtype=np.float64).reshape(3),
                      np.array(ds.ImageOrientationPatient, dtype=np.float64).reshape(6),
                      (float(ds.PixelSpacing[0]), float(ds.PixelSpacing[1])), (int(ds.Rows), int(ds.Columns)), tags)
    except _READ_ERRORS as exc:
        raise DataError(path, f"malformed DICOM header: {exc}") from exc


def _value(ds, tag: str, kind):
    value = ds.get(tag)
    return None if value in (None, "") else kind(value)


def _series_slices(folder: Path) -> list[_Slice]:
    """Headers of the folder's image files: one series, one orientation, one matrix size and pixel spacing."""
    if not folder.is_dir():
        raise DataError(folder, "DICOM series folder is missing" if not folder.exists() else "is not a folder")
    slices = [_read_header(f) for f in sorted(folder.iterdir()) if _is_image_file(f)]
    if not slices:
        raise DataError(folder, "folder holds no DICOM image files")
    series = Counter(s.series for s in slices)
    if len(series) > 1:
        listed = "; ".join(f"{uid} ({n} files)" for uid, n in sorted(series.items()))
        raise DataError(folder, f"folder holds {len(series)} DICOM series, expected one: {listed}")
    first = slices[0]
    _check_orientation(first)
    for s in slices[1:]:
        if not np.allclose(s.orientation, first.orientation, atol=ORIENTATION_TOL):
            raise DataError(s.path, f"ImageOrientationPatient {s.orientation.tolist()} differs from "
                                    f"{first.orientation.tolist()} of {first.path.name}: one series, one orientation")
        if s.size != first.size or not np.allclose(s.pixel_spacing, first.pixel_spacing, atol=1e-4):
            raise DataError(s.path, f"matrix {s.size} / PixelSpacing {s.pixel_spacing} differs from {first.size} / "
                                    f"{first.pixel_spacing} of {first.path.name}")
    return slices


def _check_orientation(s: _Slice) -> None:
    row, col = s.orientation[:3], s.orientation[3:]
    if (abs(np.linalg.norm(row) - 1) > ORIENTATION_TOL or abs(np.linalg.norm(col) - 1) > ORIENTATION_TOL
            or abs(row @ col) > ORIENTATION_TOL):
        raise DataError(s.path, f"ImageOrientationPatient {s.orientation.tolist()} is not two orthogonal unit vectors")


# -- splitting into phases -----------------------------------------------------------------------------------------
def _series_phases(folder: Path) -> list[list[_Slice]]:
    """The series' phases in time order, each a list of slices in ascending order along the normal."""
    slices = _series_slices(folder)
    where = _position_ids(np.array([s.distance for s in slices]))
    n_positions = int(where.max()) + 1
    if all(s.tags["TemporalPositionIdentifier"] is not None for s in slices):
        how, keys = "TemporalPositionIdentifier", [s.tags["TemporalPositionIdentifier"] for s in slices]
    elif n_positions == len(slices):
        return [sorted(slices, key=lambda s: s.distance)]  # every position once: one phase
    else:
        how, keys = _repeat_keys(slices, where, folder)
    phases = _groups(keys)
    if not _each_holds_every_position(phases, where, n_positions):
        raise DataError(folder, f"cannot split the series into phases: {len(slices)} slices at {n_positions} "
                                f"positions, and by {how} the phases hold {[len(p) for p in phases]} slices; each "
                                "phase must hold every position once")
    return [sorted((slices[i] for i in phase), key=lambda s: s.distance) for phase in phases]


def _position_ids(distances: np.ndarray) -> np.ndarray:
    """Slice-position index of every slice: distances within :data:`POSITION_TOL_MM` of the previous are the same."""
    order = np.argsort(distances, kind="stable")
    ids = np.empty(len(distances), dtype=int)
    ids[order] = np.concatenate([[0], np.cumsum(np.diff(distances[order]) > POSITION_TOL_MM)])
    return ids


def _groups(keys: list) -> list[list[int]]:
    """Indices grouped by key, the groups in ascending key order."""
    return [[i for i, k in enumerate(keys) if k == key] for key in sorted(set(keys))]


def _each_holds_every_position(phases: list[list[int]], where: np.ndarray, n_positions: int) -> bool:
    return all(sorted(where[phase].tolist()) == list(range(n_positions)) for phase in phases)


def _repeat_keys(slices: list[_Slice], where: np.ndarray, folder: Path) -> tuple[str, list]:
    """Phase keys of a series whose positions repeat: the first time tag that puts every position once in each of
    its values, else each slice's rank in InstanceNumber order at its position."""
    n_positions = int(where.max()) + 1
    for tag in ("AcquisitionTime", "ContentTime"):
        keys = [s.tags[tag] for s in slices]
        if None not in keys and _each_holds_every_position(_groups(keys), where, n_positions):
            return tag, keys
    instances = [s.tags["InstanceNumber"] for s in slices]
    if None in instances or len(set(instances)) != len(instances):
        raise DataError(folder, f"cannot split the series into phases: slice positions repeat ({len(slices)} "
                                f"slices at {n_positions} positions), no TemporalPositionIdentifier or time tag "
                                "tells the phases apart, and InstanceNumber is missing or repeated")
    ranks, seen = [0] * len(slices), Counter()
    for i in sorted(range(len(slices)), key=instances.__getitem__):
        ranks[i] = seen[where[i]]
        seen[where[i]] += 1
    return "InstanceNumber order", ranks


# -- one phase as a Volume -----------------------------------------------------------------------------------------
def _affine(phase: list[_Slice], folder: Path) -> np.ndarray:
    """RAS+ affine of one phase (slices sorted along the normal); the stack must be evenly spaced, not tilted."""
    if len(phase) < 2:
        raise DataError(folder, f"a phase of {len(phase)} slice is not a 3D volume")
    first, normal = phase[0], phase[0].normal
    distances = np.array([s.distance for s in phase]) - first.distance
    step = distances[-1] / (len(phase) - 1)
    gaps = np.diff(distances)
    if np.max(np.abs(gaps - step)) > SPACING_TOL * step:
        raise DataError(folder, f"slices are not evenly spaced (gaps {gaps.min():.4g} to {gaps.max():.4g} mm): a "
                                "slice is missing or the stack is irregular")
    offsets = np.array([s.position for s in phase]) - first.position - np.outer(distances, normal)
    if np.max(np.linalg.norm(offsets, axis=1)) > POSITION_TOL_MM:
        raise DataError(folder, "slices are not stacked along the slice normal (gantry tilt or a sheared stack): "
                                "not supported")
    row, col = first.orientation[:3], first.orientation[3:]
    lps = np.column_stack([row / np.linalg.norm(row) * first.pixel_spacing[1],
                           col / np.linalg.norm(col) * first.pixel_spacing[0], normal * step, first.position])
    affine = np.eye(4)
    affine[:3] = RAS_LPS @ lps
    return check_affine(affine, folder)  # a zero pixel spacing or repeated slice positions give a singular one


def _pixels(s: _Slice) -> np.ndarray:
    """One slice's modality values (rescale applied), indexed ``[column, row]``."""
    try:
        ds = pydicom.dcmread(s.path)
        pixels = apply_rescale(ds.pixel_array, ds)
    except _READ_ERRORS as exc:
        raise DataError(s.path, f"cannot read the pixel data (corrupt, truncated or undecodable): {exc}") from exc
    if pixels.shape != s.size:
        raise DataError(s.path, f"pixel data of shape {pixels.shape}, expected one grayscale frame of {s.size}")
    return pixels.T


def _volume(phase: list[_Slice], folder: Path, patient_id: str | None, dtype) -> Volume:
    affine = _affine(phase, folder)
    array = np.stack([_pixels(s) for s in phase], axis=2).astype(dtype, copy=False)
    spacing = tuple(float(z) for z in np.linalg.norm(affine[:3, :3], axis=0))
    return Volume(array=array, affine=affine, patient_id=patient_id if patient_id is not None else folder.name,
                  path=folder, header_zooms=spacing)
