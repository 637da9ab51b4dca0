"""Worker processes that never re-run the user's script.

``spawn`` and ``forkserver`` children normally re-execute the parent's ``__main__`` file (as
``__mp_main__``) before they run their task, so that functions defined in a script can be
unpickled there. pcbench's workers only ever run pcbench's own module-level functions, and a
script that calls ``pcbench.run`` without an ``if __name__ == "__main__":`` guard would have
every worker run the whole script again: each re-run would evaluate the suite anew and wait
forever for the results lock its own parent holds.

:func:`mainless_context` gives a multiprocessing context whose processes are started with
the parent's ``__main__`` hidden: the child receives no main module to re-import, so the
user's script body runs exactly once, in the parent, guard or not. Decision: hide the main
module rather than ask every user for the guard; the one thing lost is unpickling objects
defined in a script, which pcbench's workers never receive (models defined only in a script
are refused before a distributed run, :func:`pcbench.executors.coordinator.check_models`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import multiprocessing.context
import os
import signal
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: ``prctl`` option: the signal the kernel sends a process when its parent dies (Linux).
_PR_SET_PDEATHSIG = 1
#: Start methods :func:`mainless_context` supports (``fork`` does not re-import ``__main__``).
START_METHODS = ("spawn", "forkserver")


@contextmanager
def _main_hidden() -> Iterator[None]:
    """``sys.modules["__main__"]`` replaced by an empty module for the ``with`` block, so that
    :func:`multiprocessing.spawn.get_preparation_data` names no main module to re-import."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


class _MainlessSpawnProcess(multiprocessing.context.SpawnProcess):
    @staticmethod
    def _Popen(process_obj):  # noqa: N802 (multiprocessing's name)
        with _main_hidden():
            return multiprocessing.context.SpawnProcess._Popen(process_obj)


class _MainlessForkServerProcess(multiprocessing.context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj):  # noqa: N802 (multiprocessing's name)
        with _main_hidden():
            return multiprocessing.context.ForkServerProcess._Popen(process_obj)


class _MainlessSpawnContext(multiprocessing.context.SpawnContext):
    Process = _MainlessSpawnProcess


class _MainlessForkServerContext(multiprocessing.context.ForkServerContext):
    Process = _MainlessForkServerProcess


def mainless_context(method: str) -> multiprocessing.context.BaseContext:
    """A ``spawn`` or ``forkserver`` context whose processes (pool workers, managers) do not
    re-import the parent's ``__main__``; pass it as ``mp_context`` or use its ``Manager()``.

    Example::

        pool = ProcessPoolExecutor(2, mp_context=mainless_context("forkserver"))
    """
    if method == "spawn":
        return _MainlessSpawnContext()
    if method == "forkserver":
        return _MainlessForkServerContext()
    raise ValueError(f"start method {method!r}; allowed: {', '.join(START_METHODS)}")


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process as soon as its parent (``parent_pid``) dies, however
    it dies (Linux ``PR_SET_PDEATHSIG``); exit at once if the parent is already gone. Use as a
    worker initializer, so that no worker outlives, or writes results for, a killed run.
    Elsewhere than Linux nothing is set (workers then end when their task queue closes).

    Example::

        ProcessPoolExecutor(2, mp_context=ctx, initializer=die_with_parent, initargs=(os.getpid(),))
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)


def process_status(pid: int) -> tuple[str, int] | None:
    """``(state, parent pid)`` of process ``pid`` from ``/proc/<pid>/stat`` (state ``"Z"``: a
    zombie), or None where ``/proc`` does not tell (no such process, not Linux).

    Example::

        process_status(os.getpid())   # ('R', <parent pid>)
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return fields[0], int(fields[1])
