"""``breastmri-infer``: segment one case with a trained checkpoint.

    breastmri-infer --phases_folder CASE_DIR --checkpoint_path models/lesion/best.pt --out_dir OUT
    breastmri-infer --scan SCAN.nii.gz       --checkpoint_path models/breast/best.pt --out_dir OUT
                    [--mask_path TRUTH.nii.gz] [--threshold 0.45|threshold.json] [--device auto|cpu|cuda]
                    [--breast_checkpoint_path models/breast/best.pt] [--skin_margin_mm 3]

* a LESION checkpoint takes ``--phases_folder`` (a MAMA-MIA case folder ``<CASE>/<CASE>_0000.nii.gz``,
  ``_0001``, ...; or a folder holding the DCE as one DICOM series, split into its phases); the model reads the
  phases its checkpoint records as its input channels (the build's ``lesion_channels``), a listed phase the case
  lacks as zeros, as in training; a BREAST checkpoint takes ``--scan`` (a NIfTI file or a DICOM series folder);
  the case is named after the file or folder;
* writes ``<CASE>_pred.nii.gz`` (uint8, exactly the shape and affine of ``_0000`` / the scan; for DICOM input,
  of the volume read from the series) and
  ``<CASE>_prob.nii.gz`` (probabilities, same grid, stored as uint16 with the NIfTI scaling slope 1/65535:
  readers get values within 7.7e-6 of the model's); for a breast scan also ``<CASE>_tumor.nii.gz``
  (tumour candidate) and ``<CASE>_features.csv``; ``<CASE>_overlay.png``;
* with ``--breast_checkpoint_path`` (lesion only): the whole-breast model segments the breast on phase
  ``--breast_phase``; lesion probabilities outside the breast less ``--skin_margin_mm`` of skin are zero, and
  ``<CASE>_breast.nii.gz`` and ``<CASE>_tumor.nii.gz`` (candidate by enhancement, post-contrast minus
  pre-contrast) are written too; for a breast scan the candidate is found inside the breast less its skin;
* with ``--mask_path`` (ground truth on the same grid): ``<CASE>_metrics.txt`` with Dice and HD95 (mm),
  and the truth drawn on the overlay.

Scattered false-positive voxels are removed as in the inference stage: the largest 3D component of the
prediction is kept with every component at least ``--min_component_fraction`` of its size (multifocal
lesions of similar size stay; 0 keeps everything).

The threshold is ``--threshold`` (a number, or the threshold stage's ``threshold.json``), else the one
stored with the checkpoint (``threshold``, else ``params.threshold``).
Every input problem is reported as ``error: <file>: <problem>`` on stderr with exit code 1: a missing, corrupt
or non-finite file or affine, what the validate stage refuses (a scan or phase under 4 voxels along an axis or
constant, a ``--mask_path`` that is not 0/1), an unreadable, foreign or hand-edited checkpoint (keys missing,
wrong task, weights that do not fit or are not finite, unusable recorded preprocessing, a stored threshold
outside (0, 1)), phases or mask of another geometry, CUDA
unavailable. Nothing is written then: outputs are assembled in a temporary folder and moved into ``--out_dir``
only at the end (a killed run's folder is removed when the next run into the same ``--out_dir`` starts; that of
a run alive in another process is left alone). Runs into the same ``--out_dir`` at once each move their files in
together (:class:`~breastmri.data.atomic.StagingFolder`): each file is the complete one of the run that moved it
in last, and a case written by both comes wholly from one of them.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from breastmri.data.atomic import StagingFolder, remove_abandoned_staging
from breastmri.data.errors import DataError
from breastmri.data.io import is_nifti, load_volume, save_nifti, strip_nifti_suffix
from breastmri.data.validation import check_scan
from breastmri.inference.postprocess import DEFAULT_MIN_FRACTION


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="breastmri-infer", description="Segment one case with a trained "
                                     "checkpoint (lesion: a MAMA-MIA phases folder; whole breast: one scan).")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--phases_folder", type=Path, help="MAMA-MIA case folder <CASE>/<CASE>_000k.nii.gz, or a "
                                                           "folder holding the DCE as one DICOM series (lesion "
                                                           "checkpoint)")
    source.add_argument("--scan", type=Path, help="a single NIfTI scan or DICOM series folder (whole-breast "
                                                  "checkpoint)")
    parser.add_argument("--mask_path", type=Path, help="optional ground-truth mask on the same grid: Dice/HD95")
    parser.add_argument("--checkpoint_path", type=Path, required=True, help="best.pt of the training stage")
    parser.add_argument("--out_dir", type=Path, required=True, help="output folder (created)")
    parser.add_argument("--threshold", help="probability threshold: a number in (0, 1) or the threshold stage's "
                                            "threshold.json (default: the one stored with the checkpoint)")
    parser.add_argument("--min_component_fraction", type=float, default=DEFAULT_MIN_FRACTION,
                        help="keep the largest 3D component of the prediction and every component at least this "
                             "share of its size (0 keeps all, 1 the largest only; default %(default)s)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--batch_size", type=int, default=8,
                        help="slices per forward pass (default %(default)s: on 2 CPU cores 155 slices of the default "
                             "model took 0.70 s at 8, 1.0 s at 16; the probabilities were the same bit for bit with 2 "
                             "threads, within 1e-7 with 1; raise it on a GPU)")
    parser.add_argument("--mirror_tta", action="store_true",
                        help="average each model's prediction (the lesion's and, with --breast_checkpoint_path, the "
                             "breast's) with that of the left-right mirrored slices (twice the cost)")
    parser.add_argument("--breast_checkpoint_path", type=Path,
                        help="--phases_folder only: whole-breast best.pt; lesions are kept inside its breast mask "
                             "less --skin_margin_mm of skin, and the tumour candidate is written too")
    parser.add_argument("--breast_phase", type=int, choices=(0, 1), default=1,
                        help="phase the breast model segments: 0 pre-contrast, 1 first post-contrast (default)")
    parser.add_argument("--skin_margin_mm", type=float, default=3.0,
                        help="skin taken off the breast mask where it meets the air (not at the chest wall) "
                             "before the lesion restriction and the tumour candidate (default %(default)s)")
    parser.add_argument("--tumor_percentile", type=float, default=98.0,
                        help="the tumour candidate is a component of the breast's voxels (less its skin) above this "
                             "percentile (of the intensity with --scan, of the enhancement with --phases_folder and "
                             "--breast_checkpoint_path; default %(default)s) ...")
    parser.add_argument("--tumor_core_mm", type=float, default=3.0,
                        help="... the one with the most voxels this far inside those voxels, so that thin vessels "
                             "cannot win (0: the largest component; default %(default)s)")
    parser.add_argument("--candidate_max_bulk_ratio", type=float, default=0.5,
                        help="--scan only: the candidate is reported untrusted (a warning) where the breast's median "
                             "is above this share of its 99th percentile: fat looks bright, not suppressed "
                             "(default %(default)s)")
    parser.add_argument("--affine", choices=("trust", "verify", "ignore"),
                        help="how far the file's affine describes the anatomy (docs/orientation.md); "
                             "verify = the affine places the scan and the anatomy must agree (default for --scan); "
                             "trust = the affine alone (default for --phases_folder: MAMA-MIA files are DICOM "
                             "conversions, and the anatomy checks assume an axial two-breast view); ignore = for "
                             "files like the seed data's, whose affines do not describe the anatomy")
    return parser


def parse_threshold(value: str | None) -> float | None:
    """``None``, a number in (0, 1), or the ``threshold`` of a threshold stage's JSON file."""
    from breastmri.inference.predictor import read_threshold

    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return read_threshold(value)
    if not 0.0 < number < 1.0:
        raise DataError(None, f"--threshold {value} is not in (0, 1)")
    return number


def metrics_text(case: str, task: str, metrics: dict) -> str:
    lines = [f"case: {case}", f"task: {task}"]
    for key, value in metrics.items():
        lines.append(f"{key}: {value:.6f}" if isinstance(value, float) else f"{key}: {value}")
    return "\n".join(lines) + "\n"


#: The flag that sets each field of the tumour candidate's rule (``CandidateRule``).
RULE_FLAGS = {"percentile": "--tumor_percentile", "core_mm": "--tumor_core_mm", "skin_margin_mm": "--skin_margin_mm",
              "max_bulk_ratio": "--candidate_max_bulk_ratio"}


def candidate_rule(args: argparse.Namespace):
    """The tumour candidate's rule of the flags, checked by the rule itself: a setting it refuses is reported under
    its flag's name."""
    from breastmri.inference.candidates import CandidateRule, SettingError

    try:
        return CandidateRule(args.tumor_percentile, args.tumor_core_mm, args.skin_margin_mm,
                             args.candidate_max_bulk_ratio)
    except SettingError as exc:
        raise DataError(None, f"{RULE_FLAGS[exc.field]} {exc.problem}") from None


def run(args: argparse.Namespace) -> dict:
    """Do the work; returns {name: final path}. Raises DataError on bad input; writes nothing then."""
    from breastmri.inference.predictor import check_task, predictor_from_state
    from breastmri.training.checkpoint import load_checkpoint

    remove_abandoned_staging(args.out_dir, STAGING)  # those of killed runs; a live run's is locked
    ckpt = Path(args.checkpoint_path)
    threshold = parse_threshold(args.threshold)
    if args.batch_size < 1:
        raise DataError(None, f"--batch_size must be >= 1, got {args.batch_size}")
    if args.min_component_fraction < 0:
        raise DataError(None, f"--min_component_fraction must be >= 0, got {args.min_component_fraction}")
    rule = candidate_rule(args)
    wanted = "lesion" if args.phases_folder is not None else "breast"
    affine_mode = args.affine or ("trust" if wanted == "lesion" else "verify")
    if args.breast_checkpoint_path is not None and wanted != "lesion":
        raise DataError(args.breast_checkpoint_path, "--breast_checkpoint_path goes with --phases_folder")
    # the task check comes first so a wrong-task checkpoint is reported before any image is read
    state = load_checkpoint(ckpt)
    found = check_task(state, ckpt)
    if found != wanted:
        hint = "--scan" if found == "breast" else "--phases_folder"
        given = "--phases_folder" if wanted == "lesion" else "--scan"
        raise DataError(ckpt, f"checkpoint is for the {found!r} task, but {given} needs a {wanted!r} "
                              f"checkpoint (a {found} checkpoint takes {hint})")
    predictor = predictor_from_state(state, ckpt, device=args.device, batch_size=args.batch_size,
                                     threshold=threshold, mirror_tta=args.mirror_tta)
    del state
    guide = None
    if args.breast_checkpoint_path is not None:
        from breastmri.inference.dce import BreastGuide

        breast_state = load_checkpoint(args.breast_checkpoint_path)
        if check_task(breast_state, args.breast_checkpoint_path) != "breast":
            raise DataError(args.breast_checkpoint_path, "--breast_checkpoint_path needs a 'breast' checkpoint")
        guide = BreastGuide(predictor_from_state(breast_state, args.breast_checkpoint_path, device=args.device,
                                                 batch_size=args.batch_size, mirror_tta=args.mirror_tta),
                            phase=args.breast_phase, skin_margin_mm=args.skin_margin_mm, affine_mode=affine_mode,
                            tumor_percentile=args.tumor_percentile, tumor_core_mm=args.tumor_core_mm)
        del breast_state

    with _Outputs(Path(args.out_dir)) as outputs:
        if wanted == "lesion":
            case, reference, fig_case, pred, truth, metrics = _lesion_case(args, predictor, guide, outputs)
        else:
            case, reference, fig_case, pred, truth, metrics = _breast_scan(args, predictor, affine_mode, rule, outputs)
        from breastmri.inference.figures import case_overlay

        outputs.add(f"{case}_overlay.png", "figure", case_overlay(fig_case, dict(metrics) or None,
                                                                  focus=wanted == "lesion"))
        if truth is not None:
            metrics.update(threshold=predictor.threshold, pred_voxels=int(pred.sum()),
                           truth_voxels=int(truth.sum()))
            outputs.add(f"{case}_metrics.txt", "text", metrics_text(case, wanted, metrics))
        # the order the outputs are moved in (and printed): breast / tumour, features, pred, prob, overlay, metrics
        return outputs.commit([f"{case}_{suffix}" for suffix in OUTPUT_ORDER])


#: Output files in the order they are moved into ``--out_dir`` and listed (those a run writes).
OUTPUT_ORDER = ("breast.nii.gz", "tumor.nii.gz", "features.csv", "pred.nii.gz", "prob.nii.gz", "overlay.png",
                "metrics.txt")


def _lesion_case(args, predictor, guide, outputs: "_Outputs"):
    """``--phases_folder``: predict, queue the masks for writing; returns what the overlay and metrics need."""
    from breastmri.inference.dce import predict_case, warn_unrestricted
    from breastmri.inference.figures import Case

    result = predict_case(predictor, args.phases_folder, args.min_component_fraction, guide)
    case, reference, prob, pred = result.case, result.reference, result.probability, result.lesion
    outputs.affine = reference.affine
    truth = _truth(args, reference)
    if guide is not None:
        warn_unrestricted(args.phases_folder, result)
        outputs.add(f"{case}_breast.nii.gz", "nifti", result.breast)
        outputs.add(f"{case}_tumor.nii.gz", "nifti", result.tumor)
    _add_prediction(outputs, case, pred, prob)
    fig_case = Case(case, result.display.array, reference.affine, result.breast, pred, truth)
    return case, reference, fig_case, pred, truth, _metrics(pred, truth, reference)


def _breast_scan(args, predictor, affine_mode: str, rule, outputs: "_Outputs"):
    """``--scan``: segment; the probability (as soon as it exists) and the mask are written in the background
    while the post-processing, the tumour candidate and the features are computed."""
    from breastmri.inference.features import TRUSTED, features_table
    from breastmri.inference.figures import Case
    from breastmri.inference.scan import scan_findings, segment_breast

    scan_path = Path(args.scan)
    if not (is_nifti(scan_path) or scan_path.is_dir()):
        raise DataError(scan_path, "expected a NIfTI file (.nii or .nii.gz) or a DICOM series folder")
    case = strip_nifti_suffix(scan_path.name)
    reference = load_volume(scan_path, case)
    check_scan(reference, "scan")  # the validate stage's rule
    truth = _truth(args, reference)
    outputs.affine = reference.affine
    seg = segment_breast(reference, predictor.predict_breast, predictor.threshold,
                         min_component_fraction=args.min_component_fraction, affine_mode=affine_mode,
                         on_probability=lambda prob: outputs.add(f"{case}_prob.nii.gz", "probability", prob))
    for problem in seg.qc["problems"]:
        print(f"WARNING: {scan_path}: implausible breast mask: {problem}", file=sys.stderr)
    outputs.add(f"{case}_pred.nii.gz", "nifti", seg.breast)
    result = scan_findings(reference, seg, rule)
    if not result.candidate["trusted"]:
        print(f"WARNING: {scan_path}: {result.candidate['problem']}", file=sys.stderr)
    outputs.add(f"{case}_tumor.nii.gz", "nifti", result.tumor)
    outputs.add(f"{case}_features.csv", "csv",
                features_table({case: {**result.features, TRUSTED: result.candidate["trusted"]}}))
    fig_case = Case(case, reference.array, reference.affine, result.breast, result.tumor, truth)
    return case, reference, fig_case, result.breast, truth, _metrics(result.breast, truth, reference)


def _truth(args, reference):
    if not args.mask_path:
        return None
    from breastmri.inference import evaluation as ev

    return ev.load_truth_mask(args.mask_path, reference)


def _metrics(pred, truth, reference) -> dict:
    if truth is None:
        return {}
    from breastmri.inference import evaluation as ev

    return ev.overlap_metrics(pred, truth, reference.spacing)


def _add_prediction(outputs: "_Outputs", case: str, pred: np.ndarray, prob: np.ndarray) -> None:
    """The probability first: the largest file, its compression the longest write."""
    outputs.add(f"{case}_prob.nii.gz", "probability", prob)
    outputs.add(f"{case}_pred.nii.gz", "nifti", np.asarray(pred, dtype=np.uint8))


#: Probabilities are written as uint16 levels with the NIfTI scaling slope 1 / PROBABILITY_LEVELS: readers that
#: apply the header's scaling (nibabel, SimpleITK / ITK, 3D Slicer, ITK-SNAP) get values within 7.7e-6 of the
#: model's, in a file about 20x smaller that is written about 10x faster than float32 (448 x 448 x 155: 0.35 s
#: and 5 MB vs 4.0 s and 108 MB); re-thresholding it reproduces ``_pred`` except for voxels that close to the
#: threshold.
PROBABILITY_LEVELS = 65535


def probability_levels(prob: np.ndarray) -> tuple[np.ndarray, float]:
    """``(levels, slope)``: ``prob`` (in [0, 1]) as the nearest of ``PROBABILITY_LEVELS`` + 1 uint16 levels, and
    the scaling slope that gives the probabilities back."""
    scaled = np.clip(np.asarray(prob, dtype=np.float32), 0.0, 1.0)  # one float32 copy, worked on in place
    np.rint(np.multiply(scaled, np.float32(PROBABILITY_LEVELS), out=scaled), out=scaled)
    return scaled.astype(np.uint16), 1.0 / PROBABILITY_LEVELS


STAGING = ".breastmri-infer-"  # + random: the staging folder of a run (a StagingFolder, locked while it is alive)


class _Outputs:
    """The run's outputs, written as they are added into a staging folder in ``out_dir`` (NIfTI, CSV and text by
    one background thread, so the compression, which releases the GIL, runs beside the rest of the work;
    figures on the calling thread, matplotlib being no thread-safe library), then moved into ``out_dir`` by
    :meth:`commit`. Leaving the ``with`` block otherwise removes the staging folder: nothing is written.
    ``affine``: that of every NIfTI output (set before the first one is added)."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.affine = None
        self._staging: StagingFolder | None = None
        self._stack = contextlib.ExitStack()  # holds the staging folder once opened
        self._pool: ThreadPoolExecutor | None = None
        self._pending: dict = {}  # name -> future (None: written on this thread)

    def __enter__(self) -> "_Outputs":
        return self

    def __exit__(self, *exc) -> None:
        try:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
        finally:
            self._stack.close()

    def _open(self) -> None:
        self._staging = self._stack.enter_context(StagingFolder(self.out_dir, STAGING))
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="breastmri-infer-write")

    def add(self, name: str, kind: str, payload) -> None:
        if name in self._pending:
            raise ValueError(f"output {name} added twice")
        if self._staging is None:
            self._open()
        if kind == "figure":
            self._write(name, kind, payload)
            self._pending[name] = None
        else:
            self._pending[name] = self._pool.submit(self._write, name, kind, payload)

    def _write(self, name: str, kind: str, payload) -> None:
        target = self._staging.path / name
        if kind == "nifti":
            save_nifti(payload, self.affine, target)
        elif kind == "probability":
            levels, slope = probability_levels(payload)
            save_nifti(levels, self.affine, target, slope=slope)
        elif kind == "csv":
            payload.to_csv(target, float_format="%.6g", lineterminator="\n")
        elif kind == "figure":
            from breastmri.analysis.figures import save_figure
            from breastmri.inference.figures import DPI

            save_figure(payload, target, DPI)
        else:
            target.write_text(payload)

    def commit(self, order: list[str]) -> dict:
        """Wait for every write (raising the first failure), then move the files into ``out_dir``: those named
        in ``order`` in that order, then any other; returns {name: final path}."""
        for future in self._pending.values():
            if future is not None:
                future.result()
        return self._staging.commit([n for n in order if n in self._pending] +
                                    [n for n in self._pending if n not in order])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        written = run(args)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in written.values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
