"""The jobs folder of a results directory: what each task of a distributed run is doing.

``<results>/<suite>/.jobs/<run id>/`` holds ``manifest.json`` (executor, job id, and per task
its model and cells) and, written by each task itself, ``task-<i>.json`` (``state``:
running, done or failed; host, pid, the cell it is evaluating, the error) and its log
``task-<i>.log`` (the task's stdout and stderr). The files are the same for every executor,
so ``pcbench status`` reads them without asking SLURM or Ray. A task that died without a
word (killed, out of memory) still says ``running``; on this host its pid tells.

The files are input like any other (a user may copy, truncate or edit them):
:func:`read_manifest` and :func:`task_states` check every field and raise
:class:`DamagedRecord`, one line naming the file and what is wrong. Decision: a damaged record
cannot prove that a task still writes, so it blocks no run; ``pcbench status`` and ``pcbench
run`` name it in a warning and treat the run's tasks as ended (their cells count as missing
until stored). ``pcbench status SUITE --forget`` deletes the latest run's records (inside the
jobs folder only), for a damaged record or a task that stays ``running`` on another host.
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

from pcbench.errors import PcbenchError
from pcbench.executors.options import EXECUTORS
from pcbench.executors.units import WorkUnit
from pcbench.files import atomic_write, inside, remove_inside
from pcbench.processes import process_status

JOBS = ".jobs"


def jobs_root(results_dir: Path, suite: str) -> Path:
    """``<results>/<suite>/.jobs``."""
    return inside(results_dir, suite, JOBS)


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
    descriptor = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o666)  # never through a link
    with open(descriptor, "ab") as handle:
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
    state: dict[str, Any] = {
        "index": unit.index, "model": unit.model, "host": None, "pid": None, "cell": None, "log": str(log_path(unit)),
    }  # fmt: skip
    if path.exists():
        with contextlib.suppress(DamagedRecord):  # a damaged record is replaced by a whole one
            state = _json_object(path)
    if state.get("state") == "failed":
        return
    state.update(state="failed", error=error, ended_at=_now())
    _write_json(path, state)


def remove_run(run_dir: Path, jobs: Path) -> None:
    """Delete a run's folder (its files, then its folders, deepest first), inside ``jobs`` only."""
    for path in sorted(run_dir.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        remove_inside(path, jobs)
    remove_inside(run_dir, jobs)


class DamagedRecord(PcbenchError):
    """A manifest or task file of the jobs folder that does not hold what pcbench writes."""


@dataclass(frozen=True)
class TaskState:
    """What a task's state file says, with a dead pid on this host read as ``failed``."""

    index: int
    model: str
    state: str
    cell: str | None
    error: str | None
    log: str
    host: str | None = None


@dataclass(frozen=True)
class ManifestTask:
    """One task of a run: its index, model, cells and log."""

    index: int
    model: str
    cells: tuple[str, ...]
    log: str


@dataclass(frozen=True)
class Manifest:
    """A run's ``manifest.json``: its id, executor, job id (once known) and tasks."""

    run_id: str
    executor: str
    job_id: str | None
    tasks: tuple[ManifestTask, ...]


#: Larger job records are not pcbench's (a manifest lists cell labels: a few kB per task).
_MAX_RECORD_BYTES = 64 << 20
#: States a task file may record.
TASK_STATES = ("running", "done", "failed")


def task_states(run_dir: Path) -> list[TaskState]:
    """The state of every task of a run that has started (in index order); a task still
    ``running`` on this host whose pid is gone reads as ``failed``. Raises
    :class:`DamagedRecord` for a task file that is not one pcbench wrote."""
    states = []
    for path in run_dir.glob("task-*.json"):
        index = path.stem.removeprefix("task-")
        if not index.isdigit():
            raise DamagedRecord(f"damaged job record {path}: the file name is not task-<index>.json")
        record = _json_object(path)
        state = _field(record, path, "state", str)
        if state not in TASK_STATES:
            raise DamagedRecord(f"damaged job record {path}: state = {state!r}; allowed: {', '.join(TASK_STATES)}")
        host, pid = _field(record, path, "host", str, optional=True), _field(record, path, "pid", int, optional=True)
        error = _field(record, path, "error", str, optional=True)
        if state == "running" and host == socket.gethostname() and (pid is None or not _alive(pid)):
            state, error = "failed", "the task's process is gone (killed?) without recording an error"
        states.append(
            TaskState(
                _field(record, path, "index", int),
                _field(record, path, "model", str),
                state,
                _field(record, path, "cell", str, optional=True),
                error,
                _field(record, path, "log", str),
                host,
            )
        )
    return sorted(states, key=lambda state: state.index)


def latest_run(root: Path) -> Path | None:
    """The newest run folder under a jobs root (run ids sort by time), or None."""
    runs = sorted(path for path in root.glob("*") if (path / "manifest.json").is_file()) if root.is_dir() else []
    return runs[-1] if runs else None


def read_manifest(run_dir: Path) -> Manifest:
    """A run's ``manifest.json``; :class:`DamagedRecord` for one pcbench did not write."""
    path = run_dir / "manifest.json"
    record = _json_object(path)
    executor = _field(record, path, "executor", str)
    if executor not in EXECUTORS:
        raise DamagedRecord(f"damaged job record {path}: executor = {executor!r}; allowed: {', '.join(EXECUTORS)}")
    tasks = _field(record, path, "tasks", list)
    if not all(isinstance(task, dict) for task in tasks):
        raise DamagedRecord(f"damaged job record {path}: tasks must be a list of tables")
    parsed = []
    for task in tasks:
        cells = _field(task, path, "cells", list)
        if not all(isinstance(cell, str) for cell in cells):
            raise DamagedRecord(f"damaged job record {path}: a task's cells must be strings")
        parsed.append(
            ManifestTask(
                _field(task, path, "index", int),
                _field(task, path, "model", str),
                tuple(cells),
                _field(task, path, "log", str),
            )
        )
    return Manifest(
        _field(record, path, "run_id", str), executor, _field(record, path, "job_id", str, optional=True), tuple(parsed)
    )


def forget_run(jobs: Path) -> Path | None:
    """Delete the latest run's records under ``jobs`` (``pcbench status --forget``): its folder
    and nothing outside ``jobs``. Returns the folder deleted, or None when there was none."""
    run_dir = latest_run(jobs)
    if run_dir is not None:
        remove_run(run_dir, jobs)
    return run_dir


def _json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; :class:`DamagedRecord` for anything else."""
    try:
        if not path.is_file() or path.stat().st_size > _MAX_RECORD_BYTES:
            raise DamagedRecord(f"damaged job record {path}: not a regular file of at most {_MAX_RECORD_BYTES} bytes")
        value = json.loads(path.read_bytes())
    except OSError as error:
        raise DamagedRecord(f"damaged job record {path}: cannot read it ({error.strerror or error})") from None
    except ValueError:
        raise DamagedRecord(f"damaged job record {path}: not JSON (empty, truncated or binary)") from None
    if not isinstance(value, dict):
        raise DamagedRecord(f"damaged job record {path}: a {type(value).__name__}, not a JSON object")
    return value


def _field(record: Mapping[str, Any], path: Path, name: str, kind: type, *, optional: bool = False) -> Any:
    """``record[name]`` if it is a ``kind`` (or None when ``optional``); else DamagedRecord."""
    value = record.get(name)
    if value is None and optional:
        return None
    if name not in record:
        raise DamagedRecord(f"damaged job record {path}: no '{name}'")
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DamagedRecord(
            f"damaged job record {path}: {name} = {value!r:.60}; allowed: a {kind.__name__}"
            + (" or null" if optional else "")
        )
    return value


def _alive(pid: int) -> bool:
    """Whether process ``pid`` of this host still runs; a zombie (dead, not yet reaped: a
    killed worker whose parent died too, under a container init that does not reap) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    status = process_status(pid)
    return status is None or status[0] not in ("Z", "X")  # without /proc the signal's answer stands


def _write_json(path: Path, value: Mapping[str, Any]) -> None:
    atomic_write(path, lambda handle: handle.write(json.dumps(value, indent=1).encode()))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
