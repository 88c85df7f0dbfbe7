"""Reproducible breast-MRI analysis pipeline (whole-breast and DCE lesion tasks)."""

__version__ = "0.1.0"
