"""Atomic file writes: a file is either its old self or completely new, never half-written."""

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

#: Suffix of the hidden temporary files (``.<name>.*.tmp``) that a killed write can leave.
TEMP_SUFFIX = ".tmp"


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` through ``write(handle)`` atomically, creating its directory.

    The bytes go to a hidden ``.<name>.*.tmp`` file next to ``path``, are fsynced and
    then ``os.replace``-d onto ``path``; if anything fails the temp file is removed and
    the exception propagates, leaving any previous ``path`` untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with open(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
