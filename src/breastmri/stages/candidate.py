"""The ``candidate`` section of ``params.yaml``, shared by the infer and transfer stages."""

from __future__ import annotations

import dataclasses

from breastmri.stages.config import StageConfig


@dataclasses.dataclass(frozen=True)
class CandidateConfig(StageConfig):
    """The ``candidate`` section: the whole-breast pipeline's tumour-candidate rule and its trust test, shared by
    the infer stage and the transfer stage (:class:`breastmri.inference.candidates.CandidateRule`)."""

    tumor_percentile: float
    tumor_core_mm: float
    skin_margin_mm: float
    candidate_max_bulk_ratio: float

    def rule(self):
        """The section as a :class:`~breastmri.inference.candidates.CandidateRule` (which checks the values)."""
        from breastmri.inference.candidates import CandidateRule

        return CandidateRule(percentile=self.tumor_percentile, core_mm=self.tumor_core_mm,
                             skin_margin_mm=self.skin_margin_mm, max_bulk_ratio=self.candidate_max_bulk_ratio)
