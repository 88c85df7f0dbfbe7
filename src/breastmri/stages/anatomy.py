"""The ``anatomy`` and ``candidate`` sections of ``params.yaml``, each shared by several stages."""

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

    def heuristics(self):
        """The section as :class:`~breastmri.orientation.orient.HeuristicSettings` (which checks the values)."""
        from breastmri.orientation.orient import HeuristicSettings

        return HeuristicSettings(**{f.name: getattr(self, f.name) for f in dataclasses.fields(AnatomyConfig)})


@dataclasses.dataclass(frozen=True)
class CandidateConfig(StageConfig):
    """The ``candidate`` section: the whole-breast pipeline's tumour-candidate rule and its trust test, shared by
    the infer stage and the transfer stage (:func:`breastmri.inference.scan.scan_findings`)."""

    tumor_percentile: float
    tumor_core_mm: float
    skin_margin_mm: float
    candidate_max_bulk_ratio: float

    def candidate_settings(self) -> dict:
        """The section as :func:`~breastmri.inference.breast_cases.infer_dataset`'s keyword arguments."""
        return dict(tumor_percentile=self.tumor_percentile, tumor_core_mm=self.tumor_core_mm,
                    skin_margin_mm=self.skin_margin_mm, max_bulk_ratio=self.candidate_max_bulk_ratio)
