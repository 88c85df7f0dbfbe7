"""Reading the phantom's ground-truth record. Only evaluation code and tests call this; the pipeline never does."""

from __future__ import annotations

import json
from pathlib import Path

from breastmri.data.errors import DataError


def load_seed_truth(truth_dir: str | Path) -> dict[str, dict]:
    """The seed-layout patients of ``<truth_dir>/truth.json``: patient id -> truth entry."""
    path = Path(truth_dir) / "truth.json"
    if not path.is_file():
        raise DataError(path, "ground-truth record not found")
    try:
        return dict(json.loads(path.read_text())["seed_layout"]["patients"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(path, f"not a valid ground-truth record: {exc}") from exc


def truth_file(truth_dir: str | Path, relative: str) -> Path:
    """A truth mask path; the record stores them relative to the phantom folder (``truth/seed/...``)."""
    truth_dir = Path(truth_dir)
    for base in (truth_dir.parent, truth_dir):
        if (base / relative).is_file():
            return base / relative
    raise DataError(truth_dir / relative, "ground-truth mask not found")
