"""Streaming HDF5 writer: one patient's slices at a time, chunked per slice, temp file then rename.

Schema (``contracts.md``)::

    /images        float32 (N, C, S, S)   chunk (1, C, S, S)
    /masks         uint8   (N, 1, S, S)   chunk (1, 1, S, S)
    /patient_id    utf-8 str (N,)
    /slice_index   int32 (N,)             position along the volume's axis 2
    /is_validation bool (N,)
    /geometry      int32 (N, 6)           breast task only: orig_h, orig_w, new_h, new_w, pad_top, pad_left
    /phase_present bool (N, C)            lesion task only: which channels hold a phase the case has
    attrs: task, size, channels, seed, params (JSON string); also split (JSON string), n_slices

A lesion file's ``params`` holds ``phases``, the DCE phase of each channel, unless they are phases 0 to C-1 in
order, and ``breast_box`` (crop | mask) unless no breast box was applied: what every lesion file held before these
could be chosen, so such a file stays byte for byte the same; :class:`~breastmri.slices.h5file.SliceFile` reads
either.

Compression is per dataset (``image_compression``, ``mask_compression``: none, lzf, gzip1, gzip4).
The defaults come from ``benchmarks/hdf5_io.py``: z-scored float32 images barely compress (lzf saves
13-34 % but makes random reads 4-7x slower), binary masks shrink ~30-100x with gzip level 1 at almost
no read cost, and gzip (deflate) is readable by every HDF5 build (lzf needs h5py's own filter).
So images are stored uncompressed and masks with gzip1.

Datasets are created resizable (``maxshape=None`` along N) and grown per patient, so memory stays at
one patient's arrays whatever the number of patients. The file is written under a temporary name
beside the final path (``.<stem>.<random>.tmp.h5``) and renamed only after it has been closed cleanly:
an interrupted build never leaves a file under the final name.
"""

from __future__ import annotations

import functools
import json
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from breastmri.data.atomic import atomic_path

COMPRESSIONS = ("none", "lzf", "gzip1", "gzip4")
META_CHUNK = 4096


@dataclass
class PatientSlices:
    """The slices of one patient, as produced by a worker (arrays already in the stored layout)."""

    patient_id: str
    images: np.ndarray                       # float32 (K, C, S, S)
    masks: np.ndarray                        # uint8 (K, 1, S, S)
    slice_index: np.ndarray                  # int (K,)
    geometry: np.ndarray | None = None       # int32 (K, 6), breast task
    phase_present: np.ndarray | None = None  # bool (K, C), lesion task
    info: dict | None = None                 # per-patient facts for the build summary

    def __len__(self) -> int:
        return int(self.images.shape[0])


def compression_kwargs(name: str) -> dict:
    """h5py filter arguments for a compression name in :data:`COMPRESSIONS`."""
    if name == "none":
        return {}
    if name == "lzf":
        return {"compression": "lzf"}
    if name.startswith("gzip") and name[4:].isdigit() and 0 <= int(name[4:]) <= 9:
        return {"compression": "gzip", "compression_opts": int(name[4:])}
    raise ValueError(f"unknown compression {name!r} (use one of {', '.join(COMPRESSIONS)})")


class H5SliceWriter:
    """Context manager that appends :class:`PatientSlices` to a new HDF5 file and publishes it atomically."""

    def __init__(self, path: str | Path, task: str, size: int, channels: int, *, seed: int,
                 params: dict, split: dict | None = None, image_compression: str = "none",
                 mask_compression: str = "gzip1"):
        if task not in ("breast", "lesion"):
            raise ValueError(f"task must be 'breast' or 'lesion', got {task!r}")
        self.path = Path(path)
        self.task, self.size, self.channels = task, int(size), int(channels)
        self.seed, self.params, self.split = int(seed), dict(params), split
        self.image_filters = compression_kwargs(image_compression)
        self.mask_filters = compression_kwargs(mask_compression)
        self.n = 0
        self._stack: ExitStack | None = None
        self._file: h5py.File | None = None

    def __enter__(self) -> H5SliceWriter:
        self._stack = ExitStack()
        try:
            tmp = self._stack.enter_context(atomic_path(self.path))
            self._file = h5py.File(tmp, "w")
            self._create()
        except BaseException:
            self._abort()
            raise
        return self

    def _create(self) -> None:
        f, s, c = self._file, self.size, self.channels
        # no creation timestamps (h5py's default, made explicit): the same slices give the same bytes
        create = functools.partial(f.create_dataset, track_times=False)
        create("images", shape=(0, c, s, s), maxshape=(None, c, s, s), dtype=np.float32, chunks=(1, c, s, s),
               **self.image_filters)
        create("masks", shape=(0, 1, s, s), maxshape=(None, 1, s, s), dtype=np.uint8, chunks=(1, 1, s, s),
               **self.mask_filters)
        create("patient_id", shape=(0,), maxshape=(None,), dtype=h5py.string_dtype("utf-8"), chunks=(META_CHUNK,))
        create("slice_index", shape=(0,), maxshape=(None,), dtype=np.int32, chunks=(META_CHUNK,))
        create("is_validation", shape=(0,), maxshape=(None,), dtype=bool, chunks=(META_CHUNK,))
        if self.task == "breast":
            create("geometry", shape=(0, 6), maxshape=(None, 6), dtype=np.int32, chunks=(META_CHUNK, 6))
        else:
            create("phase_present", shape=(0, c), maxshape=(None, c), dtype=bool, chunks=(META_CHUNK, c))
        f.attrs["task"] = self.task
        f.attrs["size"] = self.size
        f.attrs["channels"] = self.channels
        f.attrs["seed"] = self.seed
        f.attrs["params"] = json.dumps(self.params, sort_keys=True)
        if self.split is not None:
            f.attrs["split"] = json.dumps(self.split, sort_keys=True)

    def append(self, batch: PatientSlices, is_validation: bool) -> None:
        """Append one patient's slices (grows every dataset by ``len(batch)``)."""
        k, s, c = len(batch), self.size, self.channels
        if k == 0:
            return
        if batch.images.shape != (k, c, s, s) or batch.masks.shape != (k, 1, s, s):
            raise ValueError(f"{batch.patient_id}: expected images ({k}, {c}, {s}, {s}) and masks "
                             f"({k}, 1, {s}, {s}), got {batch.images.shape} and {batch.masks.shape}")
        extra = "geometry" if self.task == "breast" else "phase_present"
        extra_values = batch.geometry if self.task == "breast" else batch.phase_present
        width = 6 if self.task == "breast" else c
        if extra_values is None or np.shape(extra_values) != (k, width):
            raise ValueError(f"{batch.patient_id}: {extra} must have shape ({k}, {width})")
        f, lo, hi = self._file, self.n, self.n + k
        for name in ("images", "masks", "patient_id", "slice_index", "is_validation", extra):
            f[name].resize(hi, axis=0)
        f["images"][lo:hi] = np.asarray(batch.images, dtype=np.float32)
        f["masks"][lo:hi] = np.asarray(batch.masks, dtype=np.uint8)
        f["patient_id"][lo:hi] = [batch.patient_id] * k
        f["slice_index"][lo:hi] = np.asarray(batch.slice_index, dtype=np.int32)
        f["is_validation"][lo:hi] = np.full(k, bool(is_validation))
        f[extra][lo:hi] = np.asarray(extra_values, dtype=f[extra].dtype)
        self.n = hi

    def _abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._stack is not None:
            stack, self._stack = self._stack, None
            try:
                stack.__exit__(RuntimeError, RuntimeError("aborted"), None)  # deletes the temp file
            except RuntimeError:
                pass

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            self._abort()
            return False
        self._file.attrs["n_slices"] = self.n
        self._file.close()
        self._file = None
        stack, self._stack = self._stack, None
        stack.close()  # renames the temp file to the final path
        return False
