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
from breastmri.orientation.frame import compose, inverse
from breastmri.orientation.record import DECISIONS, OrientationRecord, to_original_frame
from breastmri.phantom.truth import load_seed_truth, truth_file


def required_corrections(frame_ornt, stored_to_working) -> dict[str, bool]:
    """What the heuristics had to decide, given the frame the affine (or its absence) gave: the truth's
    ``stored -> working`` ornt seen from that frame, split into ``scan_swap`` (frame axis 0 belongs on working
    axis 1), ``scan_flip_ud`` / ``scan_flip_hf`` (working axis 0 / 2 reversed) and ``mirror_lr`` (working
    axis 1 reversed: not decidable from anatomy, reported, not scored)."""
    needed = compose(inverse(frame_ornt), stored_to_working)
    sign = {int(target): int(flip) for target, flip in needed}
    return {"scan_swap": bool(int(needed[0, 0]) == 1), "scan_flip_ud": sign[0] < 0, "scan_flip_hf": sign[2] < 0,
            "mirror_lr": sign[1] < 0}


def _accuracy(counts: dict) -> dict:
    out = {name: (round(c["correct"] / c["n"], 6) if c["n"] else None) for name, c in counts.items()}
    n_all = sum(c["n"] for c in counts.values())
    out["all"] = round(sum(c["correct"] for c in counts.values()) / n_all, 6) if n_all else None
    return out


def _empty_counts() -> dict:
    """Per-decision counters: decisions taken, correct, and planted (the truth required the correction)."""
    return {name: {"n": 0, "correct": 0, "planted": 0} for name in DECISIONS}


def evaluate(records: Mapping[str, OrientationRecord], truth_dir: str | Path,
             oriented_dir: str | Path) -> tuple[dict, list[str]]:
    """Compare each recorded decision with what the planted truth required; Dice of the aligned masks.

    Returns ``(metrics, errors)``: per-decision accuracy overall and ``by_cohort`` (with counts and the smallest
    margin of each decision), the Dice of the aligned training masks mapped back to the scan file's frame, and
    the sorted wrong decisions as ``"<patient>:<decision>"``.
    """
    truth_dir, oriented_dir = Path(truth_dir), Path(oriented_dir)
    truth = load_seed_truth(truth_dir)
    counts, by_cohort, margins = _empty_counts(), {}, {}
    errors: list[str] = []
    dices: list[float] = []
    mirrored = 0
    for pid, record in sorted(records.items()):
        if pid not in truth:
            raise DataError(truth_dir / "truth.json", f"no ground truth for patient {pid}")
        entry = truth[pid]
        cohort = str(entry.get("cohort", "default"))
        cohort_counts = by_cohort.setdefault(cohort, _empty_counts())
        required = required_corrections(record.frame_ornt, entry["stored_to_working"])
        mirrored += int(required.pop("mirror_lr"))
        if record.has_mask:
            required.update(mask_flip_ud=bool(entry["mask_flip_ud"]), mask_flip_lr=bool(entry["mask_flip_lr"]))
        for name, planted in required.items():
            detected = bool(getattr(record, name))
            for c in (counts[name], cohort_counts[name]):
                c["n"] += 1
                c["planted"] += int(planted)
                c["correct"] += int(detected == planted)
            if detected != planted:
                errors.append(f"{pid}:{name}")
            margins.setdefault(cohort, {}).setdefault(name, []).append(float(record.margins[name]))
        if record.has_mask:
            aligned = load_volume(oriented_dir / "train" / "masks" / f"{pid}.nii.gz", pid, dtype=np.uint8)
            reference = load_volume(truth_file(truth_dir, entry["breast_mask"]), pid, dtype=np.uint8)
            back = to_original_frame(aligned.array, record, kind="scan")
            if back.shape != reference.shape:
                raise DataError(reference.path, f"truth mask shape {reference.shape} differs from the scan's "
                                                f"stored shape {back.shape}")
            dices.append(dice(back, reference.array))
    metrics = {
        "accuracy": _accuracy(counts),
        "counts": counts,
        "by_cohort": {cohort: {"accuracy": _accuracy(c), "counts": c,
                               "min_margin": {k: round(min(v), 6) for k, v in sorted(margins[cohort].items())}}
                      for cohort, c in sorted(by_cohort.items())},
        "n_errors": len(errors),
        "n_patients": {"train": sum(r.has_mask for r in records.values()),
                       "inference": sum(not r.has_mask for r in records.values())},
        "left_right_as_stored_mirrored": mirrored,
        "mask_dice": {"n": len(dices), "min": round(min(dices), 6) if dices else None,
                      "mean": round(float(np.mean(dices)), 6) if dices else None},
        "min_margin": {name: (round(min(m for c in margins.values() for m in c.get(name, [])), 6)
                              if any(name in c for c in margins.values()) else None) for name in DECISIONS},
    }
    return metrics, sorted(errors)
