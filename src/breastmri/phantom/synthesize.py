"""Generate the whole phantom: seed layout, MAMA-MIA layout and ground truth, deterministically by seed.

``<out_dir>/seed/`` and ``<out_dir>/mamamia/`` are what the pipeline reads; ``<out_dir>/truth/`` (truth.json
and truth masks) is for evaluation and tests only. The same seed gives byte-identical files. Every setting
comes from the ``synthesize`` section of params.yaml (the only place with defaults; :func:`settings`).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from breastmri.data.errors import DataError
from breastmri.data.io import write_json
from breastmri.phantom.anatomy import Case, Style, make_case
from breastmri.phantom.clinical import (ASSOCIATIONS, Patient, draw_patients, lesion_for, mamamia_clinical,
                                        seed_table)
from breastmri.phantom.cohorts import (MamaMiaCohort, SeedCohort, assign, parse_mamamia_cohorts, parse_orientation,
                                       parse_seed_cohorts)
from breastmri.phantom.defects import MASK_DEFECTS, SCAN_DEFECTS, SPLITS, Defects, draw_defects
from breastmri.phantom.lesion import LesionSpec
from breastmri.phantom.mamamia import (COHORTS, case_ids, imaging_columns, phases_present, write_mamamia_case,
                                       write_mamamia_clinical)
from breastmri.phantom.seed import SEED_ACQUIRED, SEED_PHASE, write_seed_clinical, write_seed_patient

OUTPUTS = ("seed", "mamamia", "truth")
DUKE_PATIENTS = 922
# independent random streams, each seeded with [seed, STREAM(, index)]
SEED_PLAN, SEED_CASE, MAMAMIA_PLAN, MAMAMIA_CASE, MAMAMIA_HEADER = range(5)


@dataclass(frozen=True)
class SeedPlan:
    """Everything about the seed-layout patients that is decided before any image is drawn."""

    ids: list[str]
    splits: list[str]
    cohorts: list[str]
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


def plan_seed(seed: int, n_train: int, n_inference: int, cohorts: Sequence[SeedCohort], rates: dict[str, float],
              orientations: Sequence[str], oblique_rate: float) -> SeedPlan:
    """Distinct Duke-style ids, cohorts (split by share within each split), clinical status, lesions, storage
    and defects, and the clinical table of the seed layout."""
    rng = np.random.default_rng([seed, SEED_PLAN])
    n = n_train + n_inference
    numbers = rng.choice(np.arange(1, max(DUKE_PATIENTS, n) + 1), size=n, replace=False)
    ids = [f"Breast_MRI_{int(k):03d}" for k in numbers]
    splits = ["train"] * n_train + ["inference"] * n_inference
    patients = draw_patients(rng, n_train) + draw_patients(rng, n_inference)  # each split balanced on its own
    lesions = [lesion_for(rng, p) for p in patients]
    members = assign(rng, n_train, cohorts) + assign(rng, n_inference, cohorts)
    on_scanner = {c.name: c.affine == "scanner" for c in cohorts}
    defects = draw_defects(rng, splits, [on_scanner[c] for c in members], rates, orientations, oblique_rate)
    return SeedPlan(ids, splits, members, patients, lesions, defects, seed_table(rng, ids, patients))


def plan_mamamia(seed: int, n: int, cohorts: dict[str, MamaMiaCohort]) -> MamaMiaPlan:
    """Case ids (mixed cohorts), acquired and available phases (by the ``cohorts``' phase ranges), clinical status
    and lesions of the MAMA-MIA layout."""
    rng = np.random.default_rng([seed, MAMAMIA_PLAN])
    ids, members = case_ids(rng, n)
    present = phases_present(rng, members, {name: c.phases for name, c in cohorts.items()})
    patients = draw_patients(rng, n)
    return MamaMiaPlan(ids, members, present, patients, [lesion_for(rng, p) for p in patients])


def seed_case(seed: int, index: int, lesion: LesionSpec, style: Style) -> Case:
    """The canonical case of seed-layout patient ``index`` (its single post-contrast phase)."""
    return make_case(np.random.default_rng([seed, SEED_CASE, index]), lesion, n_phases=SEED_ACQUIRED,
                     phases=(SEED_PHASE,), style=style)


def mamamia_case(seed: int, index: int, lesion: LesionSpec, present: list[bool], style: Style) -> Case:
    """The canonical case of MAMA-MIA case ``index``: its present phases of ``len(present)`` acquired."""
    phases = [k for k, here in enumerate(present) if here]
    return make_case(np.random.default_rng([seed, MAMAMIA_CASE, index]), lesion, n_phases=len(present),
                     phases=phases, style=style)


def _prepare(out_dir: Path) -> None:
    """Remove a previous phantom's outputs; refuse to touch folders that are not a phantom's."""
    existing = [out_dir / name for name in OUTPUTS if (out_dir / name).exists()]
    if existing and not (out_dir / "truth" / "truth.json").is_file():
        raise DataError(out_dir, f"holds {', '.join(p.name for p in existing)} but no truth/truth.json: "
                                 "not a phantom, refusing to overwrite")
    for path in existing:
        shutil.rmtree(path)


def _check_scalars(counts: dict[str, int], rates: dict[str, float], duke_matrix: int) -> None:
    """Counts are integers >= 0, rates numbers in [0, 1], the Duke matrix a plausible in-plane matrix."""
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise DataError(None, f"synthesize.{name}: expected an integer >= 0, got {value!r}")
    for name, value in rates.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise DataError(None, f"synthesize.{name}: expected a rate in [0, 1], got {value!r}")
    if isinstance(duke_matrix, bool) or not isinstance(duke_matrix, int) or not 64 <= duke_matrix <= 1024:
        raise DataError(None, f"synthesize.duke_matrix: expected an in-plane matrix of 64-1024, got {duke_matrix!r}")


def synthesize(out_dir: str | Path, *, seed: int, n_train: int, n_inference: int, n_mamamia: int,
               scan_swap_rate: float, scan_flip_ud_rate: float, scan_flip_hf_rate: float, mask_flip_ud_rate: float,
               mask_flip_lr_rate: float, scanner_orientations: Sequence[str], oblique_rate: float, duke_matrix: int,
               seed_cohorts: dict, mamamia_cohorts: dict) -> dict:
    """Write the phantom under ``out_dir`` and return a summary (counts of patients, cohorts, storages,
    defects, phases). The settings are the keys of params.yaml's ``synthesize`` section (:func:`settings`).

    Seed layout: ``n_train`` training patients (scan + breast mask) and ``n_inference`` inference patients,
    distinct ids, one clinical table for all, split among ``seed_cohorts`` by share. Seed-convention cohorts
    get planted scan defects, scanner cohorts one of ``scanner_orientations`` (a share ``oblique_rate``
    slightly oblique), training masks of both their flips; each defect with a positive rate at least twice
    per split where it applies. MAMA-MIA layout: ``n_mamamia`` cases of mixed cohorts, each with a number of DCE
    phases drawn from its cohort's range (one case missing a middle phase's file), acquired and stored as
    ``mamamia_cohorts`` says.
    """
    rates = {"scan_swap": scan_swap_rate, "scan_flip_ud": scan_flip_ud_rate, "scan_flip_hf": scan_flip_hf_rate,
             "mask_flip_ud": mask_flip_ud_rate, "mask_flip_lr": mask_flip_lr_rate}
    _check_scalars({"seed": seed, "n_train": n_train, "n_inference": n_inference, "n_mamamia": n_mamamia},
                   {**{f"{k}_rate": v for k, v in rates.items()}, "oblique_rate": oblique_rate}, duke_matrix)
    cohorts = parse_seed_cohorts(seed_cohorts, duke_matrix)
    mamamia = parse_mamamia_cohorts(mamamia_cohorts, COHORTS) if n_mamamia else {}
    orientations = [parse_orientation(codes, "axial", f"synthesize.scanner_orientations[{i}]")
                    for i, codes in enumerate(scanner_orientations)]
    if not orientations:
        raise DataError(None, "synthesize.scanner_orientations: expected at least one orientation")
    out_dir = Path(out_dir)
    _prepare(out_dir)
    plan = plan_seed(seed, n_train, n_inference, cohorts, rates, orientations, oblique_rate)
    styles = {c.name: c.style for c in cohorts}
    seed_records = {}
    for index, (pid, split, cohort) in enumerate(zip(plan.ids, plan.splits, plan.cohorts)):
        case = seed_case(seed, index, plan.lesions[index], styles[cohort])
        seed_records[pid] = write_seed_patient(out_dir, pid, split, cohort, case, plan.defects[index])
    write_seed_clinical(out_dir, plan.clinical)

    mplan = plan_mamamia(seed, n_mamamia, mamamia)
    mamamia_records, rows = {}, []
    for index, (case_id, name, present) in enumerate(zip(mplan.ids, mplan.cohorts, mplan.present)):
        cohort = mamamia[name]
        case = mamamia_case(seed, index, mplan.lesions[index], present, cohort.style)
        storage = cohort.storage(case.grid)
        mamamia_records[case_id] = write_mamamia_case(out_dir, case_id, cohort, case, present, storage)
        header = np.random.default_rng([seed, MAMAMIA_HEADER, index])
        rows.append({"patient_id": case_id,
                     **mamamia_clinical(header, name, mplan.patients[index], mplan.lesions[index].satellite),
                     **imaging_columns(header, cohort, case, present, storage)})
    write_mamamia_clinical(out_dir, rows)

    write_json({"seed": seed, "seed_layout": {"patients": seed_records, "cohorts": seed_cohorts},
                "mamamia_layout": {"cases": mamamia_records, "cohorts": mamamia_cohorts},
                "associations": ASSOCIATIONS}, out_dir / "truth" / "truth.json")
    return summarize(seed_records, mamamia_records)


def summarize(seed_records: dict, mamamia_records: dict) -> dict:
    """Counts per split of patients, cohorts, storages and defects; MAMA-MIA cases per view, per number of
    acquired phases and with a phase file missing."""
    summary: dict = {}
    for split in SPLITS:
        records = [r for r in seed_records.values() if r["split"] == split]
        summary[f"{split}_patients"] = len(records)
        for name in (*SCAN_DEFECTS, *(MASK_DEFECTS if split == "train" else ())):
            summary[f"{split}_{name}"] = sum(r[name] for r in records)
        for key in ("cohort", "storage"):
            for value in sorted({r[key] for r in records}):
                summary[f"{split}_{key}_{value}"] = sum(r[key] == value for r in records)
    present = [r["phases_present"] for r in mamamia_records.values()]
    summary["mamamia_cases"] = len(present)
    summary["mamamia_sagittal_cases"] = sum(r["view"] == "sagittal" for r in mamamia_records.values())
    summary["mamamia_phase_files"] = sum(map(sum, present))
    counts = [len(p) for p in present]
    summary["mamamia_cases_by_phases"] = {str(n): counts.count(n) for n in sorted(set(counts))}
    summary["mamamia_cases_missing_phases"] = sum(not all(p) for p in present)
    return summary
