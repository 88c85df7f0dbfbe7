"""On 40 inference patients: the planted associations are measurable on the truth record, the null one
is not, and the 98th-percentile candidate inside the breast finds the lesion where fat is suppressed."""

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import ndimage, stats


@pytest.fixture(scope="module")
def table(cohort_phantom):
    root, _ = cohort_phantom
    layout = json.loads((root / "truth" / "truth.json").read_text())["seed_layout"]
    truth = pd.DataFrame.from_dict(layout["patients"], orient="index").rename_axis("patient_id").reset_index()
    truth["contrast"] = [layout["cohorts"][c]["contrast"] for c in truth.cohort]
    clinical = pd.read_csv(root / "seed" / "clinical.csv", dtype={"patient_id": str})
    return truth.merge(clinical, on="patient_id", validate="one_to_one")


def _spearman(table, feature, variable):
    rows = table[[feature, variable]].dropna()
    return stats.spearmanr(rows[feature], rows[variable]), len(rows)


def test_planted_associations_are_strong_enough_for_forty_patients(table):
    assert len(table) == 40
    (rho, p), n = _spearman(table, "lesion_volume_mm3", "nottingham_grade")
    assert n >= 34 and rho > 0.5 and p < 0.01
    (rho, p), _ = _spearman(table, "lesion_peak_enhancement", "her2")
    assert rho > 0.5 and p < 0.01


@pytest.mark.parametrize("feature", ["lesion_volume_mm3", "lesion_peak_enhancement"])
def test_er_is_not_associated_with_lesion_features(table, feature):
    (rho, p), _ = _spearman(table, feature, "er")
    assert abs(rho) < 0.3 and p > 0.05


def _candidate(image, breast, percentile=98.0):
    """Largest 3D connected component of the breast voxels above the breast's intensity percentile."""
    bright = breast & (image > np.percentile(image[breast], percentile))
    labelled, count = ndimage.label(bright)
    sizes = ndimage.sum_labels(bright, labelled, range(1, count + 1))
    return labelled == 1 + int(np.argmax(sizes))


def test_percentile_candidate_hits_the_lesion_in_most_fat_suppressed_cases(cohort_phantom, table):
    root, _ = cohort_phantom
    hits = []
    for row in table[table.contrast != "t1"].itertuples():  # without fat suppression, fat is as bright
        image = np.asarray(nib.load(root / "seed" / row.split / "scans" / f"{row.patient_id}.nii.gz").dataobj)
        breast = np.asarray(nib.load(root / row.breast_mask).dataobj) > 0
        lesion = np.asarray(nib.load(root / row.lesion_mask).dataobj) > 0
        candidate = _candidate(image.astype(np.float32), breast)
        overlap = np.count_nonzero(candidate & lesion)
        hits.append(max(overlap / candidate.sum(), overlap / lesion.sum()) >= 0.5)
    assert np.mean(hits) >= 0.8, f"hit rate {np.mean(hits):.2f}"
