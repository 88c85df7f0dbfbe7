"""MAMA-MIA layout on disk: phases (missing ones absent), segmentations, truthful affines (axial LPS, sagittal
unilateral PIR), real clinical schema, truth."""

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from breastmri.data.layouts import MamaMiaLayout
from breastmri.orientation.frame import to_working, working_ornt
from breastmri.phantom.anatomy import BREAST_FOV_ANTERIOR_MM, BREAST_FOV_POSTERIOR_MM
from breastmri.phantom.clinical import MENOPAUSE_TEXT
from breastmri.phantom.cohorts import parse_mamamia_cohorts
from breastmri.phantom.mamamia import COHORTS, COLUMNS, case_ids, phases_present
from breastmri.phantom.seed import as_int16
from breastmri.phantom.synthesize import mamamia_case, plan_mamamia


@pytest.fixture(scope="module")
def mamamia(small_phantom):
    root, _, values = small_phantom
    truth = json.loads((root / "truth" / "truth.json").read_text())
    return root, values, MamaMiaLayout(root / "mamamia"), truth["mamamia_layout"]["cases"]


def test_phases_on_disk_match_the_truth_and_missing_ones_are_absent(mamamia):
    root, values, layout, records = mamamia
    assert layout.cases() == sorted(records) and len(records) == values["n_mamamia"]
    for case, record in records.items():
        on_disk = [p is not None for p in layout.phase_paths(case)]
        assert on_disk == record["phases_present"] and on_disk[0] and on_disk[-1]
        files = sorted(p.name for p in (layout.image_dir / case).iterdir())
        assert files == [f"{case}_{k:04d}.nii.gz" for k, here in enumerate(on_disk) if here]


def test_every_file_of_a_case_shares_a_truthful_affine_and_maps_back_onto_the_canonical_case(mamamia):
    root, values, layout, records = mamamia
    cohorts = parse_mamamia_cohorts(values["mamamia_cohorts"], COHORTS)
    plan = plan_mamamia(values["seed"], values["n_mamamia"], cohorts)
    for index, case_id in enumerate(plan.ids):
        record, cohort = records[case_id], cohorts[plan.cohorts[index]]
        assert (record["cohort"], record["view"], record["bilateral"]) == (cohort.name, cohort.view, cohort.bilateral)
        paths = [p for p in layout.phase_paths(case_id) if p is not None]
        images = [nib.load(p) for p in paths] + [nib.load(layout.lesion_mask(case_id))]
        images += [nib.load(root / record[k]) for k in ("breast_mask", "lesion_mask")]
        for img in images:
            assert img.shape == images[0].shape
            np.testing.assert_array_equal(img.affine, images[0].affine)
        ornt = record["stored_to_working"]
        np.testing.assert_array_equal(working_ornt(images[0].affine), ornt)  # the affine alone places the volume
        assert nib.aff2axcodes(images[0].affine) == tuple(cohort.orientation) == tuple(record["storage"])
        case = mamamia_case(values["seed"], index, plan.lesions[index], plan.present[index], cohort.style)
        canonicals = [as_int16(p) for p in case.phases] + [case.lesion_mask, case.breast_mask, case.lesion_mask]
        for img, canonical in zip(images, canonicals, strict=True):
            np.testing.assert_array_equal(to_working(np.asarray(img.dataobj), ornt), canonical)
        segmentation = np.asarray(images[len(paths)].dataobj)
        assert segmentation.dtype == np.uint8 and set(np.unique(segmentation)) == {0, 1}
        assert segmentation.sum() * np.prod(images[0].header.get_zooms()) == pytest.approx(
            record["lesion_volume_mm3"], rel=1e-4)


def test_sagittal_cases_are_unilateral_with_the_lesion_in_the_kept_breast(mamamia):
    root, _, _, records = mamamia
    sagittal = {k: r for k, r in records.items() if r["view"] == "sagittal"}
    assert sagittal and all(not r["bilateral"] for r in sagittal.values())
    for record in sagittal.values():
        img = nib.load(root / record["breast_mask"])
        assert nib.aff2axcodes(img.affine) == ("P", "I", "R")
        zooms = img.header.get_zooms()
        assert zooms[0] == pytest.approx(zooms[1]) and zooms[1] < zooms[2]  # thick left-right slices
        breast = to_working(np.asarray(img.dataobj), record["stored_to_working"]) > 0
        lesion = to_working(np.asarray(nib.load(root / record["lesion_mask"]).dataobj), record["stored_to_working"]) > 0
        labelled, _ = ndimage.label(breast)
        kept = labelled == np.bincount(labelled[lesion]).argmax()
        assert np.all(kept[lesion]) and kept.sum() > 0.98 * breast.sum()
        # a breast field of view (the sagittal cohorts): a few cm of chest wall behind the breast, little air before it
        rows, row_mm = np.flatnonzero(breast.any(axis=(1, 2))), zooms[0]
        assert rows[0] * row_mm >= BREAST_FOV_POSTERIOR_MM[0] - row_mm
        assert (breast.shape[0] - 1 - rows[-1]) * row_mm <= BREAST_FOV_ANTERIOR_MM[1] + row_mm
    for record in records.values():
        if record["view"] == "axial":
            breast = to_working(np.asarray(nib.load(root / record["breast_mask"]).dataobj), record["stored_to_working"])
            assert ndimage.label(breast)[1] >= 2 and record["bilateral"]


def test_lesion_enhances_between_pre_and_first_post_contrast_phase(mamamia):
    _, _, layout, records = mamamia
    for case in records:
        paths = layout.phase_paths(case)
        lesion = np.asarray(nib.load(layout.lesion_mask(case)).dataobj) > 0
        pre, post = (np.asarray(nib.load(paths[k]).dataobj, dtype=np.float32)[lesion].mean() for k in (0, 1))
        assert post > 1.8 * pre


def test_clinical_table_uses_the_real_schema(mamamia):
    root, _, layout, records = mamamia
    table = pd.read_csv(layout.clinical_path, dtype=str, keep_default_na=False)
    assert tuple(table.columns) == COLUMNS and set(table.patient_id) == set(records)
    for row in table.itertuples():
        assert row.patient_id.startswith(row.dataset + "_")
        assert row.pixel_spacing.startswith("[") and row.pixel_spacing.endswith("]")
        assert int(row.num_phases) == len(records[row.patient_id]["phases_present"])  # acquired, a gap included
        assert len(row.acquisition_times.split(",")) == int(row.num_phases)
        img = nib.load(layout.phase_paths(row.patient_id)[0])
        assert (int(row.image_rows), int(row.image_columns), int(row.num_slices)) == img.shape
        assert float(row.slice_thickness) == pytest.approx(img.header.get_zooms()[2])
        record = records[row.patient_id]
        assert row.view == record["view"] and int(row.bilateral_mri) == int(record["bilateral"])
        assert row.nottingham_grade in ("", "low", "intermediate", "high")
        assert row.menopause in ("", *MENOPAUSE_TEXT.values())
        if row.menopause == "post":
            assert float(row.age) >= 45
        elif row.menopause:
            assert float(row.age) <= 55


def test_case_ids_mix_cohorts_and_one_case_has_a_gap():
    rng = np.random.default_rng(0)
    ids, cohorts = case_ids(rng, 24)
    assert len(set(ids)) == 24 and set(cohorts) == {"DUKE", "ISPY1", "ISPY2", "NACT"}
    assert any(i.startswith("DUKE_") and len(i) == 8 for i in ids)
    ranges = {"DUKE": (4, 5), "ISPY1": (3, 4), "ISPY2": (6, 11), "NACT": (3, 3)}
    present = phases_present(rng, cohorts, ranges)
    assert all(p[0] and p[-1] for p in present)
    for cohort, p in zip(cohorts, present):
        assert ranges[cohort][0] <= len(p) <= ranges[cohort][1]
    gaps = [p for p in present if not all(p)]
    assert len(gaps) == 1 and len(gaps[0]) == max(map(len, present)) and gaps[0][1]  # a middle phase: not 1
    assert {len(p) for p, c in zip(present, cohorts) if c == "DUKE"} == {4, 5}
