"""Work units: the cells still missing, grouped into tasks (by model, then grid order)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from pcbench.errors import PcbenchError
from pcbench.models.precision import FP32, Numerics
from pcbench.suite import Suite


@dataclass(frozen=True)
class WorkUnit:
    """One task of a distributed run: evaluate ``cells`` (perturbation labels) of ``model``.

    Plain data only (no model, no images): the task rebuilds the model from the registry
    and the data from the suite, on the shared file system. ``environment`` holds the
    ``PCBENCH_*`` variables of the submitting process (registry home, weights), set in the
    task before anything is looked up; ``threads``: torch's intra-op threads (None: torch's
    default); ``workers``: corruption-generating processes (``--workers``, default 1 per task;
    a SLURM task uses its ``--slurm-cpus-per-task``); ``lease``: the coordinator's lease
    file, which a task of a foreground run watches before it writes anything
    (:mod:`pcbench.executors.lease`; None for a detached run); ``numerics``: the precision and
    layout the models compute with (:mod:`pcbench.models.precision`).
    """

    run_id: str
    index: int
    suite: Suite
    model: str
    cells: tuple[str, ...]
    results: str
    jobs: str
    device: str = "auto"
    batch_size: int = 128
    checkpointing: bool = False
    resume: bool = True
    threads: int | None = None
    workers: int = 1
    environment: tuple[tuple[str, str], ...] = ()
    lease: str | None = None
    numerics: Numerics = FP32


def plan_units(pending: Mapping[str, Sequence[str]], cells_per_task: int) -> list[tuple[str, tuple[str, ...]]]:
    """(model, cells) per task: each model's pending cells in grid order, cut into runs of
    ``cells_per_task`` (so a task builds one model once, and corruption cells of one
    corruption sit together).

    Example::

        >>> plan_units({"a": ["clean", "fog/1", "fog/2"], "b": ["clean"]}, 2)
        [('a', ('clean', 'fog/1')), ('a', ('fog/2',)), ('b', ('clean',))]
    """
    if cells_per_task < 1:
        raise PcbenchError(f"--cells-per-task {cells_per_task} is not allowed; allowed: an integer >= 1")
    return [
        (model, tuple(cells[start : start + cells_per_task]))
        for model, cells in pending.items()
        for start in range(0, len(cells), cells_per_task)
    ]


@dataclass(frozen=True)
class Submission:
    """Submitted tasks: the executor's ``job_id``; ``done()`` once every task has ended;
    ``errors()``: task index -> what the executor says went wrong (after ``done()``);
    ``cancel()`` stops every task still queued or running."""

    job_id: str
    done: Callable[[], bool]
    errors: Callable[[], dict[int, str]]
    cancel: Callable[[], None]
