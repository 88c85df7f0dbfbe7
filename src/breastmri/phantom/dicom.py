"""A phantom volume written as a DICOM MR series (pydicom): the input for the DICOM readers' tests.

The array is in nibabel's convention with its RAS+ affine, as :func:`breastmri.data.dicom.load_dicom_phases`
reads it back: axis 0 runs along a row of each slice image (DICOM column index), axis 1 down its columns,
axis 2 over the slices along the normal. Several phases (a 4D array, phases on axis 3) go into ONE series:

* ``phase_tags="content_time"``: as the real Breast-MRI-NACT-Pilot exams — InstanceNumber blocks (phase 0:
  1..n, phase 1: n+1..2n, ...) and one ContentTime per phase; no TemporalPositionIdentifier, no AcquisitionTime;
* ``"temporal_position"``: TemporalPositionIdentifier (1-based) and NumberOfTemporalPositions, with
  AcquisitionTime and ContentTime per phase;
* ``"instance_number"``: every slice has the series' ContentTime; only the InstanceNumber blocks tell the phases
  apart.

Every UID derives from ``seed`` (pydicom's ``generate_uid`` with it as entropy) and nothing depends on the clock,
so the same input gives byte-identical files. Values are stored as int16 (they must be integers in its range).
"""

from __future__ import annotations

import datetime
import os
import shutil
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid
from pydicom.valuerep import format_number_as_ds

from breastmri.data.dicom import RAS_LPS
from breastmri.data.errors import DataError

PHASE_TAGS = ("content_time", "temporal_position", "instance_number")
SERIES_TIME = datetime.datetime(2000, 1, 1, 10, 0, 0)
_GEOMETRY_TOL = 1e-6


def write_dicom_series(folder: str | Path, array: np.ndarray, affine: np.ndarray, seed: str, *,
                       phase_tags: str = "content_time", phase_seconds: float = 360.0,
                       patient_id: str = "PHANTOM") -> list[Path]:
    """Write ``array`` (3D, or 4D with the phases on axis 3) on ``affine`` as one DICOM MR series into ``folder``
    (new or empty; filled atomically), files ``0001.dcm``, ... in InstanceNumber order. Phase ``p`` starts
    ``p * phase_seconds`` after the series time. Returns the file paths."""
    folder = Path(folder)
    if phase_tags not in PHASE_TAGS:
        raise DataError(folder, f"phase_tags must be one of {PHASE_TAGS}, got {phase_tags!r}")
    if folder.exists() and any(folder.iterdir()):
        raise DataError(folder, "folder is not empty: a series is written into a new or empty folder")
    phases = _int16_phases(array, folder)
    geometry = _geometry(affine, folder)
    uids = {name: generate_uid(entropy_srcs=[seed, name]) for name in ("study", "series", "frame")}
    n_slices = phases.shape[2]
    staging = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)  # left by an interrupted write
    staging.mkdir(parents=True)
    try:
        names = []
        for p in range(phases.shape[3]):
            for k in range(n_slices):
                instance = p * n_slices + k + 1
                ds = _slice(phases[:, :, k, p], geometry, k, uids, seed, instance, patient_id)
                _tag_phase(ds, p, phases.shape[3], phase_tags, phase_seconds)
                names.append(f"{instance:04d}.dcm")
                ds.save_as(staging / names[-1], enforce_file_format=True)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [folder / name for name in names]


def _int16_phases(array: np.ndarray, folder: Path) -> np.ndarray:
    """The phases as a 4D int16 array (axis 3 = phases)."""
    array = np.asarray(array)
    if array.ndim not in (3, 4):
        raise DataError(folder, f"expected a 3D volume or a 4D array of phases, got shape {array.shape}")
    stored = array.astype(np.int16)
    if not np.array_equal(stored, array):
        raise DataError(folder, "values must be integers in the int16 range to be stored as a DICOM series")
    return stored if stored.ndim == 4 else stored[..., None]


def _geometry(affine: np.ndarray, folder: Path) -> dict:
    """LPS origin, unit row / column directions, spacings and slice step of a RAS affine that a DICOM series can
    hold: orthogonal axes, slices stacked along the normal (row x column), no shear."""
    lps = RAS_LPS @ np.asarray(affine, dtype=np.float64)[:3]
    spacing = np.linalg.norm(lps[:, :3], axis=0)
    directions = lps[:, :3] / spacing
    if not np.allclose(directions.T @ directions, np.eye(3), atol=_GEOMETRY_TOL) or np.linalg.det(directions) < 0:
        raise DataError(folder, "a DICOM series needs orthogonal axes stacked along the slice normal (row x column "
                                "direction): the affine is sheared or left-handed")
    return {"origin": lps[:, 3], "row": directions[:, 0], "column": directions[:, 1], "step": lps[:, 2],
            "pixel_spacing": [spacing[1], spacing[0]], "slice_spacing": spacing[2]}


def _ds(values) -> list[str]:
    return [format_number_as_ds(float(v)) for v in values]


def _slice(image: np.ndarray, geometry: dict, k: int, uids: dict, seed: str, instance: int,
           patient_id: str) -> Dataset:
    """The dataset of slice ``k`` of one phase: ``image`` is indexed ``[column, row]``."""
    sop_uid = generate_uid(entropy_srcs=[seed, "sop", str(instance)])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, sop_uid
    ds.Modality, ds.PatientID, ds.PatientName = "MR", patient_id, patient_id
    ds.StudyInstanceUID, ds.SeriesInstanceUID = uids["study"], uids["series"]
    ds.FrameOfReferenceUID = uids["frame"]
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = SERIES_TIME.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = SERIES_TIME.strftime("%H%M%S")
    ds.SeriesNumber, ds.InstanceNumber = 1, instance
    ds.SeriesDescription = "phantom DCE"
    ds.ImagePositionPatient = _ds(geometry["origin"] + k * geometry["step"])
    ds.ImageOrientationPatient = _ds([*geometry["row"], *geometry["column"]])
    ds.PixelSpacing = _ds(geometry["pixel_spacing"])
    ds.SliceThickness = ds.SpacingBetweenSlices = format_number_as_ds(float(geometry["slice_spacing"]))
    ds.Rows, ds.Columns = int(image.shape[1]), int(image.shape[0])
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.PixelData = np.ascontiguousarray(image.T, dtype="<i2").tobytes()
    return ds


def _tag_phase(ds: Dataset, phase: int, n_phases: int, phase_tags: str, phase_seconds: float) -> None:
    """The tags that tell phase ``phase`` apart (see the module docstring)."""
    start = (SERIES_TIME + datetime.timedelta(seconds=phase * phase_seconds)).strftime("%H%M%S.%f")
    if phase_tags == "instance_number":
        ds.ContentTime = ds.SeriesTime
        return
    ds.ContentTime = start
    if phase_tags == "temporal_position":
        ds.AcquisitionTime = start
        ds.TemporalPositionIdentifier, ds.NumberOfTemporalPositions = phase + 1, n_phases
