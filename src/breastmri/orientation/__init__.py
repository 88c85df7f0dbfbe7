"""Orientation normalisation: affine canonicalisation, intensity heuristics, mask alignment, records."""
