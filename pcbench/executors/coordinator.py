"""A distributed run: plan the missing cells into tasks, submit them, follow their progress.

The coordinator holds the results directory's lock (:mod:`pcbench.store.lock`) from its
checks until its tasks end, so no other run drops or cleans anything meanwhile; the tasks,
which write disjoint cells and commit each one atomically, run without it
(``coordinated``). With ``detach`` the lock is released once the tasks are submitted.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from pcbench.errors import TasksFailed
from pcbench.executors import local, ray_tasks, slurm
from pcbench.executors.jobs import jobs_root, task_states, write_manifest
from pcbench.executors.options import ExecutorOptions
from pcbench.executors.units import Submission, WorkUnit, plan_units
from pcbench.runner.run import RunSummary, cell_keys, evaluation_set, load_suite_data
from pcbench.store import cell_stem, remove_stale_temp_files, results_lock, stored_key
from pcbench.store.evaluation_set import check_evaluation_set, drop_cells
from pcbench.store.provenance import new_run_id
from pcbench.suite import Suite

#: Seconds between two looks at the committed cells while tasks run.
POLL_SECONDS = 1.0
#: Environment variables a task needs to see what the submitter sees.
FORWARDED_ENVIRONMENT = ("PCBENCH_HOME", "PCBENCH_WEIGHTS", "PCBENCH_TEST_FAIL_AFTER")


def run_distributed(
    suite: Suite,
    task: Callable[[WorkUnit], None],
    *,
    results_dir: Path,
    options: ExecutorOptions,
    device: str = "auto",
    batch_size: int = 128,
    resume: bool = True,
    progress: bool = True,
    checkpointing: bool = False,
    replace: bool = False,
    wait: bool = True,
) -> RunSummary:
    """Evaluate the cells of ``suite`` not yet stored in tasks of ``options.executor``;
    ``task`` is the task body (:func:`pcbench.api.run_task`).

    Refused before anything is submitted: a missing extra (``pcbench[slurm]``,
    ``pcbench[ray]``), no ``sbatch``, an unreachable Ray address, another evaluation set in
    the directory. Raises :class:`TasksFailed` naming each failed task's cell and log once
    every task has ended (the cells the others committed stay).
    """
    backend = {"local": local, "slurm": slurm, "ray": ray_tasks}[options.executor]
    backend.check(options)
    root = Path(results_dir) / suite.name
    evaluated_on = evaluation_set(suite, load_suite_data(suite))
    check_evaluation_set(root, evaluated_on, suite.models, replace=replace)
    keys = cell_keys(suite)
    summary = RunSummary(run_id=new_run_id(), results=root)
    with results_lock(root, wait=wait):
        drop_cells(root, check_evaluation_set(root, evaluated_on, suite.models, replace=replace))
        remove_stale_temp_files(root)
        planned = {}
        for model, cells in keys.items():
            for label, key in cells.items():
                stem = cell_stem(model, label)
                if resume and stored_key(root, stem) == key:
                    summary.skipped.append(stem)
                else:
                    planned[stem] = key
        pending = {
            model: [label for label in cells if cell_stem(model, label) in planned] for model, cells in keys.items()
        }
        run_dir = jobs_root(results_dir, suite.name) / summary.run_id
        units = [
            WorkUnit(
                run_id=summary.run_id,
                index=index,
                suite=suite,
                model=model,
                cells=cells,
                results=str(Path(results_dir).absolute()),
                jobs=str(run_dir.absolute()),
                device=device,
                batch_size=batch_size,
                checkpointing=checkpointing,
                environment=tuple((name, os.environ[name]) for name in FORWARDED_ENVIRONMENT if name in os.environ),
            )
            for index, (model, cells) in enumerate(plan_units(pending, options.cells_per_task))
        ]
        if not units:
            return summary
        write_manifest(run_dir, options.executor, units)
        submission = backend.submit(units, task, options)
        write_manifest(run_dir, options.executor, units, job_id=submission.job_id)
        summary.job_id = submission.job_id
        if options.detach:
            return summary
        _follow(submission, root, planned, progress, suite.name)
    summary.evaluated = [stem for stem, key in planned.items() if stored_key(root, stem) == key]
    failed = [state for state in task_states(run_dir) if state.state == "failed"]
    errors = submission.errors()
    if failed or errors:
        raise TasksFailed(_failure_message(units, failed, errors, len(summary.evaluated), len(planned)))
    return summary


def _follow(submission: Submission, root: Path, planned: dict[str, str], progress: bool, name: str) -> None:
    """Wait for the tasks, with one progress bar over the committed cells of all of them."""
    with tqdm(total=len(planned), desc=name, unit="cell", disable=not progress) as bar:
        while True:
            finished = submission.done()
            committed = sum(stored_key(root, stem) == key for stem, key in planned.items())
            bar.update(committed - bar.n)
            if finished:
                return
            time.sleep(POLL_SECONDS)


def _failure_message(units: list[WorkUnit], failed: list, errors: dict[int, str], done: int, planned: int) -> str:
    """One line: how many tasks failed, and for each its model, the cell it died in, why, and its log."""
    described = {}
    for state in failed:
        described[state.index] = (
            f"task {state.index} ({state.model}) died in cell {state.cell}: {state.error}; log {state.log}"
        )
    for index, error in errors.items():
        unit = units[index]
        described.setdefault(
            index,
            f"task {index} ({unit.model}) failed before recording a cell: {error}; log {unit.jobs}/task-{index}.log",
        )
    return (
        f"{len(described)} of {len(units)} task(s) failed ({done} of {planned} planned cells committed): "
        + " | ".join(described[index] for index in sorted(described))
        + " — rerun the same command to resubmit only the missing cells"
    )
