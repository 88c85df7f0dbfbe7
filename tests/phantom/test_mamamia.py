"""MAMA-MIA layout on disk: phases (missing ones absent), segmentations, real clinical schema, truth."""

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from breastmri.data.layouts import MamaMiaLayout
from breastmri.phantom.mamamia import COLUMNS, case_ids, phases_present


@pytest.fixture(scope="module")
def mamamia(small_phantom):
    root, _, params = small_phantom
    truth = json.loads((root / "truth" / "truth.json").read_text())
    return root, params, MamaMiaLayout(root / "mamamia"), truth["mamamia_layout"]["cases"]


def test_phases_on_disk_match_the_truth_and_missing_ones_are_absent(mamamia):
    root, params, layout, records = mamamia
    assert layout.cases() == sorted(records) and len(records) == params["n_mamamia"]
    for case, record in records.items():
        on_disk = [p is not None for p in layout.phase_paths(case)]
        assert on_disk == record["phases_present"] and on_disk[0]
        files = sorted(p.name for p in (layout.image_dir / case).iterdir())
        assert files == [f"{case}_{k:04d}.nii.gz" for k, here in enumerate(on_disk) if here]


def test_images_segmentation_and_truth_share_a_consistent_lps_like_affine(mamamia):
    root, _, layout, records = mamamia
    for case, record in records.items():
        paths = [p for p in layout.phase_paths(case) if p is not None]
        images = [nib.load(p) for p in paths] + [nib.load(layout.lesion_mask(case))]
        images += [nib.load(root / record[k]) for k in ("breast_mask", "lesion_mask")]
        for img in images:
            assert img.shape == images[0].shape
            np.testing.assert_array_equal(img.affine, images[0].affine)
        assert list(np.sign(np.diag(images[0].affine)[:3])) == [-1, -1, 1]
        zooms = images[0].header.get_zooms()
        assert zooms[2] != pytest.approx(zooms[0])
        segmentation = np.asarray(nib.load(layout.lesion_mask(case)).dataobj)
        assert segmentation.dtype == np.uint8 and set(np.unique(segmentation)) == {0, 1}
        np.testing.assert_array_equal(segmentation, np.asarray(nib.load(root / record["lesion_mask"]).dataobj))
        volume = segmentation.sum() * np.prod(zooms)
        assert volume == pytest.approx(record["lesion_volume_mm3"], rel=1e-4)
        # breasts are at LOW axis-0 index as stored (axes 0 and 1 reversed): canonical after as_closest_canonical
        breast = np.asarray(nib.as_closest_canonical(nib.load(root / record["breast_mask"])).dataobj)
        assert np.nonzero(breast)[0].mean() > 0.6 * breast.shape[0]


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
        assert int(row.num_phases) == max(k for k, p in enumerate(records[row.patient_id]["phases_present"]) if p) + 1
        shape = nib.load(layout.phase_paths(row.patient_id)[0]).shape
        assert (int(row.image_rows), int(row.image_columns), int(row.num_slices)) == shape
        assert row.nottingham_grade in ("", "low", "intermediate", "high")


def test_case_ids_mix_cohorts_and_one_case_has_a_gap():
    rng = np.random.default_rng(0)
    ids, cohorts = case_ids(rng, 24)
    assert len(set(ids)) == 24 and set(cohorts) == {"DUKE", "ISPY1", "ISPY2", "NACT"}
    assert any(i.startswith("DUKE_") and len(i) == 8 for i in ids)
    present = phases_present(rng, cohorts)
    assert all(p[0] for p in present)
    gaps = [p for p in present if any(not a and b for a, b in zip(p, p[1:]))]
    tails = [p for p in present if not all(p) and p not in gaps]
    assert len(gaps) == 1 and len(tails) >= 5 and any(all(p) for p in present)
