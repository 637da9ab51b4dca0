"""Atomic file writes: a file is either its old self or completely new, never half-written."""

import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

#: Suffix of the hidden temporary files (``.<name>.*.tmp``) that a killed write can leave.
TEMP_SUFFIX = ".tmp"
_UMASK_LOCK = threading.Lock()


def creation_mode() -> int:
    """The mode a plainly created file gets: ``0o666`` less the process umask.

    ``tempfile.mkstemp`` creates files with mode ``0o600`` whatever the umask; pcbench's
    results, leaderboards and caches are meant to be shared, so they get the usual mode.
    """
    with _UMASK_LOCK:  # reading the umask means setting it; keep the window closed
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` through ``write(handle)`` atomically, creating its directory.

    The bytes go to a hidden ``.<name>.*.tmp`` file next to ``path``, are fsynced and
    then ``os.replace``-d onto ``path``; if anything fails the temp file is removed and
    the exception propagates, leaving any previous ``path`` untouched. The file gets the
    mode the umask gives (:func:`creation_mode`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        os.fchmod(fd, creation_mode())
        with open(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
