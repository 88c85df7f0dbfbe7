"""The ``anatomy`` section of ``params.yaml``, shared by several stages."""

from __future__ import annotations

import dataclasses

from breastmri.stages.config import StageConfig


@dataclasses.dataclass(frozen=True)
class AnatomyConfig(StageConfig):
    """The ``anatomy`` section: the contrast-free rules that place a scan in the working frame and judge a breast
    mask's plausibility, shared by the orient stage and every stage that segments breasts."""

    n_slices: int
    end_fraction: float
    noise_factor: float
    floor_fraction: float
    min_solidity: float
    min_margin: dict
    min_inside_body: float
    min_front_covered: float
    min_breast_ml: float
    breast_smoothing_mm: float

    def heuristics(self):
        """The section as :class:`~breastmri.orientation.orient.HeuristicSettings` (which checks the values)."""
        from breastmri.orientation.orient import HeuristicSettings

        return HeuristicSettings(**{f.name: getattr(self, f.name) for f in dataclasses.fields(AnatomyConfig)})
