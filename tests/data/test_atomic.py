"""Write-then-rename: complete files only, usual permissions, temp names keep the format suffix."""

import os

import pytest

from breastmri.data.atomic import atomic_path, write_text_atomic


def test_success_renames_with_usual_permissions(tmp_path):
    final = tmp_path / "deep" / "scan.nii.gz"
    with atomic_path(final) as tmp:
        assert tmp.name.endswith(".tmp.nii.gz") and tmp.parent == final.parent
        tmp.write_bytes(b"data")
    assert final.read_bytes() == b"data"
    mask = os.umask(0)
    os.umask(mask)
    assert final.stat().st_mode & 0o777 == 0o666 & ~mask
    assert os.listdir(final.parent) == ["scan.nii.gz"]


def test_failure_leaves_neither_final_nor_temp(tmp_path):
    write_text_atomic(tmp_path / "m.json", "old")
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "m.json") as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert os.listdir(tmp_path) == ["m.json"] and (tmp_path / "m.json").read_text() == "old"
