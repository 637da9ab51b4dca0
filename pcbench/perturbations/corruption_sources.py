"""Open a suite's corruption source: generated (cached, parallel) or precomputed files."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pcbench.data import ImageSet
from pcbench.parallel import WorkerPool
from pcbench.perturbations.corruption_cells import CorruptionSource
from pcbench.perturbations.generated import GeneratedCorruptions
from pcbench.perturbations.precomputed import open_precomputed
from pcbench.suite import Suite


@contextmanager
def open_corruptions(suite: Suite, data: ImageSet, workers: int | None) -> Iterator[CorruptionSource | None]:
    """The source of the suite's corruption cells (``None`` without ``[corruptions]``).

    Problems with the source (images too small to corrupt, missing or misaligned files) are
    raised here, before any cell is evaluated. ``workers`` processes (default: all CPUs)
    generate or decode the images; they stop when the ``with`` block ends.
    """
    with WorkerPool(workers) as pool:
        config = suite.corruptions
        if config is None:
            yield None
        elif config.source == "generated":
            yield GeneratedCorruptions(data, suite.seed, pool)
        else:
            yield open_precomputed(suite, data, pool)
