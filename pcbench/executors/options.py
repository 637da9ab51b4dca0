"""How and where a run's tasks are started (none of it is part of any cell key): the options,
read from ``pcbench run``'s flags (:func:`from_flags`) or built in Python, and checked once
(:meth:`ExecutorOptions.check`) for both."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, get_args

from pcbench.errors import PcbenchError

#: Where a run's cells are evaluated: this process, a SLURM job array, Ray tasks.
Executor = Literal["local", "slurm", "ray"]
EXECUTORS: tuple[Executor, ...] = get_args(Executor)
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

    executor: Executor = "local"
    cells_per_task: int = DEFAULT_CELLS_PER_TASK
    devices: tuple[str, ...] = ()
    detach: bool = False
    slurm: SlurmOptions = field(default_factory=SlurmOptions)
    ray: RayOptions = field(default_factory=RayOptions)

    @property
    def distributed(self) -> bool:
        """Whether tasks run outside this process (anything but a plain local run)."""
        return self.executor != "local" or bool(self.devices)

    def check(self) -> None:
        """Refuse an unknown executor and options that the executor cannot honour.

        Example::

            ExecutorOptions("ray", detach=True).check()   # PcbenchError: --detach needs --executor slurm ...
        """
        if self.executor not in EXECUTORS:
            raise PcbenchError(f"--executor {self.executor!r} is not allowed; allowed: {', '.join(EXECUTORS)}")
        if self.detach and self.executor != "slurm":
            raise PcbenchError(
                f"--detach needs --executor slurm (only SLURM tasks outlive this process); --executor "
                f"{self.executor} runs its tasks within this run: drop --detach"
            )
        if self.devices and self.executor != "local":
            raise PcbenchError(
                f"--devices is for --executor local; with --executor {self.executor} ask for GPUs per task "
                "(--slurm-gpus-per-task, --ray-num-gpus)"
            )


#: Defaults of ``pcbench run``'s --slurm-* and --ray-* flags (giving one for another executor is refused).
FLAG_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "slurm_partition": None,
        "slurm_gpus_per_task": None,
        "slurm_cpus_per_task": 1,
        "slurm_mem": None,
        "slurm_time": 60,
        "slurm_array_parallelism": 256,
        "ray_address": None,
        "ray_num_cpus": 1.0,
        "ray_num_gpus": 0.0,
        "ray_cluster_cpus": None,
    }
)


def from_flags(
    executor: Executor,
    cells_per_task: int,
    devices: str | None,
    detach: bool,
    slurm_opt: tuple[str, ...],
    **flags: Any,
) -> ExecutorOptions:
    """``pcbench run``'s placement flags (``--executor``, ``--devices``, ``--slurm-*``,
    ``--ray-*``; ``flags`` holds every name of :data:`FLAG_DEFAULTS`) as :class:`ExecutorOptions`.
    A ``--slurm-*``/``--ray-*`` flag given for another executor is refused, as is a
    ``--slurm-opt`` that is neither ``key=value`` nor a flag's ``key``.

    Example::

        from_flags("slurm", 8, None, False, ("qos=high",), **{**FLAG_DEFAULTS, "slurm_time": 30})
    """
    extra: list[tuple[str, str | bool]] = []
    for option in slurm_opt:
        key, sep, value = option.partition("=")
        key = key.strip().removeprefix("--")
        if not key or (sep and not value):
            raise PcbenchError(
                f"--slurm-opt {option!r} is not allowed; allowed: key=value (e.g. qos=high) or a flag's key (e.g. hold)"
            )
        extra.append((key, value if sep else True))
    given = [name for name, default in FLAG_DEFAULTS.items() if flags[name] != default]
    given += ["slurm_opt"] if slurm_opt else []
    for name in given:
        if not name.startswith(executor + "_"):
            option = "--" + name.replace("_", "-")
            raise PcbenchError(f"{option} is for --executor {name.split('_')[0]}, not --executor {executor}")
    return ExecutorOptions(
        executor=executor,
        cells_per_task=cells_per_task,
        devices=tuple(part.strip() for part in devices.split(",")) if devices else (),
        detach=detach,
        slurm=SlurmOptions(
            partition=flags["slurm_partition"],
            gpus_per_task=flags["slurm_gpus_per_task"],
            cpus_per_task=flags["slurm_cpus_per_task"],
            mem=flags["slurm_mem"],
            time_min=flags["slurm_time"],
            array_parallelism=flags["slurm_array_parallelism"],
            extra=tuple(extra),
        ),
        ray=RayOptions(
            address=flags["ray_address"],
            num_cpus=flags["ray_num_cpus"],
            num_gpus=flags["ray_num_gpus"],
            cluster_cpus=flags["ray_cluster_cpus"],
        ),
    )
