"""Atomic file writes, the temporary files they leave when killed, and confined deletion.

A file is either its old self or completely new, never half-written. The hidden temporary
file of a write is named ``.<name>.<host>-<pid>.<random>.tmp`` so that a later cleanup can
tell whether its writer is still running (:func:`writer_alive`). Deletes go through
:func:`remove_inside`, which refuses any target outside the directory that pcbench manages.
"""

import errno
import os
import re
import socket
import stat
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from pcbench.errors import PcbenchError

#: Suffix of the hidden temporary files (``.<name>.*.tmp``) that a killed write can leave.
TEMP_SUFFIX = ".tmp"
#: A temporary file's name: the target's name, the writer (absent in names written before
#: pcbench recorded it) and ``mkstemp``'s random part, which holds no dot.
_TEMP_NAME = re.compile(
    r"\.(?P<target>.+?)(?:\.(?P<host>[A-Za-z0-9_-]*)-(?P<pid>[0-9]+))?\.[^.]+" + re.escape(TEMP_SUFFIX)
)
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


def host_tag() -> str:
    """This host's name as it appears in temporary file names: ``[A-Za-z0-9_-]``, at most 40."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:40]


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` through ``write(handle)`` atomically, creating its directory.

    The bytes go to a hidden ``.<name>.<host>-<pid>.<random>.tmp`` file next to ``path``,
    are fsynced and then ``os.replace``-d onto ``path``; if anything fails the temp file is
    removed and the exception propagates, leaving any previous ``path`` untouched (an
    OSError of a write to the open file, e.g. a full disk, is given ``path`` as its file
    name, so that the error names where pcbench was writing). The file gets the mode the
    umask gives (:func:`creation_mode`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.{host_tag()}-{os.getpid()}."
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=TEMP_SUFFIX)
    try:
        os.fchmod(fd, creation_mode())
        with open(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as error:
        Path(temp).unlink(missing_ok=True)
        if error.errno is not None and error.filename is None:  # a write to the open file: name it
            raise OSError(error.errno, error.strerror, str(path)) from error
        raise
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def temp_target(temp: Path) -> str | None:
    """The name of the file that the temporary file ``temp`` was written for, or ``None``.

    ``None`` when ``temp`` is not named like one of :func:`atomic_write`'s temporary files.
    """
    match = _TEMP_NAME.fullmatch(Path(temp).name)
    return match["target"] if match else None


def writer_alive(temp: Path) -> bool | None:
    """Whether the process writing the temporary file ``temp`` still runs.

    ``True`` or ``False`` when the name records a writer on this host; ``None`` when it
    cannot tell: another host's writer, a name from before pcbench recorded the writer, a
    name that is not a temporary file's, or a platform where probing a pid is unsafe.
    """
    match = _TEMP_NAME.fullmatch(Path(temp).name)
    if match is None or match["pid"] is None or match["host"] != host_tag() or sys.platform == "win32":
        return None  # on Windows, os.kill(pid, 0) would send CTRL_C_EVENT
    pid = int(match["pid"])
    if pid <= 0:  # os.kill(0, 0) would probe this process group: no writer has such a pid
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_inside(path: Path, managed: Path) -> None:
    """Delete the file, symbolic link or empty directory ``path``, strictly inside ``managed``.

    ``path``'s parents are resolved, following symbolic links, but ``path`` itself is not:
    a link is unlinked, never followed. A target that is not strictly inside the resolved
    ``managed`` (``managed`` itself, anything outside it, a name ending in ``..``) raises
    :class:`~pcbench.errors.PcbenchError` and nothing is deleted. A directory that is not
    empty raises ``OSError`` (nothing recursive is ever deleted); a missing ``path`` is no
    error.
    """
    path = Path(path)
    root = Path(managed).resolve()
    target = path.parent.resolve() / path.name
    if path.name in ("", ".", "..") or root not in target.parents:
        raise PcbenchError(f"refusing to delete {path}: it is not inside {root}, which pcbench manages")
    try:
        if target.is_dir() and not target.is_symlink():
            target.rmdir()
        else:
            target.unlink()
    except FileNotFoundError:
        pass


def real_path(path: str | Path) -> Path:
    """``path`` absolute, with its links resolved as far as they go: unlike ``Path.resolve()``
    never raises, not even for a symlink loop (the looping part is left as it is)."""
    return Path(os.path.realpath(Path(path).expanduser()))


def file_problem(path: Path) -> str | None:
    """None when ``path`` is (or links to) a regular file; otherwise what it is instead, for an
    error message: ``does not exist``, ``is a symlink loop``, ``is a directory``, ``is a named
    pipe (FIFO)``, ``is a device``, ``is a socket`` or ``cannot be read (<reason>)``.

    Example::

        file_problem(Path("/dev/zero"))   # 'is a device'
    """
    try:
        mode = path.stat().st_mode
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "is a symlink loop"
        if error.errno in (errno.ENOENT, errno.ENOTDIR):
            return "is a link to a missing file" if path.is_symlink() else "does not exist"
        return f"cannot be read ({error.strerror or error})"
    if stat.S_ISREG(mode):
        return None
    kinds = {stat.S_ISDIR: "is a directory", stat.S_ISFIFO: "is a named pipe (FIFO)", stat.S_ISSOCK: "is a socket"}
    return next((text for test, text in kinds.items() if test(mode)), "is a device")


def inside(root: str | Path, *names: str) -> Path:
    """``root / names[0] / names[1] ...``, where every name is one path component: a second
    guard, behind the name rule (:mod:`pcbench.names`), that a path pcbench derives from a
    name stays inside the directory it manages. Raises PcbenchError naming both otherwise
    (a separator, ``.``, ``..``, an empty name or a NUL in a name). Links the user placed
    inside ``root`` are left to the user: the check is on the names, not on the file system.

    Example::

        inside(weights_dir(), f"{name}-feedback.pt")
    """
    for name in names:
        if name in ("", ".", "..") or "/" in name or os.sep in name or "\0" in name:
            raise PcbenchError(
                f"refusing to write {Path(root).joinpath(*names)}: {name!r} is not one file name inside {root}, "
                "which pcbench manages"
            )
    return Path(root).joinpath(*names)
