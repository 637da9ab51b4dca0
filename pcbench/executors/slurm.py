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

import dataclasses
import shutil
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
        dataclasses.replace(
            unit,
            threads=settings.cpus_per_task,
            workers=settings.cpus_per_task,
            device="cuda" if settings.gpus_per_task else unit.device,
        )
        for unit in units
    ]
    try:
        jobs = executor.map_array(task, placed)
    except Exception as error:  # sbatch refused the array: one line with its reason
        raise PcbenchError(
            f"--executor slurm: sbatch refused the job array: {str(error).strip().splitlines()[-1]}"
        ) from None

    def done() -> bool:
        return all(job.done() for job in jobs)

    def errors() -> dict[int, str]:
        failures = {}
        for unit, job in zip(units, jobs, strict=True):
            error = job.exception()
            if error is not None:
                lines = str(error).strip().splitlines()
                failures[unit.index] = f"{type(error).__name__}: {lines[-1] if lines else ''} (slurm job {job.job_id})"
        return failures

    return Submission(jobs[0].job_id.split("_")[0], done, errors)
