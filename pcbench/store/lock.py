"""One writer per results directory: ``<root>/.lock``, held by a run from start to end.

``pcbench run`` takes an exclusive :mod:`filelock` lock (``flock``) on ``<root>/.lock``
(``root = <results>/<suite>``) before it drops, cleans or commits anything under ``root``,
and releases it when it ends. The operating system releases it when the process dies,
however it dies, so a lock is never stale. A second run on the same directory either waits,
printing once to stderr who holds the lock, or (``wait=False``, ``pcbench run --no-wait``)
fails with one line naming the holder.

Decision: the holder's pid, host and start time go to a sidecar file ``<root>/.lock.holder``
(JSON), written once the lock is taken and removed just before it is released; not into the
lock file itself, which every waiter opens (filelock before 4.0 truncates it on open). A
holder killed before its clean-up leaves a stale sidecar, which the next holder overwrites;
a waiter that finds none, or a half-written one (the moment between another run's taking
the lock and writing it), names "an unknown process".

Readers (``compare``, ``plot``, ``report``) never take the lock: they only ever see whole,
renamed files (:mod:`pcbench.store.results`).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from filelock import FileLock, Timeout

from pcbench.errors import PcbenchError
from pcbench.processes import process_status

LOCK_FILE = ".lock"
HOLDER_FILE = ".lock.holder"


@contextmanager
def results_lock(root: Path, *, wait: bool = True) -> Iterator[None]:
    """Hold ``<root>/.lock`` for the ``with`` block, creating ``root`` if needed.

    When another process holds it: with ``wait``, print once to stderr ``waiting for the
    lock on <root>, held by <holder>`` and block until it is free; without, raise. Raises
    PcbenchError when ``root`` cannot be created or locked, or, with ``wait=False``, naming
    the holder (:func:`describe_holder`).
    """
    root = Path(root)
    lock = FileLock(_lock_file(root))
    _acquire(lock, root, wait)
    try:
        _write_holder(root)
        yield
    finally:
        with contextlib.suppress(OSError):  # e.g. a directory planted at its place: left as it is
            (root / HOLDER_FILE).unlink(missing_ok=True)
        lock.release()


def describe_holder(root: Path) -> str:
    """``pid <pid> on <host> since <time>`` from ``root``'s holder file, else ``an unknown process``."""
    return _describe(_read_holder(root))


def _read_holder(root: Path) -> dict[str, object] | None:
    """``root``'s holder record (pid, host, since), or None when it is missing or not whole."""
    try:
        holder = json.loads((Path(root) / HOLDER_FILE).read_text(encoding="utf-8"))
        return {"pid": int(holder["pid"]), "host": str(holder["host"]), "since": str(holder["since"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _describe(holder: dict[str, object] | None) -> str:
    if holder is None:
        return "an unknown process"
    return f"pid {holder['pid']} on {holder['host']} since {holder['since']}"


def _lock_file(root: Path) -> Path:
    """``<root>/.lock``, after creating ``root``."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise PcbenchError(f"cannot create the results directory {root}: {error.strerror or error}") from error
    return root / LOCK_FILE


def _acquire(lock: FileLock, root: Path, wait: bool) -> None:
    """Take ``lock`` at once, or report the holder and wait for it (``wait``) or raise."""
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            record = _read_holder(root)
            _refuse_own_lock(root, record)
            holder = _describe(record)
            if not wait:
                raise PcbenchError(
                    f"{root} is in use by another pcbench run, {holder}: wait until it ends, "
                    "or run without --no-wait to wait for it"
                ) from None
            print(f"waiting for the lock on {root}, held by {holder}", file=sys.stderr, flush=True)
            lock.acquire()
    except OSError as error:
        raise PcbenchError(f"cannot lock {root / LOCK_FILE}: {error.strerror or error}") from error


def _refuse_own_lock(root: Path, holder: dict[str, object] | None) -> None:
    """Raise when the lock is held by this process or one of its ancestors on this host:
    waiting would never end (typically a worker process that re-ran a script calling pcbench
    without an ``if __name__ == "__main__":`` guard)."""
    if holder is None or holder["host"] != socket.gethostname() or holder["pid"] not in _this_process_and_ancestors():
        return
    who = "this process" if holder["pid"] == os.getpid() else "a parent of this process"
    raise PcbenchError(
        f"{root} is locked by {who} ({_describe(holder)}): waiting for it would never end; a script that calls "
        'pcbench must run it under if __name__ == "__main__": (its worker processes must not run it again), '
        "and one run may not start another on the same results directory"
    )


def _this_process_and_ancestors() -> set[int]:
    """This process's pid and its ancestors' (all of them where ``/proc`` tells, else the parent)."""
    pids, pid = {os.getpid(), os.getppid()}, os.getppid()
    while pid > 1 and (status := process_status(pid)) is not None:
        pid = status[1]
        pids.add(pid)
    return pids


def _write_holder(root: Path) -> None:
    """Record this process as the holder: its pid, host and the time it took the lock.

    The file is created anew, never opened through a link: whatever is at its place (a
    planted symlink, a stale record) is unlinked first, which removes a link, not its target.
    """
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    path = root / HOLDER_FILE
    try:
        path.unlink(missing_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    except OSError as error:
        raise PcbenchError(
            f"cannot write the lock holder record {path}: {error.strerror or error}; allowed: a results "
            "directory whose .lock.holder is a plain file or absent"
        ) from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(holder))
