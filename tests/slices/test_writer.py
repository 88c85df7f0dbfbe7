"""Acceptance 5: an interrupted build leaves no final-named file; the writer's schema checks."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest

from breastmri.slices.build import build_breast_h5
from breastmri.slices.writer import H5SliceWriter, PatientSlices, compression_kwargs

SLOW_BUILD = textwrap.dedent("""
    import sys, time
    from breastmri.slices import breast, build
    real = breast.breast_patient
    def slow(*args, **kwargs):
        time.sleep(0.4)
        return real(*args, **kwargs)
    breast.breast_patient = slow
    build.build_breast_h5(sys.argv[1], sys.argv[2], size=16, workers=1, progress=False)
""")


def test_killed_build_leaves_no_final_file_and_a_rebuild_works(seed_root, tmp_path):
    out = tmp_path / "processed" / "breast.h5"
    proc = subprocess.Popen([sys.executable, "-c", SLOW_BUILD, str(seed_root), str(out)])
    try:
        deadline = time.monotonic() + 60
        temps = []
        while not temps and time.monotonic() < deadline:  # the writer has started: temp file exists
            temps = list(out.parent.glob(".breast.*.tmp.h5")) if out.parent.exists() else []
            time.sleep(0.05)
        assert temps, "the build never started writing"
        time.sleep(0.6)  # mid-way: 5 patients x 0.4 s
        assert proc.poll() is None, "the build finished before it could be interrupted"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    assert list(out.parent.glob(".breast.*.tmp.h5"))  # only the temporary name remains
    summary = build_breast_h5(seed_root, out, size=16, progress=False)
    assert out.exists() and summary["n_slices"] == 22
    assert not list(out.parent.glob(".breast.*.tmp.h5"))  # stale temporary files are cleaned up
    with h5py.File(out) as f:
        assert f.attrs["n_slices"] == 22


def _batch(k, pid="P"):
    return PatientSlices(pid, np.zeros((k, 1, 8, 8), np.float32), np.zeros((k, 1, 8, 8), np.uint8),
                         np.arange(k), geometry=np.zeros((k, 6), np.int32))


def test_writer_failure_removes_temp_and_keeps_no_file(tmp_path):
    out = tmp_path / "breast.h5"
    with pytest.raises(ValueError, match="expected images"):
        with H5SliceWriter(out, "breast", 8, 1, seed=0, params={}) as w:
            w.append(_batch(2), False)
            w.append(PatientSlices("Q", np.zeros((1, 1, 4, 4), np.float32), np.zeros((1, 1, 4, 4), np.uint8),
                                   np.arange(1), geometry=np.zeros((1, 6), np.int32)), False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["none", "lzf", "gzip1", "gzip4"])
def test_compressions_round_trip(tmp_path, name):
    out = tmp_path / "b.h5"
    with H5SliceWriter(out, "breast", 8, 1, seed=0, params={}, image_compression=name,
                       mask_compression=name) as w:
        b = _batch(3)
        b.images[:] = np.random.default_rng(0).random(b.images.shape)
        w.append(b, True)
    with h5py.File(out) as f:
        assert np.array_equal(f["images"][:], b.images) and f["is_validation"][:].all()
        assert f["images"].compression == compression_kwargs(name).get("compression")
        assert f["masks"].compression == compression_kwargs(name).get("compression")
    with pytest.raises(ValueError):
        compression_kwargs("zstd")
