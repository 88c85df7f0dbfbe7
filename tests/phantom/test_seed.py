"""Seed layout on disk: files, clinical table, truth aligned with each stored file, exact round trips."""

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from breastmri.data.io import load_volume
from breastmri.data.layouts import SeedLayout
from breastmri.phantom.defects import Defects, canonical_affine, from_storage
from breastmri.phantom.seed import as_int16
from breastmri.phantom.synthesize import plan_seed, seed_case

RECORD_KEYS = {"split", "scan_flip_ud", "scan_flip_hf", "mask_flip_ud", "mask_flip_lr", "storage",
               "lesion_volume_mm3", "lesion_peak_enhancement", "breast_mask", "lesion_mask"}
RATES = {"scan_flip_ud": 0.25, "scan_flip_hf": 0.25, "mask_flip_ud": 0.25, "mask_flip_lr": 0.25}


@pytest.fixture(scope="module")
def seed_phantom(small_phantom):
    root, _, params = small_phantom
    truth = json.loads((root / "truth" / "truth.json").read_text())
    return root, params, truth["seed_layout"]["patients"]


def test_layout_lists_train_and_inference_patients_with_distinct_ids(seed_phantom):
    root, params, records = seed_phantom
    layout = SeedLayout(root / "seed")
    train, inference = layout.train_scans(), layout.inference_scans()
    assert len(train) == params["n_train"] and len(inference) == params["n_inference"]
    assert not set(train) & set(inference) and set(layout.train_masks()) == set(train)
    assert set(records) == set(train) | set(inference)
    assert all(set(r) == RECORD_KEYS for r in records.values())
    clinical = pd.read_csv(layout.clinical_path, dtype=str, keep_default_na=False)
    assert set(clinical.patient_id) == set(records)


def test_scans_are_int16_non_square_anisotropic_and_masks_binary(seed_phantom):
    root, _, records = seed_phantom
    layout = SeedLayout(root / "seed")
    for pid, path in layout.train_scans().items():
        img = nib.load(path)
        assert img.get_data_dtype() == np.int16 and img.shape[0] != img.shape[1]
        zooms = img.header.get_zooms()
        assert zooms[0] == pytest.approx(zooms[1]) and zooms[2] != pytest.approx(zooms[0])
        mask = nib.load(layout.train_masks()[pid])
        assert mask.get_data_dtype() == np.uint8 and set(np.unique(np.asarray(mask.dataobj))) == {0, 1}


def test_truth_masks_share_shape_and_affine_with_their_scan(seed_phantom):
    root, _, records = seed_phantom
    for pid, record in records.items():
        scan = load_volume(root / "seed" / record["split"] / "scans" / f"{pid}.nii.gz")
        for key in ("breast_mask", "lesion_mask"):
            truth = load_volume(root / record[key])
            assert truth.shape == scan.shape
            np.testing.assert_array_equal(truth.affine, scan.affine)
        breast = load_volume(root / record["breast_mask"]).array > 0
        assert scan.array[breast].mean() > 2 * scan.array[~breast].mean()  # aligned with the stored anatomy


def test_inverse_of_the_recorded_defects_gives_back_the_canonical_case(seed_phantom):
    root, params, records = seed_phantom
    plan = plan_seed(params["seed"], params["n_train"], params["n_inference"], RATES, 0.1)
    seen = set()
    for index, pid in enumerate(plan.ids):
        record = records[pid]
        defects = Defects(**{k: record[k] for k in ("scan_flip_ud", "scan_flip_hf", "mask_flip_ud",
                                                     "mask_flip_lr", "storage")})
        assert defects == plan.defects[index]
        seen |= {k for k, v in defects.record().items() if v is True} | {defects.storage}
        case = seed_case(params["seed"], index, plan.lesions[index])
        img = nib.load(root / "seed" / record["split"] / "scans" / f"{pid}.nii.gz")
        stored = np.asarray(img.dataobj)
        canonical = nib.as_closest_canonical(img)
        np.testing.assert_array_equal(np.asarray(canonical.dataobj), from_storage(stored, defects.storage))
        np.testing.assert_array_equal(canonical.affine, canonical_affine(case.grid.spacing))
        np.testing.assert_array_equal(defects.undo_scan(from_storage(stored, defects.storage)),
                                      as_int16(case.phases[0]))
        for key, expected in (("breast_mask", case.breast_mask), ("lesion_mask", case.lesion_mask)):
            truth = np.asarray(nib.load(root / record[key]).dataobj)
            np.testing.assert_array_equal(defects.undo_scan(from_storage(truth, defects.storage)), expected)
        if record["split"] == "train":
            mask = np.asarray(nib.load(root / "seed" / "train" / "masks" / f"{pid}.nii.gz").dataobj)
            np.testing.assert_array_equal(defects.undo_mask(from_storage(mask, defects.storage)), case.breast_mask)
        assert record["lesion_volume_mm3"] == pytest.approx(case.lesion_volume_mm3, abs=1e-3)
    assert seen >= {"scan_flip_ud", "scan_flip_hf", "mask_flip_ud", "mask_flip_lr", "diag", "lps", "transposed"}
