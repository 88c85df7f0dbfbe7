"""Accuracy of the orientation stage against the phantom's ground truth (evaluation only).

This is the ONLY orientation module that reads ``truth.json``; detection never does.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from breastmri.data.errors import DataError
from breastmri.data.io import load_volume
from breastmri.data.overlap import dice
from breastmri.phantom.truth import load_seed_truth, truth_file
from breastmri.orientation.record import DECISIONS, OrientationRecord, to_original_frame


def evaluate(records: Mapping[str, OrientationRecord], truth_dir: str | Path,
             oriented_dir: str | Path) -> tuple[dict, list[str]]:
    """Compare each recorded decision with the planted defect; Dice of the aligned masks vs truth.

    Returns ``(metrics, errors)``: a deterministic metrics dict (per-decision accuracy and counts, Dice
    min/mean of the aligned training masks mapped back to the scan file's frame, min margins) and the
    sorted list of wrong decisions as ``"<patient>:<decision>"``.
    """
    truth_dir, oriented_dir = Path(truth_dir), Path(oriented_dir)
    truth = load_seed_truth(truth_dir)
    counts = {name: {"n": 0, "correct": 0, "planted": 0, "detected": 0} for name in DECISIONS}
    margins: dict[str, list[float]] = {name: [] for name in DECISIONS}
    errors: list[str] = []
    dices: list[float] = []
    storage: dict[str, int] = {}
    for pid, record in sorted(records.items()):
        if pid not in truth:
            raise DataError(truth_dir / "truth.json", f"no ground truth for patient {pid}")
        entry = truth[pid]
        storage[str(entry.get("storage", "diag"))] = storage.get(str(entry.get("storage", "diag")), 0) + 1
        for name in DECISIONS:
            detected = getattr(record, name)
            if detected is None:
                continue
            planted = bool(entry[name])
            c = counts[name]
            c["n"] += 1
            c["planted"] += int(planted)
            c["detected"] += int(bool(detected))
            c["correct"] += int(bool(detected) == planted)
            if bool(detected) != planted:
                errors.append(f"{pid}:{name}")
            margins[name].append(float(record.margins()[name]))
        if record.has_mask:
            aligned = load_volume(oriented_dir / "train" / "masks" / f"{pid}.nii.gz", pid, dtype=np.uint8)
            reference = load_volume(truth_file(truth_dir, entry["breast_mask"]), pid, dtype=np.uint8)
            back = to_original_frame(aligned.array, record, kind="scan")
            if back.shape != reference.shape:
                raise DataError(reference.path, f"truth mask shape {reference.shape} differs from the scan's "
                                                f"stored shape {back.shape}")
            dices.append(dice(back, reference.array))
    accuracy = {name: (round(c["correct"] / c["n"], 6) if c["n"] else None) for name, c in counts.items()}
    n_all = sum(c["n"] for c in counts.values())
    accuracy["all"] = round(sum(c["correct"] for c in counts.values()) / n_all, 6) if n_all else None
    metrics = {
        "accuracy": accuracy,
        "counts": counts,
        "n_errors": len(errors),
        "n_patients": {"train": sum(r.has_mask for r in records.values()),
                       "inference": sum(not r.has_mask for r in records.values())},
        "storage": dict(sorted(storage.items())),
        "mask_dice": {"n": len(dices), "min": round(min(dices), 6) if dices else None,
                      "mean": round(float(np.mean(dices)), 6) if dices else None},
        "min_margin": {name: (round(min(m), 6) if m else None) for name, m in margins.items()},
    }
    return metrics, sorted(errors)
