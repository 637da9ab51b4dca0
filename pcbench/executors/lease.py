"""The coordinator's lease: tasks of a foreground run write only while their coordinator lives.

A foreground coordinator holds the results lock for its tasks (:mod:`pcbench.executors.coordinator`),
and renews ``<run folder>/lease`` (a counter) every :data:`RENEW_S` from a thread of its own
(:func:`renewing`), whatever its look at the tasks costs. Each task watches
that file from a thread of its own and, before it starts a cell and again right before it
commits one, checks that the counter moved within :data:`LEASE_TIMEOUT_S` of the task's own
clock; otherwise the coordinator is gone (killed, or its machine lost) and the task stops
with :class:`LeaseLost` without writing, so no task commits without the right to write, on
any executor (device workers also die with their coordinator, :mod:`pcbench.processes`).

Decision: a counter watched on the task's clock, not a time written by the coordinator,
so that clocks that differ between the coordinator's host and a SLURM node do not matter;
the price is that a task notices a dead coordinator only after :data:`LEASE_TIMEOUT_S`
of its own watching. Detached runs (``--detach``) have no lease: their coordinator leaves
on purpose, and a later run is refused while their tasks are active.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pcbench.errors import PcbenchError
from pcbench.files import atomic_write

LEASE_FILE = "lease"
#: Seconds without a renewal after which a task takes its coordinator for gone: a large
#: multiple of :data:`RENEW_S`, beyond NFS's attribute and lookup caching (60 s by default).
LEASE_TIMEOUT_S = 180.0
#: Seconds between two renewals by the coordinator.
RENEW_S = 5.0
#: Seconds between two looks of a task at the lease.
WATCH_S = 2.0


class LeaseLost(PcbenchError):
    """The coordinator stopped renewing the lease: the task must not write."""


def renew(run_dir: Path, count: int) -> None:
    """Write the lease counter ``count`` (the coordinator, at every look at its tasks)."""
    atomic_write(Path(run_dir) / LEASE_FILE, lambda handle: handle.write(str(count).encode()))


@contextmanager
def renewing(run_dir: Path, every_s: float = RENEW_S) -> Iterator[None]:
    """Renew ``run_dir``'s lease now and then every ``every_s`` from a thread, for the ``with``
    block (the coordinator, while its tasks run). A renewal that fails (a full disk) is
    skipped: the tasks stop after :data:`LEASE_TIMEOUT_S`, as they must when nothing can be
    written.

    Example::

        with renewing(run_dir):
            follow(tasks)
    """
    renew(run_dir, 0)
    stop = threading.Event()

    def loop() -> None:
        for count in itertools.count(1):
            if stop.wait(every_s):
                return
            with contextlib.suppress(OSError):
                renew(run_dir, count)

    renewer = threading.Thread(target=loop, name="pcbench-lease-renewal", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()


@contextmanager
def held(
    lease: Path | None, timeout_s: float | None = None, clock: Callable[[], float] = time.monotonic
) -> Iterator[Callable[[], None]]:
    """Watch ``lease`` for the ``with`` block; yield the check to call before each cell and
    before each commit (it raises :class:`LeaseLost` once the counter has not moved for
    ``timeout_s``, default :data:`LEASE_TIMEOUT_S`, of ``clock``). With ``lease`` None (a
    detached or plain run) the check never raises.

    Example::

        with held(Path(unit.jobs) / LEASE_FILE) as check:
            check()   # before writing anything
    """
    if lease is None:
        yield lambda: None
        return
    timeout_s = LEASE_TIMEOUT_S if timeout_s is None else timeout_s
    seen = {"value": _read(lease), "at": clock()}
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(max(0.01, min(WATCH_S, timeout_s / 4))):
            value = _read(lease)
            if value != seen["value"]:
                seen.update(value=value, at=clock())

    watcher = threading.Thread(target=watch, name="pcbench-lease", daemon=True)
    watcher.start()

    def check() -> None:
        value = _read(lease)
        if value != seen["value"]:
            seen.update(value=value, at=clock())
        quiet = clock() - seen["at"]
        if quiet > timeout_s:
            raise LeaseLost(
                f"the coordinator of this run stopped renewing {lease} {quiet:.0f} s ago (killed?): this task "
                "stops without writing; rerun pcbench run to evaluate the missing cells"
            )

    try:
        yield check
    finally:
        stop.set()
        watcher.join()


def _read(lease: Path) -> str | None:
    try:
        return lease.read_text(encoding="utf-8")
    except OSError:
        return None
