"""Seed layout on disk: files, clinical table, the truth record of every cohort, and every stored file mapped
back exactly onto the canonical case by its recorded ``stored_to_working``."""

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from breastmri.data.layouts import SeedLayout
from breastmri.orientation.frame import to_working, working_ornt
from breastmri.phantom.cohorts import parse_seed_cohorts
from breastmri.phantom.seed import as_int16
from breastmri.phantom.synthesize import plan_seed, seed_case
from breastmri.phantom.truth import ignore_mode_truth

RECORD_KEYS = {"split", "cohort", "storage", "affine_matches_anatomy", "stored_to_working", "scan_swap",
               "scan_flip_ud", "scan_flip_hf", "mask_flip_ud", "mask_flip_lr", "lesion_volume_mm3",
               "lesion_peak_enhancement", "breast_mask", "lesion_mask"}


def plan_of(values):
    """(plan, cohorts by name) that ``synthesize(**values)`` wrote."""
    cohorts = parse_seed_cohorts(values["seed_cohorts"], values["duke_matrix"])
    rates = {name: values[f"{name}_rate"] for name in
             ("scan_swap", "scan_flip_ud", "scan_flip_hf", "mask_flip_ud", "mask_flip_lr")}
    plan = plan_seed(values["seed"], values["n_train"], values["n_inference"], cohorts, rates,
                     values["scanner_orientations"], values["oblique_rate"])
    return plan, {c.name: c for c in cohorts}


@pytest.fixture(scope="module")
def seed_phantom(small_phantom):
    root, _, values = small_phantom
    truth = json.loads((root / "truth" / "truth.json").read_text())
    return root, values, truth["seed_layout"]["patients"]


def _load(path):
    img = nib.load(path)
    return np.asarray(img.dataobj), img.affine


def test_layout_lists_train_and_inference_patients_with_distinct_ids_in_every_cohort(seed_phantom):
    root, values, records = seed_phantom
    layout = SeedLayout(root / "seed")
    train, inference = layout.train_scans(), layout.inference_scans()
    assert len(train) == values["n_train"] and len(inference) == values["n_inference"]
    assert not set(train) & set(inference) and set(layout.train_masks()) == set(train)
    assert set(records) == set(train) | set(inference)
    assert all(set(r) == RECORD_KEYS for r in records.values())
    for split in ("train", "inference"):
        cohorts = [r["cohort"] for r in records.values() if r["split"] == split]
        assert all(cohorts.count(name) >= 2 for name in values["seed_cohorts"])
    clinical = pd.read_csv(layout.clinical_path, dtype=str, keep_default_na=False)
    assert set(clinical.patient_id) == set(records)


def test_scans_are_int16_anisotropic_and_masks_binary(seed_phantom):
    root, values, records = seed_phantom
    layout = SeedLayout(root / "seed")
    for pid, path in layout.train_scans().items():
        img = nib.load(path)
        assert img.get_data_dtype() == np.int16
        zooms = img.header.get_zooms()  # axial stacks: stored axis 2 across the slices
        assert zooms[0] == pytest.approx(zooms[1]) and zooms[2] != pytest.approx(zooms[0])
        acquisition = values["seed_cohorts"][records[pid]["cohort"]]["acquisition"]
        assert (img.shape[0] == img.shape[1]) == (acquisition == "duke")  # phantom matrices are non-square
        mask = nib.load(layout.train_masks()[pid])
        assert mask.get_data_dtype() == np.uint8 and set(np.unique(np.asarray(mask.dataobj))) == {0, 1}


def test_every_stored_file_maps_back_onto_the_canonical_case(seed_phantom):
    root, values, records = seed_phantom
    plan, cohorts = plan_of(values)
    for index, pid in enumerate(plan.ids):
        record, cohort = records[pid], cohorts[plan.cohorts[index]]
        assert record["cohort"] == cohort.name
        case = seed_case(values["seed"], index, plan.lesions[index], cohort.style)
        ornt = record["stored_to_working"]
        scan, affine = _load(root / "seed" / record["split"] / "scans" / f"{pid}.nii.gz")
        np.testing.assert_array_equal(to_working(scan, ornt), as_int16(case.phases[0]))
        for key, canonical in (("breast_mask", case.breast_mask), ("lesion_mask", case.lesion_mask)):
            truth, truth_affine = _load(root / record[key])  # stored like the scan
            np.testing.assert_array_equal(truth_affine, affine)
            np.testing.assert_array_equal(to_working(truth, ornt), canonical)
        if record["split"] == "train":
            mask, mask_affine = _load(root / "seed" / "train" / "masks" / f"{pid}.nii.gz")
            np.testing.assert_array_equal(mask_affine, affine)
            flips = (0,) * record["mask_flip_ud"] + (1,) * record["mask_flip_lr"]
            np.testing.assert_array_equal(to_working(mask, ornt), np.flip(case.breast_mask, flips))
        else:
            assert not record["mask_flip_ud"] and not record["mask_flip_lr"]
        assert record["lesion_volume_mm3"] == pytest.approx(case.lesion_volume_mm3, abs=1e-3)


def test_scanner_affines_describe_the_anatomy_and_seed_affines_do_not(seed_phantom):
    root, values, records = seed_phantom
    plan, cohorts = plan_of(values)
    storages = set()
    for index, pid in enumerate(plan.ids):
        record, defects = records[pid], plan.defects[index]
        _, affine = _load(root / "seed" / record["split"] / "scans" / f"{pid}.nii.gz")
        ornt = np.array(record["stored_to_working"], dtype=float)
        truth = ignore_mode_truth(ornt)
        assert {k: record[k] for k in truth} == truth
        storages.add(record["storage"])
        if cohorts[plan.cohorts[index]].affine == "scanner":
            assert record["affine_matches_anatomy"] and record["storage"].removeprefix("oblique-") in \
                values["scanner_orientations"]
            np.testing.assert_array_equal(working_ornt(affine), ornt)  # the affine alone places the volume
            assert record["storage"].startswith("oblique-") == (np.count_nonzero(affine[:3, :3]) > 3)
        else:
            assert not record["affine_matches_anatomy"] and record["storage"] == "diag"
            np.testing.assert_array_equal(affine, np.diag([*nib.affines.voxel_sizes(affine), 1.0]))
            assert truth == {k: getattr(defects, k) for k in truth}  # the planted defects
            assert int(ornt[2, 0]) == 2 and not any(f < 0 for a, f in ornt if a == 1)  # left-right as stored
    assert {s.removeprefix("oblique-") for s in storages} == {"diag", *values["scanner_orientations"]}
    assert any(s.startswith("oblique-") for s in storages)


def test_every_defect_is_planted_in_both_conventions_where_it_applies(seed_phantom):
    _, values, records = seed_phantom
    scanner = {name for name, c in values["seed_cohorts"].items() if c["affine"] == "scanner"}
    for split in ("train", "inference"):
        seed_records = [r for r in records.values() if r["split"] == split and r["cohort"] not in scanner]
        for name in ("scan_swap", "scan_flip_ud", "scan_flip_hf"):
            assert 2 <= sum(r[name] for r in seed_records) < len(seed_records) or len(seed_records) < 3
    for on_scanner in (False, True):
        train = [r for r in records.values() if r["split"] == "train" and (r["cohort"] in scanner) == on_scanner]
        for name in ("mask_flip_ud", "mask_flip_lr"):
            assert sum(r[name] for r in train) >= 2


def test_the_inverted_cohorts_breast_half_is_darker_than_the_thorax_half(seed_phantom):
    root, values, records = seed_phantom
    inverted = [(pid, r) for pid, r in records.items() if values["seed_cohorts"][r["cohort"]]["contrast"] == "inverted"]
    assert inverted
    for pid, record in inverted:
        scan, _ = _load(root / "seed" / record["split"] / "scans" / f"{pid}.nii.gz")
        image = to_working(scan, record["stored_to_working"]).astype(np.float32)
        half, depth = image.shape[0] // 2, image.shape[2]
        central = image[:, :, int(0.3 * depth):int(0.7 * depth)]
        assert central[half:].mean() < central[:half].mean(), pid
