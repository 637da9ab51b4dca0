"""What the runner gets for one corruption cell, whatever made the images."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from pcbench.perturbations.corruptions import NonFinite


@dataclass(frozen=True)
class CorruptedCell:
    """The images of one (corruption, severity) cell, aligned with the evaluated samples.

    ``images`` is ``uint8 [N, H, W, 3]``, often a read-only memory map; ``source`` is the
    row's ``corruption_source``; ``nonfinite`` counts repaired pixels (zero for files).
    """

    images: np.ndarray
    source: str
    nonfinite: NonFinite


class CorruptionSource(Protocol):
    """Where a run's corrupted images come from: generated on the fly or precomputed files."""

    def source(self, corruption: str, severity: int) -> str:
        """The ``corruption_source`` of a cell, known before its images are made (cell keys)."""
        ...

    def cell(self, corruption: str, severity: int) -> CorruptedCell:
        """The cell's images, in the order of the evaluated samples."""
        ...
