"""The per-patient orientation record: what was done to a scan (and its mask), and how to undo it.

The oriented (working-frame) array of a patient is reached from the stored file by

1. ``frame_ornt``: the affine's map into the working frame (:mod:`breastmri.orientation.frame`), or the
   identity when the affine is ignored;
2. the heuristic corrections (``ignore`` mode only): ``scan_swap`` (exchange axes 0 and 1), then
   ``scan_flip_ud`` (reverse axis 0) and ``scan_flip_hf`` (reverse axis 2) -- applied to scan and mask;
3. for the training mask only: its own ``mask_frame_ornt`` instead of the scan's, then ``mask_flip_ud``
   (axis 0) and ``mask_flip_lr`` (axis 1), which put the mask onto its scan.

All of it is one nibabel ornt per kind (:meth:`OrientationRecord.ornt`): :func:`to_oriented_frame` applies it
and :func:`to_original_frame` undoes it exactly (permutations and reversals, no resampling). With
``kind="scan"`` (the default) an array is mapped to/from the SCAN file's frame, which is what a prediction
needs; ``kind="mask"`` maps to/from the stored MASK file's frame.
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
from breastmri.orientation.frame import (IDENTITY, compose, frame_affine, from_working, inverse, spacing_of,
                                         to_working, working_affine, working_shape, working_spacing, working_view)

RECORD_VERSION = 2
KINDS = ("scan", "mask")
SCAN_DECISIONS = ("scan_swap", "scan_flip_ud", "scan_flip_hf")
MASK_DECISIONS = ("mask_flip_ud", "mask_flip_lr")
DECISIONS = SCAN_DECISIONS + MASK_DECISIONS
MARGINS = DECISIONS


def _ornt_rows(ornt) -> tuple[tuple[int, int], ...]:
    return tuple((int(axis), int(flip)) for axis, flip in np.asarray(ornt, dtype=float))


def _flip_ornt(axes: Iterable[int]) -> np.ndarray:
    out = IDENTITY.copy()
    for axis in axes:
        out[axis, 1] = -1
    return out


@dataclass(frozen=True)
class OrientationRecord:
    """Everything applied to one patient's files; JSON-serialisable via :meth:`to_dict`."""

    patient_id: str
    split: str  # "train" | "inference" | "" (a scan oriented on its own)
    affine_mode: str  # trust | verify | ignore
    stored_shape: tuple[int, int, int]
    stored_affine: tuple[tuple[float, ...], ...]
    frame_ornt: tuple[tuple[int, int], ...]
    scan_swap: bool
    scan_flip_ud: bool
    scan_flip_hf: bool
    margins: Mapping[str, float]
    solidity: float
    problems: tuple[str, ...] = ()
    mask_frame_ornt: tuple[tuple[int, int], ...] | None = None
    mask_flip_ud: bool | None = None
    mask_flip_lr: bool | None = None
    mask_cost: float | None = None
    qc: Mapping[str, float] | None = None
    source_scan: str | None = None
    source_mask: str | None = None

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "stored_shape", tuple(int(s) for s in self.stored_shape))
        set_(self, "stored_affine", tuple(tuple(float(v) for v in row) for row in np.asarray(self.stored_affine)))
        set_(self, "frame_ornt", _ornt_rows(self.frame_ornt))
        set_(self, "margins", {k: float(v) for k, v in sorted(dict(self.margins).items())})
        set_(self, "problems", tuple(str(p) for p in self.problems))
        if self.mask_frame_ornt is not None:
            set_(self, "mask_frame_ornt", _ornt_rows(self.mask_frame_ornt))
        if self.qc is not None:
            set_(self, "qc", {k: float(v) for k, v in sorted(dict(self.qc).items())})

    @property
    def has_mask(self) -> bool:
        return self.mask_flip_ud is not None

    def ornt(self, kind: str = "scan") -> np.ndarray:
        """The one ornt from the stored ``kind`` file to the working frame."""
        _check_kind(self, kind)
        frame = self.mask_frame_ornt if kind == "mask" else self.frame_ornt
        out = compose(frame, correction_ornt(self))
        if kind == "mask":
            out = compose(out, _flip_ornt([0] * self.mask_flip_ud + [1] * self.mask_flip_lr))
        return out

    @property
    def oriented_shape(self) -> tuple[int, int, int]:
        return working_shape(self.stored_shape, self.ornt())

    @property
    def working_spacing(self) -> tuple[float, float, float]:
        return working_spacing(spacing_of(self.stored_affine), self.ornt())

    @property
    def affine(self) -> np.ndarray:
        """The stored scan file's affine (write predictions mapped back with it)."""
        return np.array(self.stored_affine, dtype=np.float64)

    def oriented_affine(self) -> np.ndarray:
        """The affine of the oriented scan: the file's own, carried into the frame, when it describes the
        anatomy; else a plain working-frame affine with the voxel spacing (see ``frame.frame_affine``)."""
        if self.affine_mode == "ignore":
            return frame_affine(self.working_spacing)
        return working_affine(self.affine, self.stored_shape, self.ornt())

    def flips(self) -> dict[str, bool | None]:
        return {name: getattr(self, name) for name in DECISIONS}

    def with_mask(self, mask_frame_ornt, ud, lr, cost: float, source_mask: str | None) -> "OrientationRecord":
        """This scan record with its training mask's alignment decisions."""
        margins = {**self.margins, "mask_flip_ud": round(ud.margin, 6), "mask_flip_lr": round(lr.margin, 6)}
        return self.replace(mask_frame_ornt=mask_frame_ornt, mask_flip_ud=bool(ud.flip), mask_flip_lr=bool(lr.flip),
                            mask_cost=round(cost, 6), margins=margins, source_mask=source_mask)

    def replace(self, **changes) -> "OrientationRecord":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        for key in ("stored_shape", "problems"):
            out[key] = list(out[key])
        for key in ("stored_affine", "frame_ornt", "mask_frame_ornt"):
            if out[key] is not None:
                out[key] = [list(row) for row in out[key]]
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> "OrientationRecord":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown orientation record field(s): {', '.join(unknown)}")
        return cls(**dict(data))


def correction_ornt(record: OrientationRecord) -> np.ndarray:
    """The heuristic corrections as one ornt acting on the frame array: swap axes 0/1, then reverse axis 0
    (``scan_flip_ud``) and axis 2 (``scan_flip_hf``) of the result."""
    out = IDENTITY.copy()
    if record.scan_swap:
        out[[0, 1], 0] = [1, 0]
    for source in range(3):
        target = int(out[source, 0])
        if (target == 0 and record.scan_flip_ud) or (target == 2 and record.scan_flip_hf):
            out[source, 1] = -1
    return out


def _check_kind(record: OrientationRecord, kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if kind == "mask" and not record.has_mask:
        raise ValueError(f"{record.patient_id}: record has no mask decisions (scan-only record)")


def to_oriented_frame(array: np.ndarray, record: OrientationRecord, kind: str = "scan") -> np.ndarray:
    """Map an array in the stored file's frame to the oriented (working) frame."""
    ornt = record.ornt(kind)
    array = np.asarray(array)
    if array.ndim != 3 or working_shape(array.shape, ornt) != record.oriented_shape:
        raise ValueError(f"{record.patient_id}: array of shape {array.shape} does not match the stored "
                         f"{kind} (oriented shape {record.oriented_shape})")
    return np.ascontiguousarray(to_working(array, ornt))


def to_original_frame(array: np.ndarray, record: OrientationRecord, kind: str = "scan",
                      copy: bool = True) -> np.ndarray:
    """Exact inverse of :func:`to_oriented_frame`: put an oriented-frame array back in the stored frame.

    With ``kind="scan"`` a prediction made on the oriented scan lands voxel-for-voxel on the stored scan
    file (save it with ``record.affine``). ``copy=False``: a view of ``array`` (flips and transposes only), for an
    array that is only read afterwards, e.g. written to a file by another thread.
    """
    ornt = record.ornt(kind)
    array = np.asarray(array)
    if tuple(array.shape) != record.oriented_shape:
        raise ValueError(f"{record.patient_id}: array of shape {array.shape} is not in the oriented frame "
                         f"(expected {record.oriented_shape})")
    if not copy:
        return working_view(array, inverse(ornt))
    return np.ascontiguousarray(from_working(array, ornt))


# ---------------------------------------------------------------------------------------------- files
def save_records(records: Iterable[OrientationRecord], path: str | Path, settings: Mapping | None = None,
                 excluded: Mapping[str, list[str]] | None = None) -> Path:
    """Write all records as one JSON document (sorted by patient id, sorted keys) and a CSV table beside it;
    ``excluded``: patients the QC left out, with their problems (read back by :func:`excluded_patients`)."""
    records = sorted(records, key=lambda r: r.patient_id)
    patients: dict[str, dict] = {}
    for record in records:
        if record.patient_id in patients:
            raise DataError(path, f"two orientation records for patient {record.patient_id}")
        patients[record.patient_id] = record.to_dict()
    doc = {"version": RECORD_VERSION, "settings": dict(settings or {}), "patients": patients,
           "excluded": dict(sorted((excluded or {}).items()))}
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


def excluded_patients(path: str | Path) -> dict[str, list[str]]:
    """The patients the orient stage left out (``on_failure: exclude``), with their problems."""
    try:
        return dict(json.loads(Path(path).read_text()).get("excluded", {}))
    except (OSError, json.JSONDecodeError, AttributeError) as exc:
        raise DataError(path, f"not a valid orientation record: {exc}") from exc


def records_table(records: Iterable[OrientationRecord]):
    """One row per patient: split, affine mode, frame, decisions with their margins, QC and problems."""
    import pandas as pd

    rows = []
    for r in sorted(records, key=lambda r: r.patient_id):
        row = {"patient_id": r.patient_id, "split": r.split, "affine_mode": r.affine_mode,
               "frame_ornt": " ".join(f"{a}{'+' if f > 0 else '-'}" for a, f in r.frame_ornt)}
        for name in DECISIONS:
            row[name] = getattr(r, name)
            row[f"{name}_margin"] = r.margins.get(name)
        row.update({"solidity": r.solidity, **{f"qc_{k}": v for k, v in (r.qc or {}).items()},
                    "problems": "; ".join(r.problems)})
        rows.append(row)
    return pd.DataFrame(rows)
