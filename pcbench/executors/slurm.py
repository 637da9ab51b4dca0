"""``--executor slurm``: one SLURM job array per run, through submitit
(``pip install 'pcbench[slurm]'``).

Each array task runs one work unit (``sbatch`` options from ``--slurm-*``); submitit keeps
its own files and logs under ``<results>/<suite>/.jobs/<run id>/slurm/``, next to pcbench's
task states and logs. Tasks receive only plain data (:class:`WorkUnit`: the suite, the
model name and the cell labels) and rebuild models and data from the registry and the
shared file system. ``--detach`` submits and returns with the job id; ``pcbench status``
follows the tasks, and a rerun resubmits only the missing cells.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from pcbench.errors import PcbenchError
from pcbench.executors.options import ExecutorOptions
from pcbench.executors.units import Submission, WorkUnit


def check(options: ExecutorOptions) -> None:
    """Refuse a missing extra or a machine without ``sbatch`` before anything is submitted."""
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise PcbenchError(
            "--executor slurm needs submitit, which is not installed; install the extra: pip install 'pcbench[slurm]'"
        ) from None
    if shutil.which("sbatch") is None:
        raise PcbenchError(
            "--executor slurm: sbatch is not on PATH, so no SLURM cluster can be reached from here; run on a "
            "login node of the cluster (or use --executor local or ray)"
        )


def submit(units: list[WorkUnit], task: Callable[[WorkUnit], None], options: ExecutorOptions) -> Submission:
    """Submit the units as one job array."""
    import submitit

    settings = options.slurm
    executor = submitit.SlurmExecutor(folder=Path(units[0].jobs) / "slurm")
    parameters = {
        "partition": settings.partition,
        "cpus_per_task": settings.cpus_per_task,
        "mem": settings.mem,
        "time": settings.time_min,
        "array_parallelism": settings.array_parallelism,
        "job_name": f"pcbench-{units[0].suite.name}",
        "additional_parameters": dict(settings.extra),
    }
    if settings.gpus_per_task:
        parameters["gpus_per_task"] = settings.gpus_per_task
    executor.update_parameters(**{name: value for name, value in parameters.items() if value is not None})
    placed = [
        unit.placed(
            "cuda" if settings.gpus_per_task else unit.settings.device,
            threads=settings.cpus_per_task,
            workers=settings.cpus_per_task,
        )
        for unit in units
    ]
    try:
        jobs = executor.map_array(task, placed)
    except Exception as error:  # sbatch refused the array: one line with its reason
        raise PcbenchError(f"--executor slurm: {_submission_failure(str(error))}") from None

    def done() -> bool:
        return all(job.done() for job in jobs)

    def errors() -> dict[int, str]:
        failures = {}
        for unit, job in zip(units, jobs, strict=True):
            error = job.exception()
            if error is not None:
                failures[unit.index] = f"{_reason(error)} (slurm job {job.job_id}, its log {job.paths.stdout})"
        return failures

    def cancel() -> None:
        for job in jobs:
            job.cancel(check=False)

    return Submission(jobs[0].job_id.split("_")[0], done, errors, cancel)


def _submission_failure(text: str) -> str:
    """What went wrong with ``sbatch``, from submitit's error text: an sbatch that printed no
    job id (exit status 0, e.g. a site wrapper) is named with what it printed instead."""
    unparsed = re.search(r'Could not make sense of sbatch output "(.*?)"', text, re.S)
    if unparsed is not None:
        printed = " ".join(unparsed.group(1).split())[:200]
        return (
            f"sbatch printed no job id (it printed {printed!r}), so the array cannot be followed; allowed: an "
            "sbatch that prints 'Submitted batch job <id>' (look for a wrapper, or SBATCH_* settings like --parsable)"
        )
    return f"sbatch refused the job array: {text.strip().splitlines()[-1]}"


def job_active(job_id: str | None) -> bool:
    """Whether SLURM still lists a task of job (array) ``job_id`` as queued or running."""
    if job_id is None or shutil.which("squeue") is None:
        return False
    listed = subprocess.run(["squeue", "-h", "-j", job_id], capture_output=True, text=True, check=False)
    return listed.returncode == 0 and bool(listed.stdout.strip())


def _reason(error: BaseException) -> str:
    """The line of a submitit error that says why: the task's own exception (the last
    ``Name: message`` line of the traceback it carries), else the error's first line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    raised = [line for line in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b.*", line)]
    return raised[-1] if raised else f"{type(error).__name__}: {lines[0] if lines else ''}"
