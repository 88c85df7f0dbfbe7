"""Checkpoints: tensors and plain Python values only, written atomically, read with ``weights_only``.

A checkpoint is a dict with at least ``model_state``, ``model_config`` (to rebuild the network at
inference), ``task``, ``epoch`` and ``params``; training checkpoints (``last.pt``) add the optimizer,
scheduler, scaler and early-stopping states, the best weights so far, the per-epoch history and the
RNG states (as tensors) so an interrupted run resumes exactly.

``load_checkpoint`` uses ``torch.load(weights_only=True)``: a file that would need to unpickle an
arbitrary object (a class instance, a function, a numpy array) is refused, so loading a checkpoint
never runs code from the file.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import torch

from breastmri.data.atomic import atomic_path, remove_stale_temps
from breastmri.data.errors import DataError

REQUIRED_KEYS = ("model_state", "model_config", "task", "epoch", "params")
FORMAT_VERSION = 1


def save_checkpoint(state: dict, path: str | Path) -> Path:
    """Write ``state`` to ``path`` atomically (temp file beside it, then rename).

    Saved through a file object, so the zip's record names do not carry the temporary file's random name,
    and in :func:`canonical` form: the same state gives the same bytes, whether it was built in one run or
    partly loaded from an interrupted run's ``last.pt`` (DVC hashes of a retrained or resumed model match).
    """
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise ValueError(f"checkpoint state lacks {', '.join(missing)}")
    state = {"format_version": FORMAT_VERSION, **state}
    remove_stale_temps(path)  # left by a run killed while saving: not part of the persisted model folder
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(canonical(state), fh)
    return Path(path)


def canonical(value):
    """``value`` rebuilt with fresh containers and interned strings, so pickle's memo (which shares repeated
    objects by identity) sees the same sharing however the state was assembled: a dict key loaded from a file
    and the same key written in code are one object."""
    if isinstance(value, dict):  # an OrderedDict state_dict keeps its type and its _metadata (module versions)
        out = type(value)((canonical(k), canonical(v)) for k, v in value.items())
        if hasattr(value, "__dict__"):
            out.__dict__.update(canonical(vars(value)))
        return out
    if isinstance(value, (list, tuple)):
        return type(value)(canonical(v) for v in value)
    if isinstance(value, str):
        return sys.intern(value)
    return value


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint safely; raise :class:`DataError` naming the file when it cannot be used."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "checkpoint not found")
    if path.stat().st_size == 0:
        raise DataError(path, "checkpoint is empty (0 bytes)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if not _looks_like_torch_file(path):  # e.g. a text file: nothing was refused, it is not a checkpoint
            raise DataError(path, "cannot read checkpoint (corrupt, truncated or not a PyTorch file): neither "
                                  "the zip archive nor the pickle stream torch.save writes") from exc
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(path, "refused: the checkpoint contains pickled Python objects, which are not "
                              f"loaded (weights_only=True): {first}") from exc
    except Exception as exc:  # noqa: BLE001 - the weights-only unpickler raises anything on foreign bytes
        detail = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise DataError(path, f"cannot read checkpoint (corrupt, truncated or not a PyTorch file): {detail}") from exc
    if not isinstance(state, dict):
        raise DataError(path, f"not a checkpoint: top level is {type(state).__name__}, expected a dict")
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise DataError(path, f"not a checkpoint: missing {', '.join(missing)}")
    return state


def _looks_like_torch_file(path: Path) -> bool:
    """Whether the file starts as ``torch.save`` output does: a zip archive, or (legacy format) a pickle of
    protocol 2 or higher."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    return head.startswith(b"PK\x03\x04") or head.startswith(b"\x80")


def rng_state() -> dict:
    """CPU and CUDA generator states as tensors."""
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
