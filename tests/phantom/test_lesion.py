"""Lesions: lobulated, inside one breast away from the skin, sized by the requested diameter."""

import numpy as np
import pytest
from scipy import ndimage

from breastmri.phantom.body import build_body
from breastmri.phantom.geometry import draw_grid
from breastmri.phantom.kinetics import LesionKinetics
from breastmri.phantom.lesion import LesionSpec, plant_lesions
from breastmri.phantom.parenchyma import fibroglandular

KINETICS = LesionKinetics(2.0, 60.0, "plateau")


@pytest.fixture(scope="module")
def body_and_fgt():
    rng = np.random.default_rng(3)
    body = build_body(rng, draw_grid(rng))
    return body, fibroglandular(rng, body, 0.3)


@pytest.mark.parametrize("diameter", [12.0, 20.0, 35.0])
def test_lesion_volume_follows_the_diameter_inside_one_breast(body_and_fgt, diameter):
    body, fgt = body_and_fgt
    spec = LesionSpec(diameter, 0.25, False, False, KINETICS)
    mask, heterogeneity = plant_lesions(np.random.default_rng(int(diameter)), body, fgt, spec)
    volume = mask.sum() * body.grid.voxel_volume
    assert 0.4 < volume / (np.pi / 6 * diameter**3) < 1.6
    assert len(np.unique(body.side[mask])) == 1 and body.side[mask].min() > 0
    assert body.radius[mask].max() < 0.92  # never reaches the skin
    assert ndimage.label(mask)[1] == 1
    assert heterogeneity[mask].mean() == pytest.approx(1.0, abs=1e-4) and np.all(heterogeneity[~mask] == 1)


def test_satellite_gives_a_second_smaller_component(body_and_fgt):
    body, fgt = body_and_fgt
    counts = []
    for seed in range(6):
        spec = LesionSpec(24.0, 0.2, True, True, KINETICS)
        counts.append(ndimage.label(plant_lesions(np.random.default_rng(seed), body, fgt, spec)[0])[1])
    assert max(counts) == 2 and min(counts) >= 1
