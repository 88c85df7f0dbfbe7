"""The per-patient orientation record: what was done to a scan (and its mask), and how to undo it.

The oriented frame of a patient is reached from the stored file by

1. the affine canonicalisation ``canonical_ornt`` (:mod:`breastmri.orientation.canonical`);
2. ``scan_flip_ud`` (reverse axis 0), then ``scan_flip_hf`` (reverse axis 2) -- applied to scan and mask;
3. for the training mask only: ``mask_flip_ud`` (axis 0), then ``mask_flip_lr`` (axis 1), which put the mask
   back onto its scan.

:func:`to_oriented_frame` applies these steps and :func:`to_original_frame` undoes them exactly (flips and
axis permutations only, no resampling). With ``kind="scan"`` (the default) an array is mapped to/from the
SCAN file's frame, which is what a prediction needs; ``kind="mask"`` maps to/from the stored MASK file's
frame (it also undoes the mask-only flips).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from breastmri.data.atomic import write_text_atomic
from breastmri.data.errors import DataError
from breastmri.data.io import write_json
from breastmri.orientation.canonical import canonical_shape, from_canonical, to_canonical

RECORD_VERSION = 1
KINDS = ("scan", "mask")
DECISIONS = ("scan_flip_ud", "scan_flip_hf", "mask_flip_ud", "mask_flip_lr")


def _ornt_list(ornt) -> list[list[int]]:
    return [[int(axis), int(flip)] for axis, flip in np.asarray(ornt, dtype=float)]


@dataclass(frozen=True)
class OrientationRecord:
    """Everything applied to one patient's files; JSON-serialisable via :meth:`to_dict`."""

    patient_id: str
    split: str  # "train" | "inference" | "" (a scan oriented on its own)
    stored_shape: tuple[int, int, int]
    stored_affine: tuple[tuple[float, ...], ...]
    canonical_ornt: tuple[tuple[int, int], ...]
    scan_flip_ud: bool
    scan_flip_hf: bool
    scan_ud_margin: float
    scan_hf_margin: float
    mask_canonical_ornt: tuple[tuple[int, int], ...] | None = None
    mask_flip_ud: bool | None = None
    mask_flip_lr: bool | None = None
    mask_ud_margin: float | None = None
    mask_lr_margin: float | None = None
    source_scan: str | None = None
    source_mask: str | None = None

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "stored_shape", tuple(int(s) for s in self.stored_shape))
        set_(self, "stored_affine", tuple(tuple(float(v) for v in row) for row in np.asarray(self.stored_affine)))
        set_(self, "canonical_ornt", tuple(tuple(r) for r in _ornt_list(self.canonical_ornt)))
        if self.mask_canonical_ornt is not None:
            set_(self, "mask_canonical_ornt", tuple(tuple(r) for r in _ornt_list(self.mask_canonical_ornt)))

    @property
    def has_mask(self) -> bool:
        return self.mask_flip_ud is not None

    @property
    def oriented_shape(self) -> tuple[int, int, int]:
        return canonical_shape(self.stored_shape, self.canonical_ornt)

    @property
    def affine(self) -> np.ndarray:
        """The stored scan file's affine (write predictions mapped back with it)."""
        return np.array(self.stored_affine, dtype=np.float64)

    def margins(self) -> dict[str, float | None]:
        return {"scan_flip_ud": self.scan_ud_margin, "scan_flip_hf": self.scan_hf_margin,
                "mask_flip_ud": self.mask_ud_margin, "mask_flip_lr": self.mask_lr_margin}

    def flips(self) -> dict[str, bool | None]:
        return {name: getattr(self, name) for name in DECISIONS}

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["stored_shape"] = list(self.stored_shape)
        out["stored_affine"] = [list(row) for row in self.stored_affine]
        out["canonical_ornt"] = [list(row) for row in self.canonical_ornt]
        if self.mask_canonical_ornt is not None:
            out["mask_canonical_ornt"] = [list(row) for row in self.mask_canonical_ornt]
        for key in ("scan_ud_margin", "scan_hf_margin", "mask_ud_margin", "mask_lr_margin"):
            if out[key] is not None:
                out[key] = round(float(out[key]), 6)
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> "OrientationRecord":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown orientation record field(s): {', '.join(unknown)}")
        return cls(**dict(data))


def _check_kind(record: OrientationRecord, kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if kind == "mask" and not record.has_mask:
        raise ValueError(f"{record.patient_id}: record has no mask decisions (scan-only record)")


def _ornt_for(record: OrientationRecord, kind: str):
    return record.mask_canonical_ornt if kind == "mask" else record.canonical_ornt


def to_oriented_frame(array: np.ndarray, record: OrientationRecord, kind: str = "scan") -> np.ndarray:
    """Map an array in the stored file's frame to the oriented frame (canonicalise, then flip)."""
    _check_kind(record, kind)
    ornt = _ornt_for(record, kind)
    array = np.asarray(array)
    if array.ndim != 3 or canonical_shape(array.shape, ornt) != record.oriented_shape:
        raise ValueError(f"{record.patient_id}: array of shape {array.shape} does not match the stored "
                         f"{kind} (oriented shape {record.oriented_shape})")
    out = to_canonical(array, ornt)
    if record.scan_flip_ud:
        out = out[::-1, :, :]
    if record.scan_flip_hf:
        out = out[:, :, ::-1]
    if kind == "mask":
        if record.mask_flip_ud:
            out = out[::-1, :, :]
        if record.mask_flip_lr:
            out = out[:, ::-1, :]
    return np.ascontiguousarray(out)


def to_original_frame(array: np.ndarray, record: OrientationRecord, kind: str = "scan") -> np.ndarray:
    """Exact inverse of :func:`to_oriented_frame`: put an oriented-frame array back in the stored frame.

    With ``kind="scan"`` a prediction made on the oriented scan lands voxel-for-voxel on the stored scan
    file (save it with ``record.affine``).
    """
    _check_kind(record, kind)
    array = np.asarray(array)
    if tuple(array.shape) != record.oriented_shape:
        raise ValueError(f"{record.patient_id}: array of shape {array.shape} is not in the oriented frame "
                         f"(expected {record.oriented_shape})")
    out = array
    if kind == "mask":
        if record.mask_flip_lr:
            out = out[:, ::-1, :]
        if record.mask_flip_ud:
            out = out[::-1, :, :]
    if record.scan_flip_hf:
        out = out[:, :, ::-1]
    if record.scan_flip_ud:
        out = out[::-1, :, :]
    return np.ascontiguousarray(from_canonical(out, _ornt_for(record, kind)))


# ---------------------------------------------------------------------------------------------- files
def save_records(records: Iterable[OrientationRecord], path: str | Path, settings: Mapping | None = None) -> Path:
    """Write all records as one JSON document (sorted by patient id, sorted keys) and a CSV table beside it."""
    records = sorted(records, key=lambda r: r.patient_id)
    patients: dict[str, dict] = {}
    for record in records:
        if record.patient_id in patients:
            raise DataError(path, f"two orientation records for patient {record.patient_id}")
        patients[record.patient_id] = record.to_dict()
    doc = {"version": RECORD_VERSION, "settings": dict(settings or {}), "patients": patients}
    path = write_json(doc, path)
    table = records_table(records)
    with_csv = Path(path).with_suffix(".csv")
    write_text_atomic(with_csv, table.to_csv(index=False, lineterminator="\n"))
    return path


def load_records(path: str | Path) -> dict[str, OrientationRecord]:
    """Read a record file written by :func:`save_records`: patient id -> record. Raises DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "orientation record not found")
    try:
        doc = json.loads(path.read_text())
        return {pid: OrientationRecord.from_dict(data) for pid, data in sorted(doc["patients"].items())}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise DataError(path, f"not a valid orientation record: {exc}") from exc


def records_table(records: Iterable[OrientationRecord]):
    """One row per patient: split, storage transform, flips and margins (a pandas DataFrame)."""
    import pandas as pd

    rows = []
    for r in sorted(records, key=lambda r: r.patient_id):
        rows.append({
            "patient_id": r.patient_id, "split": r.split,
            "canonical_ornt": " ".join(f"{a}{'+' if f > 0 else '-'}" for a, f in r.canonical_ornt),
            "scan_flip_ud": r.scan_flip_ud, "scan_ud_margin": r.scan_ud_margin,
            "scan_flip_hf": r.scan_flip_hf, "scan_hf_margin": r.scan_hf_margin,
            "mask_flip_ud": r.mask_flip_ud, "mask_ud_margin": r.mask_ud_margin,
            "mask_flip_lr": r.mask_flip_lr, "mask_lr_margin": r.mask_lr_margin,
        })
    columns = ["patient_id", "split", "canonical_ornt", "scan_flip_ud", "scan_ud_margin", "scan_flip_hf",
               "scan_hf_margin", "mask_flip_ud", "mask_ud_margin", "mask_flip_lr", "mask_lr_margin"]
    frame = pd.DataFrame(rows, columns=columns)
    for col in ("scan_ud_margin", "scan_hf_margin", "mask_ud_margin", "mask_lr_margin"):
        frame[col] = frame[col].astype(float).round(6)
    return frame
