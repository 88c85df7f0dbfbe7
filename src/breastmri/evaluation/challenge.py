"""The MAMA-MIA challenge's Task 1 (primary tumour segmentation) scores, so this project and others can be compared
on the same cases (the published anchor, nnU-Net full-image: Dice 0.762, HD95 37.4 mm; compare that HD95 with
this project's ``hd95_mm``, not with the voxel HD95 below).

Per case (binary masks on one grid):

* ``dice``: ``2 |P & T| / (|P| + |T|)``; **0 when both masks are empty** (the challenge's rule, not the usual 1);
* ``hd95_voxels``: the 95th percentile Hausdorff distance **in voxel units** (the grid's index space, spacing
  ignored): the larger of the two directed 95th percentiles (``numpy.percentile``, linear) of the Euclidean
  distances from each surface voxel of one mask to the nearest surface voxel of the other. Surface voxels are a
  mask's voxels with a face neighbour outside it (outside the array counts as outside). ``inf`` when either mask
  is empty;
* ``norm_hd``: ``min(hd95_voxels / 150, 1)``, and 1 when the prediction is empty (whatever the truth).

Over cases: ``performance = 0.5 (mean dice + 1 - mean norm_hd)``; per fairness variable, the cases are grouped
(age in years: 0-40, 41-50, 51-60, 61-70, 71+; menopause: pre (peri counts as pre), post, unknown; breast density
as given), cases without a group (no age, no density) are left out, and
``fairness = 1 - 0.5 (range of the groups' mean dice + range of their mean norm_hd)``; ``ranking = 0.5 performance
+ 0.5 mean fairness``. Group values are matched to cases by patient id.

Where this differs from the organisers' published script, on purpose: a variable counts only when the clinical
table has its column (the public MAMA-MIA table has no breast density; the script then averages a NaN in), and the
mean fairness is over the variables that have groups (NaN, and so the ranking, when none has); menopause text is
matched case-insensitively and text that names no status is ``unknown`` (the script keeps it as a group of its own).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage

HD_MAX_VOXELS = 150.0
AGE_BINS = (0, 40, 50, 60, 70, 100)
AGE_LABELS = ("0-40", "41-50", "51-60", "61-70", "71+")
FAIRNESS_VARIABLES = ("age", "menopause", "breast_density")


def dice(prediction: np.ndarray, truth: np.ndarray) -> float:
    """The challenge's Dice: 0 when both masks are empty."""
    p, t = _binary(prediction, truth)
    total = int(p.sum()) + int(t.sum())
    return 0.0 if total == 0 else 2.0 * int((p & t).sum()) / total


def surface(mask: np.ndarray) -> np.ndarray:
    """Voxels of ``mask`` with a face neighbour outside it (the array's border counts as outside)."""
    mask = np.asarray(mask, bool)
    return mask & ~ndimage.binary_erosion(mask, ndimage.generate_binary_structure(mask.ndim, 1), border_value=0)


def hd95_voxels(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Symmetric 95th percentile surface distance in voxel units (``inf`` when a mask is empty)."""
    p, t = _binary(prediction, truth)
    if not p.any() or not t.any():
        return float("inf")
    sp, st = surface(p), surface(t)
    to_t = ndimage.distance_transform_edt(~st)[sp]  # each prediction surface voxel to the truth's surface
    to_p = ndimage.distance_transform_edt(~sp)[st]
    return float(max(np.percentile(to_t, 95), np.percentile(to_p, 95)))


def norm_hd(hd95: float, prediction_empty: bool, hd_max: float = HD_MAX_VOXELS) -> float:
    """``hd95 / hd_max`` capped at 1; 1 for an empty prediction."""
    return 1.0 if prediction_empty or not np.isfinite(hd95) else float(min(hd95 / hd_max, 1.0))


def case_scores(prediction: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """``dice``, ``hd95_voxels`` and ``norm_hd`` of one case."""
    hd = hd95_voxels(prediction, truth)
    return {"dice": dice(prediction, truth), "hd95_voxels": hd,
            "norm_hd": norm_hd(hd, not np.asarray(prediction).any())}


def age_group(age) -> str | None:
    """The challenge's age bin of ``age`` in years (``pandas.cut`` on :data:`AGE_BINS`, right-inclusive: 40 is
    0-40, 41 is 41-50, 100 is 71+); None when unknown or outside (0, 100]."""
    age = pd.to_numeric(pd.Series([age]), errors="coerce").iloc[0]
    if pd.isna(age) or not AGE_BINS[0] < age <= AGE_BINS[-1]:
        return None
    return AGE_LABELS[int(np.searchsorted(AGE_BINS, age, side="left")) - 1]


def menopause_group(value) -> str:
    """``pre`` (also peri-menopausal), ``post`` or ``unknown``, from the MAMA-MIA table's free text (the real
    table's values: blank, pre, post and long pre/peri descriptions)."""
    text = "" if pd.isna(value) else str(value).strip().lower()
    if "peri" in text or ("pre" in text and "post" not in text):
        return "pre"
    return "post" if "post" in text else "unknown"


def fairness_groups(clinical: pd.DataFrame) -> pd.DataFrame:
    """The fairness variables' groups per patient id (index: ``patient_id``), from a clinical table in the
    canonical schema (:func:`breastmri.data.clinical.load_clinical`); a variable is one of :data:`FAIRNESS_VARIABLES`
    whose column the table has (a blank age or density has no group; a blank menopause is ``unknown``)."""
    table = clinical.set_index("patient_id") if "patient_id" in clinical.columns else clinical
    groups = pd.DataFrame(index=table.index)
    if "age" in table:
        groups["age"] = table["age"].map(age_group)
    if "menopause" in table:
        groups["menopause"] = table["menopause"].map(menopause_group)
    if "breast_density" in table:
        groups["breast_density"] = table["breast_density"].map(
            lambda v: None if pd.isna(v) or str(v).strip() == "" else str(v).strip())
    return groups


def fairness(per_case: pd.DataFrame, groups: pd.DataFrame) -> dict[str, float]:
    """Per variable of ``groups`` (index: patient id): ``1 - 0.5 (dice range + norm_hd range)`` over the groups'
    means; cases of ``per_case`` (index: patient id; ``dice``, ``norm_hd``) without a group are left out; NaN when
    no case has a group."""
    joined = per_case[["dice", "norm_hd"]].join(groups, how="left")
    scores = {}
    for variable in groups.columns:
        means = joined.dropna(subset=[variable]).groupby(variable)[["dice", "norm_hd"]].mean()
        scores[variable] = (float("nan") if means.empty else
                            float(1.0 - 0.5 * (np.ptp(means["dice"]) + np.ptp(means["norm_hd"]))))
    return scores


def challenge_scores(per_case: pd.DataFrame, clinical: pd.DataFrame) -> dict:
    """Performance, fairness per variable and their mean, and the ranking score of the cases of ``per_case``
    (index: patient id; columns ``dice`` and ``norm_hd`` from :func:`case_scores`)."""
    if per_case.empty:
        return {"n_cases": 0}
    performance = 0.5 * (float(per_case["dice"].mean()) + 1.0 - float(per_case["norm_hd"].mean()))
    per_variable = fairness(per_case, fairness_groups(clinical))
    finite = [v for v in per_variable.values() if np.isfinite(v)]
    mean_fairness = float(np.mean(finite)) if finite else float("nan")  # NaN: no fairness variable to judge
    return {"n_cases": int(len(per_case)), "dice_mean": float(per_case["dice"].mean()),
            "norm_hd_mean": float(per_case["norm_hd"].mean()), "performance": performance,
            "fairness": per_variable, "fairness_mean": mean_fairness,
            "ranking": 0.5 * performance + 0.5 * mean_fairness}


def _binary(prediction: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, t = np.asarray(prediction) > 0, np.asarray(truth) > 0
    if p.shape != t.shape:
        raise ValueError(f"prediction {p.shape} and truth {t.shape} differ in shape")
    return p, t
