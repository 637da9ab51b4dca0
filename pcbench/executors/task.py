"""The body of one task of a distributed run: what SLURM, Ray or a local device worker runs."""

from __future__ import annotations

import os
from pathlib import Path

from pcbench.executors.jobs import task_record
from pcbench.executors.lease import held
from pcbench.executors.units import WorkUnit


def run_task(unit: WorkUnit) -> None:
    """The body of one task of a distributed run (what SLURM, Ray or a device worker runs):
    set the submitter's ``PCBENCH_*`` environment and torch's threads, then evaluate the
    unit's cells of its model into the shared results directory, recording the task's
    state and output under the run's jobs folder (:mod:`pcbench.executors.jobs`); before
    each cell and each commit it checks its coordinator's lease (:mod:`pcbench.executors.lease`).

    Example (what a task does with the units :func:`pcbench.run` planned)::

        run_task(unit)
    """
    import torch

    from pcbench.runner import run_suite

    os.environ.update(dict(unit.environment))
    if unit.threads is not None:
        torch.set_num_threads(unit.threads)
    with task_record(unit) as at_cell, held(None if unit.lease is None else Path(unit.lease)) as lease_check:

        def at_each_cell(stem: str) -> None:
            lease_check()  # the coordinator still holds the results directory for this task
            at_cell(stem)

        run_suite(
            unit.suite,
            unit.settings,
            cells={unit.model: unit.cells},
            coordinated=True,
            on_cell=at_each_cell,
            before_commit=lease_check,
        )
