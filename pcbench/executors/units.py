"""Work units: the cells still missing, grouped into tasks (by model, then grid order)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from pcbench.errors import PcbenchError
from pcbench.runner.settings import RunSettings
from pcbench.suite import Suite


@dataclass(frozen=True)
class WorkUnit:
    """One task of a distributed run: evaluate ``cells`` (perturbation labels) of ``model``.

    Plain data only (no model, no images): the task rebuilds the model from the registry
    and the data from the suite, on the shared file system. ``settings``: the run's
    :class:`~pcbench.runner.settings.RunSettings` (its ``results_dir`` absolute, no progress
    bar, ``workers``: corruption-generating processes, default 1 per task; a SLURM task uses
    its ``--slurm-cpus-per-task``); ``jobs``: the run's folder of task records;
    ``environment`` holds the ``PCBENCH_*`` variables of the submitting process (registry
    home, weights), set in the task before anything is looked up; ``threads``: torch's
    intra-op threads (None: torch's default); ``lease``: the coordinator's lease file, which a
    task of a foreground run watches before it writes anything
    (:mod:`pcbench.executors.lease`; None for a detached run).
    """

    run_id: str
    index: int
    suite: Suite
    model: str
    cells: tuple[str, ...]
    settings: RunSettings
    jobs: str
    threads: int | None = None
    environment: tuple[tuple[str, str], ...] = ()
    lease: str | None = None

    def placed(self, device: str, threads: int | None, workers: int | None = None) -> WorkUnit:
        """This unit as it runs on ``device`` with ``threads`` torch threads (and ``workers``
        corruption processes, if given).

        Example::

            unit.placed("cuda", threads=4, workers=4)   # a SLURM task with 4 CPUs and a GPU
        """
        settings = replace(self.settings, device=device, workers=workers or self.settings.workers)
        return replace(self, settings=settings, threads=threads)


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
