"""How and where a run's tasks are started (none of it is part of any cell key)."""

from __future__ import annotations

from dataclasses import dataclass, field

EXECUTORS = ("local", "slurm", "ray")
#: Cells per work unit: big enough that a task's start (imports, model build; seconds) is
#: small next to its cells, small enough that a suite of one model still spreads out.
DEFAULT_CELLS_PER_TASK = 8


@dataclass(frozen=True)
class SlurmOptions:
    """``--slurm-*`` options: sbatch settings of the run's job array; ``extra`` holds any other
    ``#SBATCH`` option as (key, value) pairs (``--slurm-opt key=value``; value True for a flag
    such as ``hold``)."""

    partition: str | None = None
    gpus_per_task: int | None = None
    cpus_per_task: int = 1
    mem: str | None = None
    time_min: int = 60
    array_parallelism: int = 256
    extra: tuple[tuple[str, str | bool], ...] = ()


@dataclass(frozen=True)
class RayOptions:
    """``--ray-*`` options: the cluster's address (None: start a local one with ``num_cpus``
    CPUs) and the resources each task asks for."""

    address: str | None = None
    num_cpus: float = 1
    num_gpus: float = 0
    cluster_cpus: int | None = None


@dataclass(frozen=True)
class ExecutorOptions:
    """Where the run's cells are evaluated (:data:`EXECUTORS`), in tasks of ``cells_per_task``
    cells; ``devices``: one local worker process per device (``executor = "local"``);
    ``detach``: submit and return without waiting (SLURM only)."""

    executor: str = "local"
    cells_per_task: int = DEFAULT_CELLS_PER_TASK
    devices: tuple[str, ...] = ()
    detach: bool = False
    slurm: SlurmOptions = field(default_factory=SlurmOptions)
    ray: RayOptions = field(default_factory=RayOptions)

    @property
    def distributed(self) -> bool:
        """Whether tasks run outside this process (anything but a plain local run)."""
        return self.executor != "local" or bool(self.devices)
