"""Where a run's cells are evaluated: this process, one worker process per device, a SLURM
cluster (through submitit) or a Ray cluster.

The suite says *what* to evaluate; the executor only *where*. It is part of no cell key, so
the cells of every executor get the same keys and merge without conflicts. A distributed
run (:func:`pcbench.executors.coordinator.run_distributed`) plans the cells still missing
into work units (:mod:`pcbench.executors.units`), hands them to the executor's tasks, which
rebuild everything from the registry and the shared file system and commit each cell as a
local run does, and records each task's state under ``<results>/<suite>/.jobs/<run id>/``
(:mod:`pcbench.executors.jobs`).
"""

from pcbench.executors.options import EXECUTORS, ExecutorOptions, RayOptions, SlurmOptions

__all__ = ["EXECUTORS", "ExecutorOptions", "RayOptions", "SlurmOptions"]
