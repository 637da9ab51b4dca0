"""``--executor local --devices D1,D2,...``: one worker process per device on this machine.

Each worker (started with ``spawn``, so no CUDA state is inherited) claims one device and
runs tasks from the plan until none is left. ``--devices all`` means every CUDA device;
``cpu`` may be listed more than once (CPU workers of one intra-op thread each).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing.managers import SyncManager

from pcbench.errors import PcbenchError
from pcbench.executors.options import ExecutorOptions
from pcbench.executors.units import Submission, WorkUnit
from pcbench.processes import die_with_parent, mainless_context

_claimed: dict[str, str] = {}


def resolve_devices(devices: tuple[str, ...]) -> tuple[str, ...]:
    """The worker devices of ``--devices``: ``all`` → every CUDA device; each entry is
    ``cpu`` or ``cuda:<index>`` of a device this machine has."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if devices == ("all",):
        if count == 0:
            raise PcbenchError("--devices all: this machine has no CUDA device; allowed: cpu[,cpu...] or cuda:<i>,...")
        return tuple(f"cuda:{index}" for index in range(count))
    for device in devices:
        index = device.removeprefix("cuda:")
        if device != "cpu" and not (device.startswith("cuda:") and index.isdigit() and int(index) < count):
            raise PcbenchError(
                f"--devices: {device!r} is not a device of this machine; allowed: all, cpu or "
                + (f"cuda:0..cuda:{count - 1}" if count else "cpu only (no CUDA device here)")
            )
    return devices


def check(options: ExecutorOptions) -> None:
    """Refuse devices this machine does not have (before anything is submitted)."""
    resolve_devices(options.devices)
    if options.detach:
        raise PcbenchError("--detach needs --executor slurm (local workers end with this process)")


def submit(units: list[WorkUnit], task: Callable[[WorkUnit], None], options: ExecutorOptions) -> Submission:
    """Start one worker per device and queue every unit."""
    devices = resolve_devices(options.devices)
    context = mainless_context("spawn")  # workers never re-run the user's script
    manager = SyncManager(ctx=context)
    manager.start(initializer=die_with_parent, initargs=(os.getpid(),))  # ends with this process
    queue = manager.Queue()
    for device in devices:
        queue.put(device)
    pool = ProcessPoolExecutor(len(devices), mp_context=context, initializer=_claim, initargs=(queue, os.getpid()))
    futures: list[Future[None]] = [pool.submit(_on_claimed_device, task, unit) for unit in units]

    def done() -> bool:
        finished = all(future.done() for future in futures)
        if finished:
            pool.shutdown()
            manager.shutdown()
        return finished

    def cancel() -> None:
        pool.shutdown(wait=False, cancel_futures=True)
        for process in list(getattr(pool, "_processes", {}).values()):  # running tasks: stop them now
            process.terminate()
        manager.shutdown()

    def errors() -> dict[int, str]:
        return {
            unit.index: f"{type(future.exception()).__name__}: {future.exception()}"
            for unit, future in zip(units, futures, strict=True)
            if future.exception() is not None
        }

    return Submission(f"local:{','.join(devices)}", done, errors, cancel)


def _claim(queue: object, coordinator: int) -> None:
    """Worker initialiser: die with the coordinator (a killed run leaves no worker behind to
    finish or start tasks without the results lock), then take one device for the worker's
    lifetime."""
    die_with_parent(coordinator)
    _claimed["device"] = queue.get()  # type: ignore[attr-defined]


def _on_claimed_device(task: Callable[[WorkUnit], None], unit: WorkUnit) -> None:
    """Run ``task`` on this worker's device (a CPU worker on one thread)."""
    device = _claimed["device"]
    task(unit.placed(device, threads=1 if device == "cpu" else unit.threads))
