"""A distributed run: plan the missing cells into tasks, submit them, follow their progress.

The coordinator holds the results directory's lock (:mod:`pcbench.store.lock`) from its
checks until its tasks end, so no other run drops or cleans anything meanwhile; the tasks,
which write disjoint cells and commit each one atomically, run without it
(``coordinated``). With ``detach`` the lock is released once the tasks are submitted.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from pcbench.errors import PcbenchError, TasksFailed
from pcbench.executors import local, ray_tasks, slurm
from pcbench.executors.jobs import (
    DamagedRecord,
    TaskState,
    jobs_root,
    latest_run,
    mark_failed,
    read_manifest,
    remove_run,
    task_states,
    write_manifest,
)
from pcbench.executors.lease import LEASE_FILE, renewing
from pcbench.executors.options import ExecutorOptions
from pcbench.executors.task import run_task
from pcbench.executors.units import Submission, WorkUnit, plan_units
from pcbench.registry import get_model_spec
from pcbench.runner.run import RunSummary, cell_keys, evaluation_set, load_suite_data
from pcbench.runner.settings import RunSettings
from pcbench.store import cell_stem, remove_stale_temp_files, results_lock, stored_key
from pcbench.store.evaluation_set import check_evaluation_set, drop_cells
from pcbench.store.provenance import new_run_id
from pcbench.suite import Suite

#: Seconds between two looks at the committed cells while tasks run.
POLL_SECONDS = 1.0
#: Environment variables a task needs to see what the submitter sees: the registry home and
#: the weights folder.
FORWARDED_ENVIRONMENT = ("PCBENCH_HOME", "PCBENCH_WEIGHTS")


def run_distributed(
    suite: Suite,
    settings: RunSettings,
    options: ExecutorOptions,
    task: Callable[[WorkUnit], None] = run_task,
) -> RunSummary:
    """Evaluate the cells of ``suite`` not yet stored, with ``settings``, in tasks of
    ``options.executor``; ``task`` is the task body (:func:`pcbench.executors.task.run_task`).

    Refused before anything is submitted: a missing extra (``pcbench[slurm]``,
    ``pcbench[ray]``), no ``sbatch``, an unreachable Ray address, another evaluation set in
    the directory. Raises :class:`TasksFailed` naming each failed task's cell and log once
    every task has ended (the cells the others committed stay).
    """
    backend = {"local": local, "slurm": slurm, "ray": ray_tasks}[options.executor]
    backend.check(options)
    check_importable(suite.models, options.executor)
    root = Path(settings.results_dir) / suite.name
    evaluated_on = evaluation_set(suite, load_suite_data(suite))
    check_evaluation_set(root, evaluated_on, suite.models, replace=settings.replace)
    keys = cell_keys(suite, settings.numerics, settings.batch_size)
    summary = RunSummary(run_id=new_run_id(), results=root)
    jobs = jobs_root(settings.results_dir, suite.name)
    with results_lock(root, wait=settings.wait):
        check_no_active_tasks(jobs)  # before anything is dropped or cleaned under their feet
        drop_cells(root, check_evaluation_set(root, evaluated_on, suite.models, replace=settings.replace))
        remove_stale_temp_files(root)
        planned = {}
        for model, cells in keys.items():
            for label, key in cells.items():
                stem = cell_stem(model, label)
                if settings.resume and stored_key(root, stem) == key:
                    summary.skipped.append(stem)
                else:
                    planned[stem] = key
        pending = {
            model: [label for label in cells if cell_stem(model, label) in planned] for model, cells in keys.items()
        }
        run_dir = jobs / summary.run_id
        in_tasks = replace(  # what each task runs with: one absolute directory, no bar, 1 worker by default
            settings, results_dir=Path(settings.results_dir).absolute(), progress=False, workers=settings.workers or 1
        )
        units = [
            WorkUnit(
                run_id=summary.run_id,
                index=index,
                suite=suite,
                model=model,
                cells=cells,
                settings=in_tasks,
                jobs=str(run_dir.absolute()),
                environment=tuple((name, os.environ[name]) for name in FORWARDED_ENVIRONMENT if name in os.environ),
                lease=None if options.detach else str((run_dir / LEASE_FILE).absolute()),
            )
            for index, (model, cells) in enumerate(plan_units(pending, options.cells_per_task))
        ]
        if not units:
            return summary
        write_manifest(run_dir, options.executor, units)
        with contextlib.nullcontext() if options.detach else renewing(run_dir):
            try:
                submission = backend.submit(units, task, options)
            except BaseException:
                remove_run(run_dir, jobs)  # nothing was submitted: no run to show in pcbench status
                raise
            write_manifest(run_dir, options.executor, units, job_id=submission.job_id)
            summary.job_id = submission.job_id
            if options.detach:
                return summary
            try:
                _follow(submission, root, planned, settings.progress, suite.name)
            except BaseException:
                submission.cancel()  # no task may go on writing once the lock is released
                raise
    summary.evaluated = [stem for stem, key in planned.items() if stored_key(root, stem) == key]
    errors = submission.errors()
    record_failures(units, errors)
    failed = [state for state in task_states(run_dir) if state.state in ("failed", "running")]
    if failed or errors:
        raise TasksFailed(_failure_message(units, failed, errors, len(summary.evaluated), len(planned)))
    absent = [stem for stem in planned if stem not in summary.evaluated]
    if absent:
        raise TasksFailed(
            f"every task ended without an error, but {len(absent)} of {len(planned)} planned cell(s) are not in "
            f"{root} with the key they were planned with (e.g. {absent[0]}): do the workers see this results "
            "directory, the same PCBENCH_HOME and the same pcbench version?"
        )
    return summary


def check_importable(models: Sequence[str], executor: str) -> None:
    """Refuse a model whose architecture or predictors are defined in the running script or
    notebook (``__main__``): tasks run in other processes, which never re-run the user's script
    (:mod:`pcbench.processes`), so they could not build it."""
    for name in models:
        spec = get_model_spec(name)
        for part in (spec.arch, spec.pc.predictors if spec.pc else None):
            if callable(part) and getattr(part, "__module__", None) == "__main__":
                raise PcbenchError(
                    f"model '{name}': {part.__qualname__} is defined in this script or notebook (__main__), which "
                    f"tasks of --executor {executor} cannot import; allowed: a model registered from a model file "
                    "(pcbench register) or defined in an importable module"
                )


#: How to stop the tasks of a run, per executor.
_CANCEL_ADVICE = {
    "slurm": "or cancel the job (scancel JOB)",
    "ray": "or stop them from Ray (ray job stop, or ray stop on their cluster)",
    "local": "or stop the pcbench run that started them (its worker processes end with it)",
}


def check_no_active_tasks(jobs: Path) -> None:
    """Refuse to start while a task of the latest run of this results directory may still be
    writing (a detached SLURM array, or tasks left by an interrupted coordinator)."""
    run_dir = latest_run(jobs)
    if run_dir is None:
        return
    try:
        manifest = read_manifest(run_dir)
        states = {state.index: state for state in task_states(run_dir)}
    except DamagedRecord as damaged:  # it cannot prove that a task still writes (jobs.py)
        print(f"warning: {damaged}; its tasks are taken as ended", file=sys.stderr)
        return
    running = [index for index, state in states.items() if state.state == "running"]
    unstarted = [task.index for task in manifest.tasks if task.index not in states]
    if manifest.executor != "slurm":
        unstarted = []  # never started, and nothing will start them: their coordinator has ended
    elif not slurm.job_active(manifest.job_id):
        running, unstarted = [], []  # SLURM lists none: tasks still saying "running" died without a word
    if running or unstarted:
        hosts = sorted({str(states[index].host) for index in running})
        where = f" (running on {', '.join(hosts)})" if hosts else ""
        raise PcbenchError(
            f"run {manifest.run_id} ({manifest.executor}, job {manifest.job_id}) still has {len(running)} running "
            f"and {len(unstarted)} queued task(s) writing into this results directory{where}; wait for them "
            f"(pcbench status SUITE), {_CANCEL_ADVICE[manifest.executor]}, then rerun; a task that died on "
            "another host without a word is cleared by pcbench status SUITE --forget"
        )


def record_failures(units: list[WorkUnit], errors: dict[int, str]) -> None:
    """Mark the tasks the executor reports as failed that could not say so themselves
    (killed, out of memory, never started): their state files then say ``failed``."""
    for index, error in errors.items():
        mark_failed(units[index], error)


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


def _failure_message(
    units: list[WorkUnit], failed: list[TaskState], errors: dict[int, str], done: int, planned: int
) -> str:
    """One line: how many tasks failed, and for each its model, the cell it died in, why, and its log."""
    described = {}
    for state in failed:
        error = errors.get(state.index, state.error) or "ended without a word (killed on another host?)"
        where = f"died in cell {state.cell}" if state.cell else "died before its first cell"
        described[state.index] = f"task {state.index} ({state.model}) {where}: {error}; log {state.log}"
    for index, error in errors.items():
        unit = units[index]
        described.setdefault(index, f"task {index} ({unit.model}) never started: {error}")
    return (
        f"{len(described)} of {len(units)} task(s) failed ({done} of {planned} planned cells committed): "
        + " | ".join(described[index] for index in sorted(described))
        + " — rerun the same command to resubmit only the missing cells"
    )
