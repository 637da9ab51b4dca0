"""What the runner gets for one corruption cell, whatever made the images."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from pcbench.perturbations.corruptions import NonFinite


@dataclass(frozen=True)
class CorruptedCell:
    """The images of one (corruption, severity) cell, aligned with the evaluated samples.

    ``blocks()`` starts a new pass over the cell's images: consecutive ``uint8 [n, H, W, 3]``
    blocks in the order of the evaluated samples, read or decoded as they are consumed (the
    runner streams them, :mod:`pcbench.streams`); ``source`` is the row's
    ``corruption_source``; ``nonfinite`` counts repaired pixels (zero for files).
    """

    blocks: Callable[[], Iterator[np.ndarray]]
    source: str
    nonfinite: NonFinite

    @property
    def images(self) -> np.ndarray:
        """The whole cell as one in-memory array (small sets and checks; runs stream ``blocks``).

        Example::

            source.cell("fog", 3).images.shape   # (N, H, W, 3)
        """
        return np.concatenate(list(self.blocks()))


class CorruptionSource(Protocol):
    """Where a run's corrupted images come from: generated on the fly or precomputed files."""

    def source(self, corruption: str, severity: int) -> str:
        """The ``corruption_source`` of a cell, known before its images are made (cell keys)."""
        ...

    def cell(self, corruption: str, severity: int) -> CorruptedCell:
        """The cell, its images in the order of the evaluated samples (read when streamed)."""
        ...
