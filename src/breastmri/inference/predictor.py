"""Slice-by-slice prediction of a whole volume, with exactly the preprocessing used for training.

* Whole-breast task (:meth:`SlicePredictor.predict_breast`): the ORIENTED volume is prepared with
  :func:`breastmri.slices.breast.prepare_volume` (volume-level clip + z-score, every axial slice
  ``[:, :, k]`` resized/padded to ``size``), the network runs on batches of slices, and each probability
  slice is put back onto the volume's in-plane grid with
  :func:`~breastmri.slices.geometry.undo_resize_pad` (linear), giving a probability volume of the input's
  shape. Threshold and post-processing are the caller's (``prob > threshold`` as in training).
* Lesion task (:meth:`SlicePredictor.predict_lesion`): the case's phases are resampled to the isotropic
  training grid (SimpleITK, :func:`breastmri.slices.resample.resample_case`), normalised with the case's
  pooled mean/std, every axial slice of the channels' phases (``Preprocessing.phases``: the DCE phase of each
  input channel, recorded by the build; zeros for a phase the case lacks) is resized/padded as in
  :mod:`breastmri.slices.lesion`, each image first restricted to the case's breast box when the build did so
  (``Preprocessing.breast_box``) and the case has one; the probability volume is undone per slice and resampled
  back (linear) onto the pre-contrast phase's own grid, so it has the ``_0000`` file's shape (zero outside a
  cropped box).

The preprocessing settings come with the checkpoint when it carries them (``preprocessing`` or
``params.preprocessing`` or ``params.size``), else from the HDF5 file the model was trained on
(its ``size`` and ``params`` attributes), else from the caller / the ``build_hdf5`` defaults
(:func:`resolve_preprocessing`). A lesion checkpoint that records no channel phases predates the channel list:
its ``C`` input channels are phases 0 to C-1; one that records no breast box mode used none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from breastmri.data.errors import DataError
from breastmri.parallel import each_slice

TASKS = ("breast", "lesion")


@dataclass(frozen=True)
class Preprocessing:
    """What the slices were made with: task, square size, clip percentiles (breast), grid spacing, the DCE
    phase of each input channel (empty when not recorded) and the breast box mode (lesion)."""

    task: str
    size: int
    low_pct: float = 1.0
    high_pct: float = 99.0
    spacing_mm: float = 1.0
    source: str = "default"
    phases: tuple[int, ...] = ()
    breast_box: str = "ignore"

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if int(self.size) < 1:
            raise ValueError(f"size must be positive, got {self.size}")
        if not 0.0 <= self.low_pct < self.high_pct <= 100.0:
            raise ValueError(f"clip percentiles must satisfy 0 <= low_pct < high_pct <= 100, got {self.low_pct}, "
                             f"{self.high_pct}")
        if not self.spacing_mm > 0.0:
            raise ValueError(f"spacing_mm must be positive, got {self.spacing_mm}")
        if self.phases:
            from breastmri.data.layouts import check_channel_phases

            check_channel_phases(list(self.phases), "phases")  # a DataError is a ValueError
        from breastmri.data.layouts import BREAST_BOX_MODES

        if self.breast_box not in BREAST_BOX_MODES:
            raise ValueError(f"breast_box must be one of {BREAST_BOX_MODES}, got {self.breast_box!r}")


def _from_mapping(task: str, values: Mapping, source: str) -> Preprocessing | None:
    if "size" not in values:
        return None
    return Preprocessing(task=task, size=int(values["size"]), low_pct=float(values.get("low_pct", 1.0)),
                         high_pct=float(values.get("high_pct", 99.0)),
                         spacing_mm=float(values.get("spacing_mm", 1.0)), source=source,
                         phases=tuple(values.get("phases", ())),
                         breast_box=str(values.get("breast_box", "ignore")))


def h5_preprocessing(source, task: str | None = None) -> Preprocessing:
    """The preprocessing recorded in a slice HDF5 file (a path or a :class:`~breastmri.slices.h5file.SliceFile`)."""
    from breastmri.slices.h5file import SliceFile

    if not isinstance(source, SliceFile):
        source = SliceFile(source, task)
    return _from_mapping(source.task, source.preprocessing(), f"{source.path} attributes")


def checkpoint_params(state: Mapping, source: str | Path | None = None) -> Mapping:
    """The checkpoint's ``params`` mapping (empty when absent or None); anything else is a :class:`DataError`
    naming ``source`` (a hand-edited or foreign file)."""
    params = state.get("params", {})
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise DataError(source, f"checkpoint params is a {type(params).__name__}, expected a mapping")
    return params


def resolve_preprocessing(state: Mapping, h5_path: str | Path | None = None,
                          fallback: Mapping | None = None, source: str | Path | None = None) -> Preprocessing:
    """Preprocessing of a checkpoint ``state``: from the checkpoint, else ``h5_path``, else ``fallback``
    (keys size/low_pct/high_pct/spacing_mm); none of them is an error naming ``source`` (the checkpoint file):
    never a guess. Unusable values recorded in the checkpoint are an error naming ``source`` too."""
    task = str(state["task"])
    params = checkpoint_params(state, source)
    for values, origin in ((state.get("preprocessing"), "checkpoint"),
                           (params.get("preprocessing"), "checkpoint params"), (params, "checkpoint params")):
        if isinstance(values, Mapping):
            try:
                found = _from_mapping(task, values, origin)
            except (TypeError, ValueError) as exc:
                raise DataError(source, f"unusable slice preprocessing in the {origin}: {exc}") from exc
            if found is not None:
                return found
    if h5_path is not None and Path(h5_path).is_file():
        return h5_preprocessing(h5_path, task)
    if fallback:
        found = _from_mapping(task, fallback, "given settings")
        if found is not None:
            return found
    raise DataError(source, "the checkpoint records no slice preprocessing (size, clip percentiles, spacing): "
                             "give the HDF5 slice file it was trained from")


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; asking for CUDA without one is an error."""
    device = str(device).lower()
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DataError(None, "device 'cuda' was requested but no CUDA GPU is available (use --device cpu)")
        return torch.device(device)
    if device == "cpu":
        return torch.device("cpu")
    raise DataError(None, f"unknown device {device!r} (auto, cpu or cuda)")


def build_model_from_state(state: Mapping, path: str | Path | None = None) -> torch.nn.Module:
    """Rebuild the U-Net of a checkpoint and load its weights (DataError naming ``path`` on a mismatch)."""
    from breastmri.model.unet import UNet

    try:
        model = UNet(**dict(state["model_config"]))
        model.load_state_dict(state["model_state"])
    except (TypeError, ValueError, RuntimeError, KeyError) as exc:
        raise DataError(path, f"checkpoint weights do not fit its model_config: {_one_line(exc)}") from exc
    broken = [name for name, value in model.state_dict().items()
              if value.is_floating_point() and not bool(torch.isfinite(value).all())]
    if broken:
        raise DataError(path, f"checkpoint weights hold NaN or infinite values ({len(broken)} tensor(s), "
                              f"first {broken[0]})")
    return model.eval()


def _one_line(exc: BaseException) -> str:
    """``load_state_dict`` lists one mismatch per line: the first one and how many more, on one line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if lines and lines[0].startswith("Error(s) in loading state_dict"):
        lines = lines[1:]
    if not lines:
        return type(exc).__name__
    return lines[0].rstrip(".") + (f" (and {len(lines) - 1} more)" if len(lines) > 1 else "")


class SlicePredictor:
    """Runs a 2D model over every slice of a volume in batches; see the module docstring."""

    def __init__(self, model: torch.nn.Module, preprocessing: Preprocessing, threshold: float = 0.5,
                 device: str | torch.device = "cpu", batch_size: int = 16, mirror_tta: bool = False):
        self.device = torch.device(device) if not isinstance(device, torch.device) else device
        self.model = model.eval().to(self.device)
        self.preprocessing = preprocessing
        self.threshold = float(threshold)
        self.batch_size = max(1, int(batch_size))
        self.mirror_tta = bool(mirror_tta)

    @property
    def task(self) -> str:
        return self.preprocessing.task

    # -- network ---------------------------------------------------------------------------------
    @torch.inference_mode()
    def forward_slices(self, images: np.ndarray) -> np.ndarray:
        """Sigmoid probabilities ``(K, S, S)`` float32 for prepared slices ``(K, C, S, S)``.

        With ``mirror_tta`` the probability is the mean of the slice's and of its left-right mirror's (mirrored
        back): left-right is the slices' last axis, working-frame axis 1, in both tasks."""
        out = np.empty((images.shape[0], images.shape[2], images.shape[3]), dtype=np.float32)
        for start in range(0, images.shape[0], self.batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(images[start:start + self.batch_size])).to(self.device)
            prob = torch.sigmoid(self.model(batch).float())
            if self.mirror_tta:
                mirrored = torch.sigmoid(self.model(torch.flip(batch, dims=[-1])).float())
                prob = (prob + torch.flip(mirrored, dims=[-1])) / 2
            out[start:start + len(batch)] = prob[:, 0].cpu().numpy()
        return out

    def binarize(self, prob: np.ndarray) -> np.ndarray:
        """``prob > threshold`` as uint8 (the rule used for the training metrics)."""
        return (np.asarray(prob) > self.threshold).astype(np.uint8)

    # -- whole-breast task -----------------------------------------------------------------------
    def predict_breast(self, oriented: np.ndarray, spacing=None) -> np.ndarray:
        """Probability volume (float32, the input's shape) for an oriented 3D scan; ``spacing``: its
        working-frame spacing in mm (slices keep their proportions in mm, as in training; None: square pixels)."""
        from breastmri.slices.breast import prepare_volume
        from breastmri.slices.geometry import undo_resize_pad

        self._require("breast")
        oriented = np.asarray(oriented, dtype=np.float32)
        if oriented.ndim != 3:
            raise ValueError(f"expected a 3D volume, got shape {oriented.shape}")
        p = self.preprocessing
        images, geometry = prepare_volume(oriented, p.size, p.low_pct, p.high_pct, spacing)
        probs = self.forward_slices(images)
        return restore_slices(probs, geometry, undo_resize_pad)

    # -- lesion task -----------------------------------------------------------------------------
    def lesion_inputs(self, phase_paths: list, box=None):
        """Prepared slices ``(K, C, S, S)``, their geometry and the isotropic / original grids. ``phase_paths``:
        the phases of the ``C`` channels (``preprocessing.phases``, in that order) as
        :func:`~breastmri.slices.resample.resample_case` takes them (files or volumes; ``None`` where the case
        lacks one; :func:`~breastmri.data.layouts.channel_entries` picks them); ``box``: the case's
        :class:`~breastmri.data.layouts.BreastBox` (``None``: none), applied as ``preprocessing.breast_box`` says.
        The slices come from
        :func:`~breastmri.slices.lesion.prepare_phase_slices`, the function the HDF5 build uses, so inference sees
        exactly what training saw."""
        from breastmri.slices.geometry import SliceGeometry
        from breastmri.slices.lesion import prepare_phase_slices
        from breastmri.slices.resample import isotropic_reference, phase_image, resample_case, within_box

        p = self.preprocessing
        if len(phase_paths) != len(p.phases):
            raise ValueError(f"expected the phases of the {len(p.phases)} channels {list(p.phases)}, got "
                             f"{len(phase_paths)} entries")
        phases, _, shape = resample_case(list(phase_paths), None, p.spacing_mm, box, p.breast_box)
        images, _ = prepare_phase_slices(phases, p.size)
        geometry = SliceGeometry.for_shape(shape[0], shape[1], p.size)
        original = phase_image(phase_paths[0])
        reference = isotropic_reference(within_box(original, box, p.breast_box), p.spacing_mm)  # the grid resampled
        return images, geometry, reference, original

    def predict_lesion(self, phase_paths: list, box=None) -> np.ndarray:
        """Probability volume on the pre-contrast phase's own grid (its stored array shape); ``box`` as
        :meth:`lesion_inputs` takes it: a model built within breast boxes predicts zero outside the case's box (the
        challenge's own restriction; the linear resampling back would otherwise bleed one voxel past a crop)."""
        import SimpleITK as sitk

        from breastmri.slices.geometry import undo_resize_pad
        from breastmri.slices.resample import to_array

        self._require("lesion")
        images, geometry, reference, original = self.lesion_inputs(phase_paths, box)
        iso = restore_slices(self.forward_slices(images), geometry, undo_resize_pad)
        image = sitk.GetImageFromArray(np.ascontiguousarray(iso.transpose(2, 1, 0)))
        image.CopyInformation(reference)
        back = sitk.Resample(image, original, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
        prob = np.clip(to_array(back), 0.0, 1.0).astype(np.float32)
        if box is not None and self.preprocessing.breast_box != "ignore":
            inside = np.zeros(prob.shape, bool)
            inside[box.slices(prob.shape)] = True
            prob[~inside] = 0.0
        return prob

    def _require(self, task: str) -> None:
        if self.task != task:
            raise DataError(None, f"this is a {self.task!r} model; it cannot predict the {task!r} task")


def restore_slices(probs: np.ndarray, geometry, undo, workers: int | None = None) -> np.ndarray:
    """Undo resize/pad of each ``(S, S)`` probability slice -> ``(h, w, K)`` volume clipped to [0, 1].

    The slices are independent: ``workers`` threads (:func:`~breastmri.parallel.each_slice`; default
    :func:`~breastmri.parallel.slice_threads`) undo them, each slice exactly as alone. Each is written whole into
    a ``(K, h, w)`` array, returned as its ``(h, w, K)`` view: writing the slices as strided columns of an
    ``(h, w, K)`` array instead cost more than the resizing (0.53 s of 1.22 s for 155 slices to 448 x 448)."""
    out = np.empty((probs.shape[0], geometry.orig_h, geometry.orig_w), dtype=np.float32)

    def restore(k: int) -> None:
        out[k] = undo(probs[k], geometry, order=1)

    each_slice(restore, probs.shape[0], workers)
    return np.clip(out, 0.0, 1.0, out=out).transpose(1, 2, 0)


def load_predictor(checkpoint_path: str | Path, device: str = "auto", batch_size: int = 16,
                   threshold: float | None = None, task: str | None = None,
                   h5_path: str | Path | None = None, preprocessing: Mapping | None = None,
                   mirror_tta: bool = False) -> SlicePredictor:
    """A :class:`SlicePredictor` from a checkpoint file (``load_checkpoint``, ``weights_only=True``).

    ``task``: the expected task; a checkpoint of another task is a :class:`DataError` naming the file.
    ``threshold``: default = the checkpoint's ``threshold`` (top level, else ``params.threshold``, else 0.5).
    """
    from breastmri.training.checkpoint import load_checkpoint

    path = Path(checkpoint_path)
    state = load_checkpoint(path)
    check_task(state, path, task)
    return predictor_from_state(state, path, device, batch_size, threshold, h5_path, preprocessing, mirror_tta)


def check_task(state: Mapping, path: str | Path | None, task: str | None = None) -> str:
    """The checkpoint's task; a :class:`DataError` naming ``path`` when it is unknown or not ``task``."""
    found = str(state["task"])
    if found not in TASKS:
        raise DataError(path, f"unknown task {found!r} in checkpoint")
    if task is not None and found != task:
        raise DataError(path, f"checkpoint is for the {found!r} task, but the {task!r} task was asked for")
    return found


def predictor_from_state(state: Mapping, path: str | Path | None = None, device: str = "auto",
                         batch_size: int = 16, threshold: float | None = None, h5_path: str | Path | None = None,
                         preprocessing: Mapping | None = None, mirror_tta: bool = False) -> SlicePredictor:
    """A :class:`SlicePredictor` from an already loaded checkpoint ``state`` (see :func:`load_predictor`)."""
    check_task(state, path)
    if threshold is None:
        threshold = state.get("threshold", checkpoint_params(state, path).get("threshold", 0.5))
        if not (isinstance(threshold, (int, float)) and 0.0 < float(threshold) < 1.0):
            raise DataError(path, f"stored threshold {threshold!r} is not a probability in (0, 1)")
    model = build_model_from_state(state, path)
    prep = channel_phases(resolve_preprocessing(state, h5_path, preprocessing, source=path),
                          int(state["model_config"]["in_channels"]), path)
    return SlicePredictor(model, prep, float(threshold), resolve_device(device), batch_size, mirror_tta)


def channel_phases(prep: Preprocessing, in_channels: int, path: str | Path | None = None) -> Preprocessing:
    """``prep`` of a model with ``in_channels`` inputs: a lesion model's recorded channel phases must be one per
    channel (else a :class:`DataError` naming ``path``); none recorded (a checkpoint from before the channel list)
    means phases 0 to ``in_channels - 1``."""
    if prep.task != "lesion":
        return prep
    if not prep.phases:
        return replace(prep, phases=tuple(range(in_channels)))
    if len(prep.phases) != in_channels:
        raise DataError(path, f"the preprocessing records {len(prep.phases)} channel phases {list(prep.phases)} for "
                              f"a model of {in_channels} input channels")
    return prep


def read_threshold(path: str | Path) -> float:
    """The chosen threshold from the threshold stage's JSON (key ``threshold``, or ``best_threshold``)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "threshold file not found")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(path, f"not valid JSON: {exc}") from exc
    for key in ("threshold", "best_threshold", "chosen_threshold"):
        if isinstance(data, Mapping) and isinstance(data.get(key), (int, float)):
            value = float(data[key])
            if not 0.0 < value < 1.0:
                raise DataError(path, f"threshold {value} is not in (0, 1)")
            return value
    raise DataError(path, "no 'threshold' value in the file")
