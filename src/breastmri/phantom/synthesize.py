"""Generate the whole phantom: seed layout, MAMA-MIA layout and ground truth, deterministically by seed.

``<out_dir>/seed/`` and ``<out_dir>/mamamia/`` are what the pipeline reads; ``<out_dir>/truth/`` (truth.json
and truth masks) is for evaluation and tests only. The same seed gives byte-identical files.
"""

from __future__ import annotations

import argparse
import inspect
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from breastmri.data.errors import DataError
from breastmri.data.io import write_json
from breastmri.data.layouts import MAX_PHASES
from breastmri.phantom.anatomy import Case, make_case
from breastmri.phantom.clinical import (ASSOCIATIONS, Patient, draw_patients, lesion_for, mamamia_clinical,
                                        seed_table)
from breastmri.phantom.defects import MASK_DEFECTS, SCAN_DEFECTS, Defects, draw_defects
from breastmri.phantom.lesion import LesionSpec
from breastmri.phantom.mamamia import (case_ids, imaging_columns, phases_present, write_mamamia_case,
                                       write_mamamia_clinical)
from breastmri.phantom.seed import SEED_PHASE, write_seed_clinical, write_seed_patient

OUTPUTS = ("seed", "mamamia", "truth")
DUKE_PATIENTS = 922
# independent random streams, each seeded with [seed, STREAM(, index)]
SEED_PLAN, SEED_CASE, MAMAMIA_PLAN, MAMAMIA_CASE, MAMAMIA_HEADER = range(5)


@dataclass(frozen=True)
class SeedPlan:
    """Everything about the seed-layout patients that is decided before any image is drawn."""

    ids: list[str]
    splits: list[str]
    patients: list[Patient]
    lesions: list[LesionSpec]
    defects: list[Defects]
    clinical: pd.DataFrame


@dataclass(frozen=True)
class MamaMiaPlan:
    """Case ids, cohorts, available phases, patients and lesions of the MAMA-MIA layout."""

    ids: list[str]
    cohorts: list[str]
    present: list[list[bool]]
    patients: list[Patient]
    lesions: list[LesionSpec]


def plan_seed(seed: int, n_train: int, n_inference: int, rates: dict[str, float], storage_rate: float) -> SeedPlan:
    """Distinct Duke-style ids, clinical status, lesions, defects and the clinical table of the seed layout."""
    rng = np.random.default_rng([seed, SEED_PLAN])
    n = n_train + n_inference
    numbers = rng.choice(np.arange(1, max(DUKE_PATIENTS, n) + 1), size=n, replace=False)
    ids = [f"Breast_MRI_{int(k):03d}" for k in numbers]
    splits = ["train"] * n_train + ["inference"] * n_inference
    patients = draw_patients(rng, n_train) + draw_patients(rng, n_inference)  # each split balanced on its own
    lesions = [lesion_for(rng, p) for p in patients]
    defects = draw_defects(rng, splits, rates, storage_rate)
    return SeedPlan(ids, splits, patients, lesions, defects, seed_table(rng, ids, patients))


def plan_mamamia(seed: int, n: int) -> MamaMiaPlan:
    """Case ids (mixed cohorts), available phases, clinical status and lesions of the MAMA-MIA layout."""
    rng = np.random.default_rng([seed, MAMAMIA_PLAN])
    ids, cohorts = case_ids(rng, n)
    present = phases_present(rng, cohorts)
    patients = draw_patients(rng, n)
    return MamaMiaPlan(ids, cohorts, present, patients, [lesion_for(rng, p) for p in patients])


def seed_case(seed: int, index: int, lesion: LesionSpec) -> Case:
    """The canonical case of seed-layout patient ``index`` (its single post-contrast phase)."""
    return make_case(np.random.default_rng([seed, SEED_CASE, index]), lesion, phases=(SEED_PHASE,))


def mamamia_case(seed: int, index: int, lesion: LesionSpec, present: list[bool]) -> Case:
    """The canonical case of MAMA-MIA case ``index`` with its present phases."""
    phases = [k for k in range(MAX_PHASES) if present[k]]
    return make_case(np.random.default_rng([seed, MAMAMIA_CASE, index]), lesion, phases=phases)


def _prepare(out_dir: Path) -> None:
    """Remove a previous phantom's outputs; refuse to touch folders that are not a phantom's."""
    existing = [out_dir / name for name in OUTPUTS if (out_dir / name).exists()]
    if existing and not (out_dir / "truth" / "truth.json").is_file():
        raise DataError(out_dir, f"holds {', '.join(p.name for p in existing)} but no truth/truth.json: "
                                 "not a phantom, refusing to overwrite")
    for path in existing:
        shutil.rmtree(path)


def synthesize(out_dir: str | Path = "data/raw/phantom", seed: int = 42, n_train: int = 24, n_inference: int = 40,
               n_mamamia: int = 24, scan_flip_ud_rate: float = 0.25, scan_flip_hf_rate: float = 0.25,
               mask_flip_ud_rate: float = 0.25, mask_flip_lr_rate: float = 0.25,
               storage_rate: float = 0.1) -> dict:
    """Write the phantom under ``out_dir`` and return a summary (counts of patients, defects, phases).

    Seed layout: ``n_train`` training patients (scan + breast mask) and ``n_inference`` inference patients,
    distinct ids, one clinical table for all; planted defects at the given rates (each defect with a
    positive rate at least twice per split where it applies) and a share ``storage_rate`` stored in an
    alternative affine-consistent orientation. MAMA-MIA layout: ``n_mamamia`` cases of mixed cohorts with
    3-6 DCE phases (one case missing a middle phase).
    """
    out_dir = Path(out_dir)
    _prepare(out_dir)
    rates = {"scan_flip_ud": scan_flip_ud_rate, "scan_flip_hf": scan_flip_hf_rate,
             "mask_flip_ud": mask_flip_ud_rate, "mask_flip_lr": mask_flip_lr_rate}
    plan = plan_seed(seed, n_train, n_inference, rates, storage_rate)
    seed_records = {}
    for index, (pid, split) in enumerate(zip(plan.ids, plan.splits)):
        case = seed_case(seed, index, plan.lesions[index])
        seed_records[pid] = write_seed_patient(out_dir, pid, split, case, plan.defects[index])
    write_seed_clinical(out_dir, plan.clinical)

    mplan = plan_mamamia(seed, n_mamamia)
    mamamia_records, rows = {}, []
    for index, (case_id, cohort, present) in enumerate(zip(mplan.ids, mplan.cohorts, mplan.present)):
        case = mamamia_case(seed, index, mplan.lesions[index], present)
        mamamia_records[case_id] = write_mamamia_case(out_dir, case_id, case, present)
        header = np.random.default_rng([seed, MAMAMIA_HEADER, index])
        rows.append({"patient_id": case_id,
                     **mamamia_clinical(header, cohort, mplan.patients[index], mplan.lesions[index].satellite),
                     **imaging_columns(header, cohort, case, present)})
    write_mamamia_clinical(out_dir, rows)

    write_json({"seed": seed, "seed_layout": {"patients": seed_records},
                "mamamia_layout": {"cases": mamamia_records}, "associations": ASSOCIATIONS},
               out_dir / "truth" / "truth.json")
    return summarize(seed_records, mamamia_records)


def summarize(seed_records: dict, mamamia_records: dict) -> dict:
    """Counts per split and defect, storage variants, and MAMA-MIA phase availability."""
    summary: dict = {}
    for split in ("train", "inference"):
        records = [r for r in seed_records.values() if r["split"] == split]
        summary[f"{split}_patients"] = len(records)
        for name in (*SCAN_DEFECTS, *(MASK_DEFECTS if split == "train" else ())):
            summary[f"{split}_{name}"] = sum(r[name] for r in records)
        for storage in ("lps", "transposed"):
            summary[f"{split}_storage_{storage}"] = sum(r["storage"] == storage for r in records)
    present = [r["phases_present"] for r in mamamia_records.values()]
    summary["mamamia_cases"] = len(present)
    summary["mamamia_phase_files"] = sum(map(sum, present))
    summary["mamamia_cases_missing_phases"] = sum(not all(p) for p in present)
    summary["mamamia_cases_with_gap"] = sum(any(not a and b for a, b in zip(p, p[1:])) for p in present)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, parameter in inspect.signature(synthesize).parameters.items():
        default = parameter.default
        kind = Path if name == "out_dir" else type(default)
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=default, help=f"default: {default}")
    args = parser.parse_args(argv)
    try:
        summary = synthesize(**vars(args))
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
