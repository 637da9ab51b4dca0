"""``pcbench status SUITE``: which cells of a results directory are done, running, queued,
failed or missing, from the stored cells and the latest distributed run's task files."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from pcbench.executors import slurm
from pcbench.executors.jobs import DamagedRecord, TaskState, jobs_root, latest_run, read_manifest, task_states
from pcbench.runner.run import cell_keys
from pcbench.store import cell_stem, stored_key
from pcbench.suite import Suite

STATES = ("done", "running", "queued", "failed", "missing")


@dataclass(frozen=True)
class RunStatus:
    """Per model, cells in each of :data:`STATES`; the latest run's id, executor and job id,
    its failed tasks (each with the cell it died in, the error and its log), and the warning
    about a damaged job record that was ignored (``damaged``)."""

    suite: str
    counts: dict[str, dict[str, int]]
    run_id: str | None = None
    executor: str | None = None
    job_id: str | None = None
    failed: list[TaskState] = field(default_factory=list)
    damaged: str | None = None

    def format(self) -> str:
        """A text table of the counts, then one line per failed task or damaged record."""
        lines = [f"{'model':<28}" + "".join(f"{state:>9}" for state in STATES)]
        for model, counts in self.counts.items():
            lines.append(f"{model:<28}" + "".join(f"{counts[state]:>9}" for state in STATES))
        if self.run_id is not None:
            lines.append(f"latest distributed run {self.run_id} ({self.executor}, job {self.job_id})")
        for task in self.failed:
            lines.append(f"failed: task {task.index} ({task.model}) in cell {task.cell}: {task.error}; log {task.log}")
        if self.damaged is not None:
            lines.append(
                f"warning: {self.damaged}; ignored (its cells count as missing until stored); "
                "pcbench status SUITE --forget deletes the latest run's records"
            )
        return "\n".join(lines)


def run_status(suite: Suite, results_dir: Path) -> RunStatus:
    """The status of ``suite``'s cells under ``results_dir`` (reads files only)."""
    root = Path(results_dir) / suite.name
    keys = cell_keys(suite)
    run_dir = latest_run(jobs_root(results_dir, suite.name))
    assigned: dict[str, str] = {}  # stem -> state of the task it was given to
    failed: list[TaskState] = []
    manifest, damaged = None, None
    if run_dir is not None:
        try:
            manifest = read_manifest(run_dir)
            states = {state.index: state for state in task_states(run_dir)}
        except DamagedRecord as error:
            manifest, damaged = None, str(error)
    if manifest is not None:
        if manifest.executor == "slurm" and not slurm.job_active(manifest.job_id):
            states = {index: _ended(state) for index, state in states.items()}  # SLURM lists none of them
        failed = [state for state in states.values() if state.state == "failed"]
        for task in manifest.tasks:
            state = states[task.index].state if task.index in states else "queued"
            for label in task.cells:
                assigned[cell_stem(task.model, label)] = "missing" if state == "done" else state
    counts = {}
    done = set()
    for model, cells in keys.items():
        counts[model] = dict.fromkeys(STATES, 0)
        for label, key in cells.items():
            stem = cell_stem(model, label)
            if stored_key(root, stem) == key:
                done.add(stem)
            counts[model]["done" if stem in done else assigned.get(stem, "missing")] += 1
    if manifest is not None:  # a failed task whose cells a later run completed is history, not news
        cells_of = {task.index: [cell_stem(task.model, label) for label in task.cells] for task in manifest.tasks}
        failed = [task for task in failed if not set(cells_of.get(task.index, ())) <= done]
    return RunStatus(
        suite.name,
        counts,
        run_id=None if manifest is None else manifest.run_id,
        executor=None if manifest is None else manifest.executor,
        job_id=None if manifest is None else manifest.job_id,
        failed=failed,
        damaged=damaged,
    )


def _ended(state: TaskState) -> TaskState:
    """A task that still says ``running`` although its job is gone: it died without a word."""
    if state.state != "running":
        return state
    return dataclasses.replace(
        state,
        state="failed",
        error="its SLURM job ended without the task recording it (killed, out of memory or time?)",
    )
