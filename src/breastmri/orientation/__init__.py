"""Orientation normalisation: affine canonicalisation, intensity heuristics, mask alignment, records.

* :mod:`~breastmri.orientation.canonical`  ornt transform from a file's affine, to/from the canonical frame
* :mod:`~breastmri.orientation.heuristics` each decision a small function returning ``Decision(flip, margin)``
* :mod:`~breastmri.orientation.record`     ``OrientationRecord``; ``to_oriented_frame`` / ``to_original_frame``
* :mod:`~breastmri.orientation.orient`     ``orient_scan`` (inference, no mask) and ``orient_pair`` (training)
* :mod:`~breastmri.orientation.stage`      ``orient_dataset`` (parallel, writes volumes + record), CLI
* :mod:`~breastmri.orientation.evaluate`   accuracy against the phantom's truth (the only reader of truth)
* :mod:`~breastmri.orientation.figures`    mask-alignment overlays, preview choice
"""
