"""The jobs folder of a results directory: what each task of a distributed run is doing.

``<results>/<suite>/.jobs/<run id>/`` holds ``manifest.json`` (executor, job id, and per task
its model and cells) and, written by each task itself, ``task-<i>.json`` (``state``:
running, done or failed; host, pid, the cell it is evaluating, the error) and its log
``task-<i>.log`` (the task's stdout and stderr). The files are the same for every executor,
so ``pcbench status`` reads them without asking SLURM or Ray. A task that died without a
word (killed, out of memory) still says ``running``; on this host its pid tells.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pcbench.executors.units import WorkUnit
from pcbench.files import atomic_write, remove_inside

JOBS = ".jobs"


def jobs_root(results_dir: Path, suite: str) -> Path:
    """``<results>/<suite>/.jobs``."""
    return Path(results_dir) / suite / JOBS


def write_manifest(run_dir: Path, executor: str, units: list[WorkUnit], job_id: str | None = None) -> None:
    """Record a run's tasks (and, once known, its job id) in ``manifest.json``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    manifest = {
        "run_id": units[0].run_id if units else run_dir.name,
        "executor": executor,
        "job_id": job_id,
        "created_at": _now(),
        "tasks": [
            {"index": unit.index, "model": unit.model, "cells": list(unit.cells), "log": str(log_path(unit))}
            for unit in units
        ],
    }
    _write_json(run_dir / "manifest.json", manifest)


def log_path(unit: WorkUnit) -> Path:
    """Where a task's stdout and stderr go."""
    return Path(unit.jobs) / f"task-{unit.index}.log"


@contextlib.contextmanager
def task_record(unit: WorkUnit) -> Iterator[Callable[[str], None]]:
    """Record the task's state around the ``with`` block, its output in its log.

    Yields the callback to call with each cell's stem before evaluating it. On an
    exception the state becomes ``failed`` with the error, and the exception propagates.
    """
    path = Path(unit.jobs) / f"task-{unit.index}.json"
    state: dict[str, Any] = {
        "index": unit.index,
        "model": unit.model,
        "state": "running",
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "cell": None,
        "started_at": _now(),
        "log": str(log_path(unit)),
    }

    def at_cell(stem: str) -> None:
        state["cell"] = stem
        _write_json(path, state)

    _write_json(path, state)
    with _output_to(log_path(unit)):
        try:
            yield at_cell
        except BaseException as error:
            traceback.print_exc()
            state.update(state="failed", error=f"{type(error).__name__}: {error}", ended_at=_now())
            _write_json(path, state)
            raise
    state.update(state="done", cell=None, ended_at=_now())
    _write_json(path, state)


@contextlib.contextmanager
def _output_to(log: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors 1 and 2) to ``log``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "ab") as handle:
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def mark_failed(unit: WorkUnit, error: str) -> None:
    """Record a task as failed with the executor's ``error``, unless it recorded that itself
    (a task killed or never started cannot); the cell it was on, if any, is kept."""
    path = Path(unit.jobs) / f"task-{unit.index}.json"
    state: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {
        "index": unit.index, "model": unit.model, "host": None, "pid": None, "cell": None, "log": str(log_path(unit)),
    }  # fmt: skip
    if state.get("state") == "failed":
        return
    state.update(state="failed", error=error, ended_at=_now())
    _write_json(path, state)


def remove_run(run_dir: Path, jobs: Path) -> None:
    """Delete a run's folder (its files, then its folders, deepest first), inside ``jobs`` only."""
    for path in sorted(run_dir.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        remove_inside(path, jobs)
    remove_inside(run_dir, jobs)


@dataclass(frozen=True)
class TaskState:
    """What a task's state file says, with a dead pid on this host read as ``failed``."""

    index: int
    model: str
    state: str
    cell: str | None
    error: str | None
    log: str


def task_states(run_dir: Path) -> list[TaskState]:
    """The state of every task of a run that has started (in index order)."""
    states = []
    for path in sorted(run_dir.glob("task-*.json"), key=lambda p: int(p.stem.split("-")[1])):
        record = json.loads(path.read_text())
        state, error = record["state"], record.get("error")
        if state == "running" and record["host"] == socket.gethostname() and not _alive(record["pid"]):
            state, error = "failed", "the task's process is gone (killed?) without recording an error"
        states.append(TaskState(record["index"], record["model"], state, record.get("cell"), error, record["log"]))
    return states


def latest_run(root: Path) -> Path | None:
    """The newest run folder under a jobs root (run ids sort by time), or None."""
    runs = sorted(path for path in root.glob("*") if (path / "manifest.json").is_file()) if root.is_dir() else []
    return runs[-1] if runs else None


def read_manifest(run_dir: Path) -> Mapping[str, Any]:
    """A run's ``manifest.json``."""
    return json.loads((run_dir / "manifest.json").read_text())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_json(path: Path, value: Mapping[str, Any]) -> None:
    atomic_write(path, lambda handle: handle.write(json.dumps(value, indent=1).encode()))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
