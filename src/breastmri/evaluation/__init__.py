"""Scores defined by others, computed as they define them, deviations named (the MAMA-MIA challenge: :mod:`.challenge`),
and the bridge to their reference method (nnU-Net v2: :mod:`.nnunet`)."""
