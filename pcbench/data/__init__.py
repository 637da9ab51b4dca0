"""Data sets, loaded from a package (digits) or from local paths the user names."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pcbench.data.digits import load_digits_split
from pcbench.data.imageset import ImageSet
from pcbench.errors import PcbenchError

#: name -> (loader(split, root), whether it needs a local ``root``)
DATASETS: dict[str, tuple[Callable[[str, Path | None], ImageSet], bool]] = {
    "digits": (lambda split, root: load_digits_split(split), False),
}


def load_dataset(name: str, split: str, root: Path | None = None) -> ImageSet:
    """Load a data set split by name."""
    if name not in DATASETS:
        raise PcbenchError(f"unknown dataset '{name}'; available: {', '.join(DATASETS)}")
    loader, needs_root = DATASETS[name]
    if needs_root and root is None:
        raise PcbenchError(f"dataset '{name}' needs a local root directory (dataset.root)")
    return loader(split, root)


__all__ = ["DATASETS", "ImageSet", "load_dataset"]
