"""CIFAR-10 and CIFAR-100 from local files in torchvision's on-disk ("python version") format.

This is the standard distribution of both data sets (``cifar-10-python.tar.gz``,
``cifar-100-python.tar.gz``, unpacked; what ``torchvision.datasets.CIFAR10(root,
download=True)`` leaves in ``root``). ``dataset.root`` is the folder that holds
``cifar-10-batches-py/`` (``data_batch_1`` … ``data_batch_5``, ``test_batch``) or
``cifar-100-python/`` (``train``, ``test``), or that folder itself.

The batches are Python pickles. pcbench reads only the files under the root the user names,
never downloads, and unpickles them with an allow-list (NumPy arrays, lists, dicts, strings):
a file that asks for anything else is rejected instead of executed.

Sample ids are positions in the split (the test split's order is the order CIFAR-10-C and
CIFAR-100-C follow).
"""

from __future__ import annotations

import codecs
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pcbench.data.imageset import ImageSet
from pcbench.errors import PcbenchError

SPLITS = ("train", "test")


@dataclass(frozen=True)
class CifarLayout:
    """Where one CIFAR variant keeps its batches and labels."""

    name: str
    title: str
    folder: str
    files: dict[str, tuple[str, ...]]
    label_key: str
    num_classes: int


CIFAR10 = CifarLayout(
    "cifar10",
    "CIFAR-10",
    "cifar-10-batches-py",
    {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)},
    "labels",
    10,
)
CIFAR100 = CifarLayout(
    "cifar100",
    "CIFAR-100",
    "cifar-100-python",
    {"train": ("train",), "test": ("test",)},
    "fine_labels",
    100,
)

_RECONSTRUCT = np.empty(0).__reduce__()[0]
# The only globals a CIFAR batch needs (Python 2 and 3 pickles, NumPy 1 and 2 module paths).
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that builds NumPy arrays and plain containers, and nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}") from None


def load_cifar10(split: str, root: Path) -> ImageSet:
    """The ``train`` or ``test`` split of CIFAR-10 under ``root``."""
    return _load(CIFAR10, split, root)


def load_cifar100(split: str, root: Path) -> ImageSet:
    """The ``train`` or ``test`` split of CIFAR-100 (fine labels) under ``root``."""
    return _load(CIFAR100, split, root)


def _load(layout: CifarLayout, split: str, root: Path) -> ImageSet:
    if split not in SPLITS:
        raise PcbenchError(f"dataset.split = '{split}' for {layout.name}; allowed: {', '.join(SPLITS)}")
    folder = root if root.name == layout.folder else root / layout.folder
    expected = (
        f"expected {layout.title} in torchvision's python format: "
        f"{layout.folder}/{', '.join(layout.files[split])} under the root"
    )
    if not folder.is_dir():
        raise PcbenchError(f"dataset.root = '{root}': no {layout.folder}/ folder there; {expected}")
    parts = [_read_batch(folder / name, layout, expected) for name in layout.files[split]]
    images = np.concatenate([images for images, _ in parts])
    labels = np.concatenate([labels for _, labels in parts])
    return ImageSet(layout.name, split, images, labels, np.arange(len(labels), dtype=np.int64), layout.num_classes)


def _read_batch(path: Path, layout: CifarLayout, expected: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``uint8 [N, 32, 32, 3]`` and labels ``int64 [N]`` of one pickled batch."""
    if not path.is_file():
        raise PcbenchError(f"{path} is missing; {expected}")
    try:
        with open(path, "rb") as handle:
            entry = _ArrayUnpickler(handle, encoding="latin1").load()
        entry = {key.decode() if isinstance(key, bytes) else key: value for key, value in entry.items()}
        data = np.asarray(entry["data"])
        labels = np.asarray(entry[layout.label_key], dtype=np.int64)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, KeyError, TypeError, ValueError) as exc:
        raise PcbenchError(
            f"{path} is not a {layout.title} batch ({type(exc).__name__}: {' '.join(str(exc).split())}); {expected}"
        ) from None
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise PcbenchError(
            f"{path} is not a {layout.title} batch: 'data' is {data.dtype} "
            f"{data.shape} for {len(labels)} labels, expected uint8 (N, 3072); {expected}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= layout.num_classes):
        raise PcbenchError(f"{path}: labels outside 0..{layout.num_classes - 1}; {expected}")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels
