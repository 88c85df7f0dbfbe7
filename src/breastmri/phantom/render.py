"""T1 DCE signal: tissue intensities x enhancement, coil profile, bias, blur, Rician noise.

Four contrasts (:data:`CONTRASTS`): ``fat_suppressed`` (fat dark, the breast coil brightening the breasts),
``t1`` (no fat suppression: fat and marrow bright, fibroglandular tissue darker than fat, muscle
intermediate), ``inverted`` (fat-suppressed with breast tissue darker than the thorax and no breast-coil
gain, like an independently made phantom: the breast half of an axial slice is the darker one), ``dark_fat``
(fat near the noise floor, as the strong spectral suppression of many DCE exams leaves it: a dark breast
outlined by its brighter skin and fibroglandular tissue). And ``random`` (:data:`RANDOM`,
:func:`random_contrast`): every tissue's signal drawn afresh per case, in the manner of SynthSeg's domain
randomisation, so only shapes and the air/lung darkness carry over between cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from breastmri.phantom import body as tissue
from breastmri.phantom import kinetics
from breastmri.phantom.body import Body
from breastmri.phantom.fields import bias_field, rician, smooth_field

PSF_SIGMA = (0.5, 0.5, 0.3)  # voxels
COIL_FLOOR = 0.3


@dataclass(frozen=True)
class Contrast:
    """Pre-contrast signal per label (arbitrary units), of fibroglandular tissue and of the lesion, and
    whether a breast coil brightens the breasts."""

    baseline: dict[int, float]
    fibroglandular: float
    lesion: float
    coil: bool


#: Fat suppressed: fat dark, lungs and air nearly void, marrow bright.
FAT_SUPPRESSED = Contrast(
    {tissue.AIR: 0.0, tissue.SKIN: 140.0, tissue.FAT: 75.0, tissue.MUSCLE: 150.0, tissue.LUNG: 15.0,
     tissue.BLOOD: 130.0, tissue.MYOCARDIUM: 150.0, tissue.BONE: 150.0, tissue.MARROW: 360.0, tissue.CSF: 60.0,
     tissue.LIVER: 120.0, tissue.BREAST: 85.0}, fibroglandular=180.0, lesion=190.0, coil=True)
CONTRASTS = {
    "fat_suppressed": FAT_SUPPRESSED,
    "t1": Contrast(
        {tissue.AIR: 0.0, tissue.SKIN: 200.0, tissue.FAT: 420.0, tissue.MUSCLE: 160.0, tissue.LUNG: 15.0,
         tissue.BLOOD: 110.0, tissue.MYOCARDIUM: 160.0, tissue.BONE: 50.0, tissue.MARROW: 400.0,
         tissue.CSF: 50.0, tissue.LIVER: 220.0, tissue.BREAST: 410.0}, fibroglandular=170.0, lesion=180.0, coil=True),
    "inverted": Contrast({**FAT_SUPPRESSED.baseline, tissue.BREAST: 35.0, tissue.SKIN: 90.0},
                         fibroglandular=80.0, lesion=110.0, coil=False),
    # fat and breast fat at 6-7% of their T1 signal (spectral suppression removes 90-95% of it): 2-4x the noise
    "dark_fat": Contrast({**FAT_SUPPRESSED.baseline, tissue.FAT: 25.0, tissue.BREAST: 28.0},
                         fibroglandular=150.0, lesion=190.0, coil=True),
}


#: The contrast drawn per case by :func:`random_contrast`.
RANDOM = "random"
CONTRAST_NAMES = (*CONTRASTS, RANDOM)
RANDOM_SIGNAL = (30.0, 450.0)   # any tissue, fibroglandular tissue and lesion (pre-contrast)
RANDOM_LUNG = (0.0, 30.0)       # lungs hold almost no signal in any sequence


def random_contrast(rng: np.random.Generator) -> Contrast:
    """A contrast with every tissue's pre-contrast signal uniform in :data:`RANDOM_SIGNAL` (air 0, lungs in
    :data:`RANDOM_LUNG`), and the breast coil's gain on or off at random."""
    baseline = {label: float(rng.uniform(*RANDOM_SIGNAL)) for label in range(tissue.N_LABELS)}
    baseline.update({tissue.AIR: 0.0, tissue.LUNG: float(rng.uniform(*RANDOM_LUNG))})
    return Contrast(baseline, fibroglandular=float(rng.uniform(*RANDOM_SIGNAL)),
                    lesion=float(rng.uniform(*RANDOM_SIGNAL)), coil=bool(rng.random() < 0.5))


def contrast_for(rng: np.random.Generator, name: str) -> Contrast:
    """The named contrast; ``random`` draws one from ``rng`` (other names draw nothing)."""
    return random_contrast(rng) if name == RANDOM else CONTRASTS[name]


#: Slow uptake (amplitude, time constant in s) per label; blood follows its own curve, air and CSF none.
UPTAKE = {tissue.SKIN: (0.4, 150.0), tissue.FAT: (0.05, 200.0), tissue.MUSCLE: (0.35, 200.0),
          tissue.LUNG: (0.3, 100.0), tissue.MYOCARDIUM: (1.0, 40.0), tissue.BONE: (0.25, 150.0),
          tissue.MARROW: (0.15, 150.0), tissue.LIVER: (0.6, 150.0), tissue.BREAST: (0.05, 200.0)}


def _enhancement(label: int, t: float) -> float:
    """Relative enhancement of a labelled tissue at ``t`` seconds."""
    if label == tissue.BLOOD:
        return float(kinetics.blood(t))
    return float(kinetics.progressive(t, *UPTAKE[label])) if label in UPTAKE else 0.0


@dataclass(frozen=True)
class Scanner:
    """Per-case acquisition: gain, noise level, breast-coil fall-off (posterior and inferior, per 100 mm)
    and the amplitude of the smooth bias field."""

    gain: float
    noise: float
    coil_posterior: float
    coil_inferior: float
    bias: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> "Scanner":
        return cls(rng.uniform(0.8, 1.3), rng.uniform(8.0, 12.0), rng.uniform(1.6, 2.2), rng.uniform(0.6, 1.0),
                   rng.uniform(0.08, 0.2))

    def coil(self, body: Body) -> np.ndarray:
        """Receive sensitivity of a prone breast coil: highest at the breasts, falling off towards the back
        and towards the abdomen (below the breasts), flat above them; never below ``COIL_FLOOR`` (the body
        coil's share: a real breast exam still shows the back above the air's noise)."""
        y, _, z = body.grid.coords()
        centre = np.mean([b.z for b in body.breasts])
        falloff = np.exp(self.coil_posterior * np.minimum(y - body.chest_wall_y - 15.0, 0.0) / 100.0
                         - self.coil_inferior * np.maximum(centre - z, 0.0) / 100.0)
        return COIL_FLOOR + (1.0 - COIL_FLOOR) * falloff


def render(rng: np.random.Generator, body: Body, fibroglandular: np.ndarray, vessels: np.ndarray,
           lesion: np.ndarray, heterogeneity: np.ndarray, lesion_kinetics: kinetics.LesionKinetics,
           parenchymal_enhancement: float, times: Sequence[float], scanner: Scanner,
           contrast: Contrast) -> list[np.ndarray]:
    """One float32 volume per time in ``times`` (the same anatomy, coil and bias; fresh noise each)."""
    baseline = np.array([contrast.baseline[k] for k in range(tissue.N_LABELS)], np.float32)
    baseline *= rng.uniform(0.9, 1.1, tissue.N_LABELS).astype(np.float32)
    fgt0, lesion0 = contrast.fibroglandular * rng.uniform(0.9, 1.1), contrast.lesion * rng.uniform(0.95, 1.1)
    texture = 1.0 + 0.10 * smooth_field(rng, body.grid.shape, 0.8)
    coil = scanner.coil(body) if contrast.coil else np.float32(1.0)
    gain = scanner.gain * coil * bias_field(rng, body.grid.shape, scanner.bias)
    phases = []
    for t in times:
        lut = baseline * np.array([1.0 + _enhancement(k, t) for k in range(tissue.N_LABELS)], np.float32)
        image = lut[body.labels]
        fgt_signal = fgt0 * (1.0 + float(kinetics.progressive(t, parenchymal_enhancement, 250.0)))
        image += fibroglandular * (fgt_signal - lut[tissue.BREAST])
        image *= texture
        image += vessels * (baseline[tissue.BLOOD] * (1.0 + float(kinetics.blood(t, 3.0))) - image)
        lesion_signal = lesion0 * (1.0 + float(lesion_kinetics.enhancement(t)) * heterogeneity)
        image = np.where(lesion, lesion_signal, image)
        image = ndimage.gaussian_filter(image * gain, PSF_SIGMA)
        phases.append(rician(rng, image, scanner.noise * scanner.gain))
    return phases
