"""Contrasts: fat-suppressed (the breast coil brightening the breasts), T1 without fat suppression (fat bright),
inverted (no coil gain: the breast half darker than the thorax); dark fat (fat near the noise floor); random (every
tissue drawn per case)."""

import numpy as np
import pytest

from breastmri.phantom import body as tissue
from breastmri.phantom.body import build_body
from breastmri.phantom.geometry import draw_grid
from breastmri.phantom.kinetics import LesionKinetics
from breastmri.phantom.lesion import LesionSpec, plant_lesions
from breastmri.phantom.parenchyma import fibroglandular, vessels
from breastmri.phantom.render import (CONTRASTS, RANDOM_LUNG, RANDOM_SIGNAL, Scanner, contrast_for,
                                     random_contrast, render)

SPEC = LesionSpec(22.0, 0.3, False, False, LesionKinetics(2.0, 60.0, "plateau"))


@pytest.fixture(scope="module", params=[0, 1, 2])
def anatomy(request):
    rng = np.random.default_rng([31, request.param])
    body = build_body(rng, draw_grid(rng))
    fgt = fibroglandular(rng, body, 0.3)
    return body, fgt, vessels(rng, body), *plant_lesions(rng, body, fgt, SPEC)


def _render(anatomy, contrast, seed=0):
    body, fgt, vessel, lesion, heterogeneity = anatomy
    rng = np.random.default_rng(seed)
    return render(rng, body, fgt, vessel, lesion, heterogeneity, SPEC.kinetics, 0.2, [0.0, 180.0],
                  Scanner.draw(rng), CONTRASTS[contrast])


def _halves(image):
    """Means of the breast (anterior) and thorax (posterior) halves of the central axial slices."""
    half, depth = image.shape[0] // 2, image.shape[2]
    central = image[:, :, int(0.3 * depth):int(0.7 * depth)]
    return central[half:].mean(), central[:half].mean()


def test_t1_fat_is_brighter_than_fibroglandular_tissue_and_muscle_and_the_lesion_enhances(anatomy):
    body, fgt, _, lesion, _ = anatomy
    pre, post = _render(anatomy, "t1")
    breast_fat = (body.labels == tissue.BREAST) & (fgt == 0) & ~lesion
    fat = breast_fat | (body.labels == tissue.FAT)
    dense = (fgt > 0.9) & ~lesion
    assert np.median(post[breast_fat]) > 1.4 * np.median(post[dense])
    assert np.median(post[fat]) > 1.4 * np.median(post[body.labels == tissue.MUSCLE])
    assert np.median(post[body.labels == tissue.MARROW]) > np.median(post[body.labels == tissue.MUSCLE])
    assert np.median(post[body.labels == tissue.LUNG]) < 0.2 * np.median(post[fat])
    assert post[lesion].mean() > 1.8 * pre[lesion].mean()


def test_the_breast_coil_brightens_the_breasts_and_inverted_breasts_are_darker_than_the_thorax(anatomy):
    body, _, _, lesion, _ = anatomy
    fat_suppressed, inverted = (_render(anatomy, c)[1] for c in ("fat_suppressed", "inverted"))
    coil = np.divide(*_halves(fat_suppressed))
    breast, thorax = _halves(inverted)
    assert breast < 0.7 * thorax and coil > 1.3 * breast / thorax
    assert np.median(inverted[lesion]) > np.percentile(inverted[body.breast_mask], 95)  # the lesion stands out


def test_dark_fat_lies_near_the_noise_floor_below_the_skin_and_the_fibroglandular_tissue(anatomy):
    body, fgt, _, lesion, _ = anatomy
    rng = np.random.default_rng(0)
    scanner = Scanner.draw(rng)
    post = render(rng, body, fgt, *anatomy[2:], SPEC.kinetics, 0.2, [180.0], scanner, CONTRASTS["dark_fat"])[0]
    breast_fat = (body.labels == tissue.BREAST) & (fgt == 0) & ~lesion
    fat = np.median(post[breast_fat | (body.labels == tissue.FAT)])
    noise = scanner.noise * scanner.gain  # the Rician sigma of the air
    assert fat < 5 * noise and np.median(post[body.labels == tissue.AIR]) < 0.5 * fat
    assert np.median(post[(fgt > 0.9) & ~lesion]) > 3 * fat and np.median(post[body.labels == tissue.SKIN]) > 2 * fat
    suppressed = _render(anatomy, "fat_suppressed")[1]
    assert np.median(suppressed[breast_fat]) > 2 * np.median(post[breast_fat])  # darker than the default


def test_random_contrasts_differ_per_case_keep_air_and_lungs_dark_and_named_ones_draw_nothing():
    rng = np.random.default_rng(5)
    drawn = [random_contrast(rng) for _ in range(50)]
    for c in drawn:
        assert c.baseline[tissue.AIR] == 0.0 and RANDOM_LUNG[0] <= c.baseline[tissue.LUNG] <= RANDOM_LUNG[1]
        others = [v for k, v in c.baseline.items() if k not in (tissue.AIR, tissue.LUNG)]
        assert all(RANDOM_SIGNAL[0] <= v <= RANDOM_SIGNAL[1] for v in others + [c.fibroglandular, c.lesion])
    fat, breast = np.array([[c.baseline[tissue.FAT], c.baseline[tissue.BREAST]] for c in drawn]).T
    assert fat.std() > 80 and (fat > breast).mean() not in (0.0, 1.0)  # fat brighter than breast in some cases only
    assert {c.coil for c in drawn} == {True, False}
    state = np.random.default_rng(9)
    before = state.bit_generator.state
    assert contrast_for(state, "t1") is CONTRASTS["t1"] and state.bit_generator.state == before
    assert contrast_for(np.random.default_rng(1), "random") == random_contrast(np.random.default_rng(1))
