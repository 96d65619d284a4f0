"""Atomic writes: stale part files of killed runs are cleaned; concurrent writers are refused."""

import os
import subprocess
import sys

import pytest

from inslib.io.atomic import ConcurrentWriteError, atomic_path


def _dead_pid() -> int:
    """Return the id of a process that has exited (a finished child)."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    return int(child.stdout)


def test_part_files_of_killed_runs_are_removed_by_the_next_write(tmp_path):
    target = tmp_path / "out.nxs"
    stale = tmp_path / f".out.nxs.{_dead_pid()}.part"
    stale.write_bytes(b"")  # what kill -9 during a write leaves
    live = tmp_path / f".out.nxs.{os.getppid()}.part"  # a live process's: kept
    live.write_bytes(b"")
    with atomic_path(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert not stale.exists()
    assert live.exists()
    assert not (tmp_path / ".out.nxs.lock").exists()  # released


def test_a_second_writer_of_the_same_name_is_refused(tmp_path):
    target = tmp_path / "out.nxs"
    expected = rf"out.nxs: another run \(process {os.getpid()}\) is writing"
    with atomic_path(target) as tmp:
        tmp.write_text("first")
        with pytest.raises(ConcurrentWriteError, match=expected), atomic_path(target):
            pass
    assert target.read_text() == "first"


def test_the_lock_of_a_dead_writer_is_taken_over(tmp_path):
    target = tmp_path / "out.nxs"
    (tmp_path / ".out.nxs.lock").write_text(str(_dead_pid()))
    with atomic_path(target) as tmp:
        tmp.write_text("ok")
    assert target.read_text() == "ok"


def test_a_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "out.nxs"
    def fail():
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail()
    assert list(tmp_path.iterdir()) == []
