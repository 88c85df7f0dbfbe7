"""Synthetic breast-MRI phantom: deterministic anatomy, DCE phases, planted defects, ground truth."""
