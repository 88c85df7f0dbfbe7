"""Reading the phantom's ground-truth record, and what the affine-``ignore`` mode must detect on a stored file.
Only evaluation code and tests call this; the pipeline never does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from breastmri.data.errors import DataError


def _layout_truth(truth_dir: str | Path, layout: str, key: str) -> dict[str, dict]:
    path = Path(truth_dir) / "truth.json"
    if not path.is_file():
        raise DataError(path, "ground-truth record not found")
    try:
        return dict(json.loads(path.read_text())[layout][key])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(path, f"not a valid ground-truth record: {exc}") from exc


def load_seed_truth(truth_dir: str | Path) -> dict[str, dict]:
    """The seed-layout patients of ``<truth_dir>/truth.json``: patient id -> truth entry."""
    return _layout_truth(truth_dir, "seed_layout", "patients")


def load_mamamia_truth(truth_dir: str | Path) -> dict[str, dict]:
    """The MAMA-MIA-layout cases of ``<truth_dir>/truth.json``: case id -> truth entry (cohort, view, ...)."""
    return _layout_truth(truth_dir, "mamamia_layout", "cases")


def truth_file(truth_dir: str | Path, relative: str) -> Path:
    """A truth mask path; the record stores them relative to the phantom folder (``truth/seed/...``)."""
    truth_dir = Path(truth_dir)
    for base in (truth_dir.parent, truth_dir):
        if (base / relative).is_file():
            return base / relative
    raise DataError(truth_dir / relative, "ground-truth mask not found")


def ignore_mode_truth(stored_to_working) -> dict[str, bool]:
    """What the affine-``ignore`` mode must detect on a stored array (taken as the start) of an axial stack,
    from its exact ``stored_to_working`` ornt: ``scan_swap`` (stored axis 0 is the left-right axis),
    ``scan_flip_ud`` (the stored anterior-posterior axis runs anterior -> posterior) and ``scan_flip_hf``
    (stored axis 2 runs superior -> inferior). Left-right is not part of it (kept as stored)."""
    ornt = np.asarray(stored_to_working, dtype=float)
    if ornt.shape != (3, 2) or int(ornt[2, 0]) != 2:
        raise ValueError(f"stored_to_working {ornt.tolist()}: stored axis 2 must be the head-foot axis "
                         "(an axial stack) for the ignore mode")
    anterior_posterior = int(np.flatnonzero(ornt[:, 0] == 0)[0])
    return {"scan_swap": bool(ornt[0, 0] == 1), "scan_flip_ud": bool(ornt[anterior_posterior, 1] < 0),
            "scan_flip_hf": bool(ornt[2, 1] < 0)}
