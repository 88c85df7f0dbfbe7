"""Scores defined by others, computed as they define them, deviations named (the MAMA-MIA challenge: :mod:`.challenge`)."""
