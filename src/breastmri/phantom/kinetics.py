"""Contrast kinetics: acquisition times and relative enhancement ``(S(t) - S0) / S0`` per tissue."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Lesion curve shapes (BI-RADS kinetic types): late change of the relative enhancement per 300 s.
CURVE_LATE_SLOPE = {"persistent": 0.15, "plateau": 0.0, "washout": -0.25}


def phase_times(rng: np.random.Generator, n_phases: int) -> np.ndarray:
    """Seconds after injection of each phase: 0 (pre-contrast), then a first post-contrast phase at
    150-200 s and 100-130 s between later phases (as in the Duke/MAMA-MIA acquisition times)."""
    first = rng.uniform(150.0, 200.0)
    step = rng.uniform(100.0, 130.0)
    return np.concatenate([[0.0], first + step * np.arange(n_phases - 1)]).round()


@dataclass(frozen=True)
class LesionKinetics:
    """Lesion wash-in (amplitude, time constant) then a late persistent/plateau/wash-out course."""

    amplitude: float
    wash_in_s: float
    curve: str

    def enhancement(self, t: np.ndarray | float) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        wash_in = 1.0 - np.exp(-t / self.wash_in_s)
        late = 1.0 + CURVE_LATE_SLOPE[self.curve] * np.clip(t - 3 * self.wash_in_s, 0.0, None) / 300.0
        return self.amplitude * wash_in * late


def blood(t: np.ndarray | float, amplitude: float = 4.5) -> np.ndarray:
    """Blood pool (heart, aorta, vessels): fast first pass, slow decay."""
    t = np.asarray(t, dtype=float)
    return amplitude * (1.0 - np.exp(-t / 12.0)) * np.exp(-t / 900.0)


def progressive(t: np.ndarray | float, amplitude: float, time_constant_s: float) -> np.ndarray:
    """Slow monotone uptake (parenchyma, muscle, skin, liver, bone)."""
    t = np.asarray(t, dtype=float)
    return amplitude * (1.0 - np.exp(-t / time_constant_s))
