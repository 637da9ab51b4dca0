"""Data sets, loaded from a package (digits) or from local paths the user names (never downloaded).

| name          | root holds                                         | splits      |
| ------------- | -------------------------------------------------- | ----------- |
| `digits`      | (embedded, scikit-learn)                           | train, test |
| `cifar10`     | `cifar-10-batches-py/` (torchvision python format) | train, test |
| `cifar100`    | `cifar-100-python/` (torchvision python format)    | train, test |
| `imagenet`    | `val/<wnid>/*.JPEG` (resize 256, centre crop 224)  | val         |
| `imagefolder` | `<split>/<class>/<image>` (one image size)         | any folder  |
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pcbench.data.cifar import load_cifar10, load_cifar100
from pcbench.data.digits import load_digits_split
from pcbench.data.imagefolder import load_imagefolder, load_imagenet
from pcbench.data.imageset import ImageSet
from pcbench.errors import PcbenchError

#: name -> (loader(split, root), whether it needs a local ``root``)
DATASETS: dict[str, tuple[Callable[[str, Path | None], ImageSet], bool]] = {
    "digits": (lambda split, root: load_digits_split(split), False),
    "cifar10": (load_cifar10, True),
    "cifar100": (load_cifar100, True),
    "imagenet": (load_imagenet, True),
    "imagefolder": (load_imagefolder, True),
}


def load_dataset(name: str, split: str, root: Path | None = None) -> ImageSet:
    """Load a data set split by name."""
    if name not in DATASETS:
        raise PcbenchError(f"unknown dataset '{name}'; available: {', '.join(DATASETS)}")
    loader, needs_root = DATASETS[name]
    if needs_root and root is None:
        raise PcbenchError(f"dataset '{name}' needs a local root directory (dataset.root)")
    if needs_root and not root.is_dir():
        raise PcbenchError(
            f"dataset.root = '{root}' is not a directory; dataset '{name}' needs the folder holding its files"
        )
    return loader(split, root)


__all__ = ["DATASETS", "ImageSet", "load_dataset"]
