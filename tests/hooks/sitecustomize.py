"""Test-only fault injection in the pcbench processes a test starts; never part of pcbench.

Python imports this file as ``sitecustomize`` at the start of every process whose
``PYTHONPATH`` holds this directory (the ``hooks`` fixture of ``tests/conftest.py`` puts it
there; a test's subprocesses, spawned local workers, SLURM tasks and Ray workers inherit it).
It patches pcbench modules when they are first imported (a meta-path finder), so a process
that never imports them pays nothing, and arms nothing until a test asks:

- **A kill between the renames.** A file :data:`KILL_AFTER` holding N in a results root
  (``<results>/<suite>/``, which every executor's tasks share, whatever environment they get)
  makes each process die (``os._exit``, no clean-up, like SIGKILL: status
  :data:`KILLED_STATUS`) between the predictions and the scores renames of its first commit
  after N completed ones (it wraps :func:`pcbench.store.results._write_parquet`).
- **A waiter made visible.** A process about to block on a results lock (a blocking
  ``FileLock.acquire`` in :mod:`pcbench.store.lock`) first writes its pid to :data:`WAITING`
  in that results root, so a test knows, without sleeping, that a run is waiting for the lock.

This module also serves the tests themselves (loaded under another name, nothing installed).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

DIRECTORY = Path(__file__).resolve().parent
KILL_AFTER = ".test-kill-after"
WAITING = ".test-waiting"
KILLED_STATUS = 137  # what a shell reports for a process ended by SIGKILL
_committed = 0  # cells this process has committed


def environment(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` with this directory first on ``PYTHONPATH``."""
    paths = [str(DIRECTORY), *filter(None, base.get("PYTHONPATH", "").split(os.pathsep))]
    return {**base, "PYTHONPATH": os.pathsep.join(paths)}


def arm_kill(root: Path, commits: int) -> None:
    """Make every hooked process die in its commit into ``root`` after ``commits`` completed ones."""
    root.mkdir(parents=True, exist_ok=True)
    (root / KILL_AFTER).write_text(str(commits), encoding="utf-8")


def disarm_kill(root: Path) -> None:
    """Let the next runs into ``root`` commit normally."""
    (root / KILL_AFTER).unlink()


def _patch_results(module: ModuleType) -> None:
    original = module._write_parquet

    def write_parquet(path: Path, table: Any, key: str) -> None:
        global _committed
        scores = path.parent.name == module.SCORES
        marker = path.parent.parent / KILL_AFTER
        if scores and marker.is_file() and _committed >= int(marker.read_text(encoding="utf-8")):
            os._exit(KILLED_STATUS)
        original(path, table, key)
        _committed += scores

    module._write_parquet = write_parquet


def _patch_lock(module: ModuleType) -> None:
    original = module.FileLock

    def file_lock(path: str | os.PathLike[str], *args: Any, **kwargs: Any) -> Any:
        lock = original(path, *args, **kwargs)
        acquire = lock.acquire

        def acquire_visibly(timeout: float | None = None, *more: Any, **options: Any) -> Any:
            if timeout is None or timeout < 0:
                (Path(path).parent / WAITING).write_text(str(os.getpid()), encoding="utf-8")
            return acquire(timeout, *more, **options)

        lock.acquire = acquire_visibly
        return lock

    module.FileLock = file_lock


_PATCHES: dict[str, Callable[[ModuleType], None]] = {
    "pcbench.store.results": _patch_results,
    "pcbench.store.lock": _patch_lock,
}


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Find the modules of :data:`_PATCHES` as usual and patch each right after it runs."""

    def find_spec(self, name: str, path: Sequence[str] | None, target: ModuleType | None = None) -> Any:
        if name not in _PATCHES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        run = spec.loader.exec_module

        def run_and_patch(module: ModuleType) -> None:
            run(module)
            _PATCHES[name](module)

        spec.loader.exec_module = run_and_patch  # type: ignore[method-assign]
        return spec


if __name__ == "sitecustomize":
    sys.meta_path.insert(0, _PatchOnImport())
