"""The MAMA-MIA challenge's scores on hand-made cases whose values are worked out by hand."""

import math

import numpy as np
import pandas as pd
import pytest

from breastmri.evaluation import challenge as ch


def _mask(shape, *voxels):
    mask = np.zeros(shape, np.uint8)
    for v in voxels:
        mask[v] = 1
    return mask


def test_dice_by_hand_and_its_empty_rules():
    a = np.zeros((4, 4, 4), np.uint8)
    b = np.zeros_like(a)
    a[0:2, 0:2, 0:2] = 1           # 8 voxels
    b[1:3, 0:2, 0:2] = 1           # 8 voxels, 4 shared
    assert ch.dice(a, b) == pytest.approx(2 * 4 / 16)
    assert ch.dice(a, a) == 1.0
    assert ch.dice(np.zeros_like(a), np.zeros_like(a)) == 0.0  # both empty: 0, the challenge's rule
    assert ch.dice(np.zeros_like(a), b) == 0.0 and ch.dice(a, np.zeros_like(a)) == 0.0
    with pytest.raises(ValueError, match="differ in shape"):
        ch.dice(a, b[:3])


def test_surface_is_the_mask_less_its_face_eroded_interior():
    m = np.zeros((5, 5, 5), np.uint8)
    m[1:4, 1:4, 1:4] = 1           # 27 voxels, only the centre is interior
    assert ch.surface(m).sum() == 26 and not ch.surface(m)[2, 2, 2]
    full = np.ones((3, 3, 3), np.uint8)
    assert ch.surface(full).sum() == 26  # the array border counts as outside


def test_hd95_in_voxels_by_hand():
    # single voxels 3 apart along one axis: every distance is 3
    assert ch.hd95_voxels(_mask((1, 1, 8), (0, 0, 1)), _mask((1, 1, 8), (0, 0, 4))) == pytest.approx(3.0)
    # spacing is ignored: voxel units, diagonal distance sqrt(3^2 + 4^2) = 5
    assert ch.hd95_voxels(_mask((8, 8, 1), (0, 0, 0)), _mask((8, 8, 1), (3, 4, 0))) == pytest.approx(5.0)
    # P = {0}, T = {0, 5} on a line: P->T distances [0]; T->P [0, 5]: 95th percentile (linear) = 0.95 * 5
    p, t = _mask((1, 1, 8), (0, 0, 0)), _mask((1, 1, 8), (0, 0, 0), (0, 0, 5))
    assert ch.hd95_voxels(p, t) == pytest.approx(4.75) == ch.hd95_voxels(t, p)  # symmetric
    assert ch.hd95_voxels(np.zeros_like(p), t) == math.inf == ch.hd95_voxels(p, np.zeros_like(t))


def test_norm_hd_caps_at_one_and_an_empty_prediction_scores_one():
    assert ch.norm_hd(4.75, prediction_empty=False) == pytest.approx(4.75 / 150)
    assert ch.norm_hd(300.0, prediction_empty=False) == 1.0
    assert ch.norm_hd(math.inf, prediction_empty=True) == 1.0
    empty = np.zeros((1, 1, 8), np.uint8)
    t = _mask((1, 1, 8), (0, 0, 2))
    assert ch.case_scores(empty, t) == {"dice": 0.0, "hd95_voxels": math.inf, "norm_hd": 1.0}
    assert ch.case_scores(empty, empty) == {"dice": 0.0, "hd95_voxels": math.inf, "norm_hd": 1.0}  # both empty
    assert ch.case_scores(t, empty)["norm_hd"] == 1.0  # a prediction where there is no tumour: no distance
    same = ch.case_scores(t, t)
    assert same == {"dice": 1.0, "hd95_voxels": 0.0, "norm_hd": 0.0}


@pytest.mark.parametrize("age, group", [(35, "0-40"), (40, "0-40"), (40.5, "41-50"), (41, "41-50"), (50, "41-50"),
                                        (60, "51-60"), (61, "61-70"), (70, "61-70"), (71, "71+"), (100, "71+"),
                                        (101, None), (np.nan, None), ("", None), (0, None)])
def test_age_bins_are_right_inclusive(age, group):
    assert ch.age_group(age) == group


@pytest.mark.parametrize("text, group", [
    ("pre", "pre"), ("post", "post"), (np.nan, "unknown"), ("", "unknown"), (None, "unknown"),
    ("peri (6-12 months since LMP AND no prior bilateral ovariectomy AND not on estrogen replacement)", "pre"),
    ("pre (<6 months since LMP AND no prior bilateral ovariectomy AND not on estrogen replacement)", "pre")])
def test_menopause_groups_from_the_real_tables_text(text, group):
    assert ch.menopause_group(text) == group


def test_fairness_performance_and_ranking_by_hand():
    per_case = pd.DataFrame({"dice": [0.9, 0.7, 0.5, 0.8], "norm_hd": [0.1, 0.3, 0.5, 0.2]},
                            index=pd.Index(["B", "A", "C", "D"], name="patient_id"))  # not in the table's order
    clinical = pd.DataFrame({"patient_id": ["A", "B", "C", "D", "E"], "age": [35, 45, 48, np.nan, 80],
                             "menopause": ["pre", "post", "post", "", "post"]})
    scores = ch.challenge_scores(per_case, clinical)
    # performance: mean dice 0.725, mean norm_hd 0.275 -> 0.5 (0.725 + 0.725)
    assert scores["performance"] == pytest.approx(0.725)
    # age: A (0.7, 0.3) in 0-40; B, C in 41-50: means (0.7, 0.3); D has no age -> left out; E not scored
    #   dice range 0, norm_hd range 0 -> 1.0
    assert scores["fairness"]["age"] == pytest.approx(1.0)
    # menopause: pre {A}: (0.7, 0.3); post {B, C}: (0.7, 0.3); unknown {D}: (0.8, 0.2)
    #   ranges 0.1 and 0.1 -> 1 - 0.5 * 0.2 = 0.9
    assert scores["fairness"]["menopause"] == pytest.approx(0.9)
    assert "breast_density" not in scores["fairness"]  # the table has no density
    assert scores["fairness_mean"] == pytest.approx(0.95)
    assert scores["ranking"] == pytest.approx(0.5 * 0.725 + 0.5 * 0.95)
    # with a density column: groups a {A, B}: (0.8, 0.2), b {C}: (0.5, 0.5); D blank -> left out
    clinical["breast_density"] = ["a", "a", "b", "", "c"]
    dense = ch.challenge_scores(per_case, clinical)
    assert dense["fairness"]["breast_density"] == pytest.approx(1 - 0.5 * (0.3 + 0.3))
    assert dense["fairness_mean"] == pytest.approx((1.0 + 0.9 + 0.7) / 3)
    assert ch.challenge_scores(per_case.iloc[:0], clinical) == {"n_cases": 0}
