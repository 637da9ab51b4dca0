"""Atomic writes: old or new content, never half-written, with the mode the umask gives."""

from __future__ import annotations

import os
import stat

import pytest

from pcbench.files import atomic_write


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_get_the_mode_the_umask_gives(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        atomic_write(tmp_path / "out" / "file.csv", lambda handle: handle.write(b"a,b\n"))
    finally:
        os.umask(previous)
    path = tmp_path / "out" / "file.csv"
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert path.read_bytes() == b"a,b\n"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "file.txt"
    path.write_bytes(b"old")

    def fail(handle):
        handle.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, fail)
    assert path.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]
