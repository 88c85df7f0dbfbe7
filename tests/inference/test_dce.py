"""The breast region's and the lesion model's agreement (inference.dce.disagreement)."""

import numpy as np
import pytest

from breastmri.inference.dce import MAX_LESION_CUT, MAX_LESION_OUTSIDE, disagreement


def _region() -> np.ndarray:
    region = np.zeros((40, 40, 20), bool)
    region[5:30, 5:35, 2:18] = True  # the breast less its skin; rows 30+ lie outside it (skin, air, chest wall)
    return region


def _block(rows: slice) -> np.ndarray:
    lesion = np.zeros((40, 40, 20), bool)
    lesion[rows, 10:20, 5:15] = True  # 100 voxels per row
    return lesion


def test_a_lesion_inside_the_region_agrees():
    assert disagreement(_block(slice(10, 20)), _region()) == []
    assert disagreement(np.zeros((40, 40, 20), bool), _region()) == []


def test_a_false_positive_wholly_outside_the_region_is_not_a_cut():
    """A tumour inside and a separate blob beside the breast (a skin false positive) of 40% of the voxels: the
    restriction removes the blob and keeps the whole tumour, as it should."""
    lesion = _block(slice(10, 16)) | _block(slice(34, 38))
    assert 0.39 < (lesion & ~_region()).sum() / lesion.sum() < MAX_LESION_OUTSIDE
    assert disagreement(lesion, _region()) == []


@pytest.mark.parametrize("rows, doubted", [(slice(21, 31), False),   # 1 of 10 rows outside: a tenth, kept
                                           (slice(21, 32), True),    # 2 of 11 rows: 18%
                                           (slice(24, 34), True)])   # 4 of 10 rows: the boundary halves it
def test_a_region_that_cuts_through_a_lesion_is_doubted(rows, doubted):
    lesion = _block(rows)
    cut = (lesion & ~_region()).sum() / lesion.sum()
    assert (cut > MAX_LESION_CUT) == doubted and cut < MAX_LESION_OUTSIDE
    problems = disagreement(lesion, _region())
    assert bool(problems) == doubted
    if doubted:
        assert problems == [f"the breast region cuts through the lesion model's lesion ({cut:.0%} of the "
                            f"{lesion.sum()} voxels of the lesions reaching into it lie outside it): the breast "
                            f"mask is doubted"]


def test_a_lesion_mostly_outside_the_region_is_doubted_as_such():
    lesion = _block(slice(27, 38))  # 8 of 11 rows outside
    assert disagreement(lesion, _region()) == [
        f"the lesion model's lesion lies mostly outside the breast region (73% of {lesion.sum()} voxels): the breast "
        "mask is doubted"]


def test_only_the_components_reaching_into_the_region_count_towards_the_cut():
    """The cut is measured over the lesions the region keeps a part of: a large false positive outside, apart from
    them, neither hides a cut tumour nor makes an intact one look cut."""
    cut_tumour = _block(slice(24, 30)) | _block(slice(30, 32))  # 2 of 8 rows outside
    far = np.zeros_like(cut_tumour)
    far[34:38, 25:35, 5:15] = True  # 400 voxels outside, not touching the tumour or the region
    assert disagreement(cut_tumour, _region()) == disagreement(cut_tumour | far, _region())
    assert disagreement(cut_tumour, _region())
