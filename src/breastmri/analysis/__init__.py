"""Analyses and figures shown in the stage notebooks: EDA, orthogonal views, correlation."""
