import numpy as np

from breastmri.data.overlap import dice
from breastmri.inference.classical import classical_breast_mask, wall_profile

SPACING = (1.0, 1.0, 2.0)


def two_breasts(shape=(60, 64, 16), seed=0):
    """Working frame: a thorax (rows 5-29) and two separate half-ellipse breasts in front of it (rows 30+), air
    around; tissue brightness differs per tissue (the rule must not care)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:shape[0], :shape[1]]
    thorax = (((rows - 17) / 13.0) ** 2 + ((cols - 32) / 28.0) ** 2 <= 1) | ((rows >= 17) & (rows < 30) & (abs(cols - 32) <= 27))
    breast2d = np.zeros(shape[:2], bool)
    for c0 in (18, 46):
        breast2d |= (rows >= 30) & (((rows - 30) / 20.0) ** 2 + ((cols - c0) / 11.0) ** 2 <= 1)
    scan = np.where(thorax, 60.0, 0.0) + np.where(breast2d, 140.0, 0.0)
    scan = np.repeat(scan[:, :, None], shape[2], axis=2)
    breast = np.repeat(breast2d[:, :, None], shape[2], axis=2)
    return np.abs(scan + rng.normal(0, 3, shape)).astype(np.float32), breast.astype(np.uint8)


def test_two_breasts_on_a_flat_chest_are_found_without_weights():
    scan, breast = two_breasts()
    mask = classical_breast_mask(scan, SPACING, opening_mm=1.0)
    assert mask.dtype == np.uint8 and mask.shape == scan.shape
    assert dice(mask, breast) > 0.8  # measured 0.86: the outline is one smoothing pixel wide of the truth
    assert not mask[:29].any()                              # nothing of the thorax behind the chest wall


def test_slices_where_no_breast_protrudes_stay_empty_and_a_flat_outline_has_no_wall():
    scan, _ = two_breasts(seed=2)
    scan[30:, :, 12:] = 2.0  # no breasts in the top slices
    mask = classical_breast_mask(scan, SPACING, opening_mm=1.0)
    assert not mask[:, :, 12:].any() and mask[:, :, :12].any()
    flat = np.zeros((20, 30), bool)
    flat[:10, 3:27] = True
    assert wall_profile(flat) is None
