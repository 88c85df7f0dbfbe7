"""Write-then-rename: complete files only, usual permissions, temp names keep the format suffix."""

import os
import shutil
import threading

import pytest

from breastmri.data.atomic import (LOCK, StagingFolder, atomic_dir, atomic_path, locked, remove_abandoned_staging,
                                   remove_stale_temps, write_text_atomic)


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


def test_remove_stale_temps_deletes_only_leftovers_of_that_target(tmp_path):
    final = tmp_path / "scan.nii.gz"
    stale = tmp_path / ".scan.k3j2_x.tmp.nii.gz"   # what atomic_path names a temp of final
    other = tmp_path / ".other.k3j2_x.tmp.nii.gz"  # another target's temp
    for path in (final, stale, other):
        path.write_text("x")
    assert remove_stale_temps(final) == [stale]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([final.name, other.name])


def test_a_killed_writer_leaves_a_temp_the_next_write_removes(tmp_path):
    final = tmp_path / "report.ipynb"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(final) as tmp:
            tmp.write_text("half")
            os.link(tmp, tmp.with_name(tmp.name.replace(".tmp", "x.tmp")))  # survives as a SIGKILL would leave it
            raise KeyboardInterrupt
    assert not final.exists() and len(list(tmp_path.iterdir())) == 1
    remove_stale_temps(final)
    write_text_atomic(final, "whole")
    assert [p.name for p in tmp_path.iterdir()] == ["report.ipynb"]


def test_atomic_dir_replaces_the_folder_only_when_complete(tmp_path):
    final = tmp_path / "deep" / "Dataset501_X"
    with atomic_dir(final) as tmp:
        assert tmp.parent == final.parent and tmp.name.startswith(".Dataset501_X.") and not any(tmp.iterdir())
        (tmp / "a.txt").write_text("first")
    assert [p.name for p in final.iterdir()] == ["a.txt"]
    mask = os.umask(0)
    os.umask(mask)
    assert final.stat().st_mode & 0o777 == 0o777 & ~mask
    with pytest.raises(RuntimeError):
        with atomic_dir(final) as tmp:
            (tmp / "b.txt").write_text("half")
            raise RuntimeError("interrupted")
    assert [p.name for p in final.parent.iterdir()] == ["Dataset501_X"]
    assert [p.name for p in final.iterdir()] == ["a.txt"]
    with atomic_dir(final) as tmp:
        (tmp / "b.txt").write_text("second")
    assert [p.name for p in final.parent.iterdir()] == ["Dataset501_X"]  # the old folder is gone too
    assert [p.name for p in final.iterdir()] == ["b.txt"]


def test_remove_stale_temps_removes_a_killed_atomic_dir(tmp_path):
    final = tmp_path / "Dataset501_X"
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(final) as tmp:
            (tmp / "a.txt").write_text("half")
            shutil.copytree(tmp, tmp.with_name(tmp.name.replace(".tmp", "x.tmp")))  # as a SIGKILL would leave it
            raise KeyboardInterrupt
    (stale,) = tmp_path.iterdir()
    assert remove_stale_temps(final) == [stale] and not any(tmp_path.iterdir())


def test_staging_folder_moves_its_files_in_beside_the_others_or_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "other_case.txt").write_text("kept")
    with StagingFolder(out, ".run-") as staging:
        assert staging.path.parent == out and staging.path.name.startswith(".run-")
        for name in ("a.txt", "b.txt"):
            (staging.path / name).write_text(name)
        assert staging.commit(["b.txt", "a.txt"]) == {"b.txt": out / "b.txt", "a.txt": out / "a.txt"}
    assert sorted(p.name for p in out.iterdir()) == sorted(["a.txt", "b.txt", "other_case.txt", LOCK])
    with pytest.raises(RuntimeError):
        with StagingFolder(out, ".run-") as staging:
            (staging.path / "a.txt").write_text("half")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in out.iterdir()) == sorted(["a.txt", "b.txt", "other_case.txt", LOCK])
    assert (out / "a.txt").read_text() == "a.txt"


def test_remove_abandoned_staging_keeps_the_folders_of_live_runs(tmp_path):
    killed = tmp_path / ".run-killed"  # no process holds its lock
    killed.mkdir()
    (killed / "a.txt").write_text("half")
    (tmp_path / ".other-x").mkdir()  # another prefix
    with StagingFolder(tmp_path, ".run-") as live:
        assert remove_abandoned_staging(tmp_path, ".run-") == [killed]
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([".other-x", live.path.name, LOCK])
    assert remove_abandoned_staging(tmp_path / "absent", ".run-") == []



def test_a_commit_waits_while_another_run_commits_into_the_folder(tmp_path):
    """A commit moves its files in only while it holds the folder's lock, so two runs' files never interleave."""
    out = tmp_path / "out"
    with StagingFolder(out, ".run-") as run:
        for name in ("pred.nii.gz", "prob.nii.gz"):
            (run.path / name).write_text("new")
        with locked(out):  # another run's commit under way
            committing = threading.Thread(target=run.commit, args=(["pred.nii.gz", "prob.nii.gz"],))
            committing.start()
            committing.join(0.5)
            assert committing.is_alive() and not any(p.name.endswith(".nii.gz") for p in out.iterdir())
        committing.join(10)
        assert not committing.is_alive()
    assert sorted(p.name for p in out.iterdir()) == sorted(["pred.nii.gz", "prob.nii.gz", LOCK])  # LOCK: empty, kept
