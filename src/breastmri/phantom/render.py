"""Fat-suppressed T1 DCE signal: tissue intensities x enhancement, coil profile, bias, blur, Rician noise."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from breastmri.phantom import body as tissue
from breastmri.phantom import kinetics
from breastmri.phantom.body import Body
from breastmri.phantom.fields import bias_field, rician, smooth_field

#: Pre-contrast signal per label (arbitrary units); fat is suppressed, lungs and air nearly void.
BASELINE = {tissue.AIR: 0.0, tissue.SKIN: 140.0, tissue.FAT: 75.0, tissue.MUSCLE: 150.0, tissue.LUNG: 15.0,
            tissue.BLOOD: 130.0, tissue.MYOCARDIUM: 150.0, tissue.BONE: 150.0, tissue.MARROW: 360.0,
            tissue.CSF: 60.0, tissue.LIVER: 120.0, tissue.BREAST: 85.0}
FIBROGLANDULAR = 180.0
LESION = 190.0
PSF_SIGMA = (0.5, 0.5, 0.3)  # voxels


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
        and towards the abdomen (below the breasts), flat above them."""
        y, _, z = body.grid.coords()
        centre = np.mean([b.z for b in body.breasts])
        return np.exp(self.coil_posterior * np.minimum(y - body.chest_wall_y - 15.0, 0.0) / 100.0
                      - self.coil_inferior * np.maximum(centre - z, 0.0) / 100.0)


def render(rng: np.random.Generator, body: Body, fibroglandular: np.ndarray, vessels: np.ndarray,
           lesion: np.ndarray, heterogeneity: np.ndarray, lesion_kinetics: kinetics.LesionKinetics,
           parenchymal_enhancement: float, times: Sequence[float], scanner: Scanner) -> list[np.ndarray]:
    """One float32 volume per time in ``times`` (the same anatomy, coil and bias; fresh noise each)."""
    baseline = np.array([BASELINE[k] for k in range(tissue.N_LABELS)], np.float32)
    baseline *= rng.uniform(0.9, 1.1, tissue.N_LABELS).astype(np.float32)
    fgt0, lesion0 = FIBROGLANDULAR * rng.uniform(0.9, 1.1), LESION * rng.uniform(0.95, 1.1)
    texture = 1.0 + 0.10 * smooth_field(rng, body.grid.shape, 0.8)
    gain = scanner.gain * scanner.coil(body) * bias_field(rng, body.grid.shape, scanner.bias)
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
