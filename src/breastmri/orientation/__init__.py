"""Orientation: the working frame, contrast-free anatomical decisions, mask alignment, QC and records.

* :mod:`~breastmri.orientation.frame`      the working frame (A, L, S) from a file's affine, exact inverse
* :mod:`~breastmri.orientation.heuristics` body outline, each decision ``Decision(flip, margin)``, placement QC
* :mod:`~breastmri.orientation.record`     ``OrientationRecord``; ``to_oriented_frame`` / ``to_original_frame``
* :mod:`~breastmri.orientation.orient`     ``orient_scan`` (inference, no mask) and ``orient_pair`` (training)
* :mod:`~breastmri.orientation.dataset`      ``orient_dataset`` (parallel, QC, all-or-nothing outputs), CLI
* :mod:`~breastmri.orientation.evaluate`   accuracy against the phantom's truth (the only reader of truth)
* :mod:`~breastmri.orientation.figures`    mask-alignment overlays, preview choice
"""
