"""How a run evaluates its cells, written once: :class:`RunSettings`.

The API builds one from its arguments (:func:`pcbench.run`, :func:`pcbench.evaluate`) and hands
it, unchanged, to the local path (:func:`pcbench.runner.run_suite`) or the distributed one
(:func:`pcbench.executors.coordinator.run_distributed`), which puts it into every
:class:`~pcbench.executors.units.WorkUnit`. It is plain data (strings, numbers, a path and a
frozen :class:`~pcbench.models.precision.Numerics`), so a unit travels to a SLURM or Ray task
as values, never as code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pcbench.errors import PcbenchError
from pcbench.models.precision import FP32, Numerics


@dataclass(frozen=True)
class RunSettings:
    """``results_dir``: where ``<suite>/scores`` and ``<suite>/predictions`` go; ``device``:
    ``auto``, ``cpu``, ``cuda`` or ``cuda:<i>``; ``batch_size``; ``resume``: skip cells stored
    under their current key; ``progress``: a progress bar; ``checkpointing``: activation
    checkpointing across PC timesteps (same numbers, less memory); ``workers``: processes
    generating corruptions (None: all CPUs); ``replace``: drop stored cells of another
    evaluation set instead of refusing; ``wait``: wait for another run holding the results
    directory instead of failing; ``numerics``: precision and layout
    (:mod:`pcbench.models.precision`). Only ``numerics`` (and, for a stochastic model,
    ``batch_size``) can change a cell's numbers, and so enter its key.

    Example::

        settings = RunSettings(Path("results-50"), device="cpu", batch_size=64, progress=False)
        run_suite(suite, settings)
    """

    results_dir: Path = Path("results")
    device: str = "auto"
    batch_size: int = 128
    resume: bool = True
    progress: bool = True
    checkpointing: bool = False
    workers: int | None = None
    replace: bool = False
    wait: bool = True
    numerics: Numerics = FP32

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise PcbenchError(f"--batch-size {self.batch_size} must be >= 1")
