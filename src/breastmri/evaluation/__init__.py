"""Scores defined by others, computed exactly as they define them (the MAMA-MIA challenge: :mod:`.challenge`)."""
