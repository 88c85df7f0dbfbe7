"""Patient-level train/validation split (never slice-level), seeded and reproducible."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def split_patients(patient_ids: Iterable[str], val_fraction: float, seed: int) -> dict[str, list[str]]:
    """Split patients into ``{"train": [...], "validation": [...]}`` (each list sorted).

    The ids are sorted first, so the split depends only on the *set* of ids, ``val_fraction`` and
    ``seed`` (not on file-system order). ``round(val_fraction * n)`` patients go to validation, at
    least one when ``val_fraction > 0`` and there are two or more patients, and at least one patient
    always stays in training.
    """
    ids = sorted(set(patient_ids))
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    n = len(ids)
    n_val = int(round(val_fraction * n))
    if val_fraction > 0 and n >= 2:
        n_val = max(n_val, 1)
    n_val = min(n_val, max(n - 1, 0))
    order = np.random.default_rng(seed).permutation(n)
    validation = sorted(ids[i] for i in order[:n_val])
    train = sorted(ids[i] for i in order[n_val:])
    return {"train": train, "validation": validation}


def validation_flags(split: dict[str, list[str]]) -> dict[str, bool]:
    """``{patient_id: is_validation}`` from a split."""
    flags = {pid: False for pid in split["train"]}
    overlap = set(flags) & set(split["validation"])
    if overlap:
        raise ValueError(f"patients in both splits: {sorted(overlap)}")
    flags.update({pid: True for pid in split["validation"]})
    return flags
