"""The canonical precomputed corruption sets (Hendrycks & Dietterich, 2019), read from local files.

- CIFAR-10-C / CIFAR-100-C: ``<root>/<corruption>.npy``, ``uint8 [5n, 32, 32, 3]`` with the
  ``n`` test images of severity 1 first (rows ``(s-1)·n … s·n``), and ``<root>/labels.npy``.
  The clean ``cifar10``/``cifar100`` test split gives the sample ids (row = ``(s-1)·n + id``)
  and its labels must equal ``labels.npy`` row for row.
- ImageNet-C: ``<root>/<corruption>/<severity>/<wnid>/<file>.JPEG``, already resized and
  cropped to 224×224 (decoded as they are). A sample is matched to the clean ``imagenet``
  validation image with the same ``<wnid>/<file>`` path, so labels align by construction.

Each cell records ``corruption_source = precomputed:<root>:<hash>``: for CIFAR-C the SHA-256
of ``<corruption>.npy`` and ``labels.npy``; for ImageNet-C a hash of the names and sizes of
the files the cell reads (hashing 50,000 JPEGs per cell on every run would cost minutes).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from pcbench.data import ImageSet
from pcbench.data.imagefolder import FolderListing, decode_in_parallel, imagenet_listing
from pcbench.errors import PcbenchError
from pcbench.hashing import hash_file_once, hash_json
from pcbench.parallel import WorkerPool
from pcbench.perturbations.corruption_cells import CorruptedCell, CorruptionSource
from pcbench.perturbations.corruptions import NonFinite
from pcbench.streams import array_blocks
from pcbench.suite import Suite
from pcbench.suite.schema import PRECOMPUTED_SETS

SEVERITY_COUNT = 5


def open_precomputed(suite: Suite, data: ImageSet, pool: WorkerPool) -> CorruptionSource:
    """The suite's precomputed set (``[corruptions] source = "precomputed"``), checked up front."""
    config = suite.corruptions
    assert config is not None and config.root is not None
    name = suite.dataset.name
    if name == "imagenet":
        assert suite.dataset.root is not None
        clean = imagenet_listing(suite.dataset.root, suite.dataset.split)
        return ImageNetC(config.root, clean, data, config.names, config.severities, pool)
    return CifarC(config.root, PRECOMPUTED_SETS[name], data, config.names)


class CifarC:
    """CIFAR-10-C or CIFAR-100-C: one ``.npy`` per corruption plus ``labels.npy``."""

    def __init__(self, root: Path, title: str, data: ImageSet, names: tuple[str, ...]) -> None:
        self.root, self.title, self.data = root, title, data
        expected = (
            f"expected {title}: <root>/<corruption>.npy (uint8 [5n, H, W, 3], severity 1 first) and <root>/labels.npy"
        )
        if data.split != "test":
            raise PcbenchError(f"{title} is made from the test split, but dataset.split = '{data.split}'")
        labels = np.asarray(self._open("labels.npy", expected), dtype=np.int64)
        if labels.ndim != 1 or len(labels) % SEVERITY_COUNT:
            raise PcbenchError(f"{root / 'labels.npy'} has shape {labels.shape}; {expected}")
        self.n = len(labels) // SEVERITY_COUNT
        if data.ids.max() >= self.n:
            raise PcbenchError(
                f"{root / 'labels.npy'} covers {self.n} test images per severity but "
                f"dataset '{data.name}' has sample id {data.ids.max()}"
            )
        for severity in range(SEVERITY_COUNT):
            mismatch = np.flatnonzero(labels[severity * self.n + data.ids] != data.labels)
            if mismatch.size:
                sample = int(data.ids[mismatch[0]])
                raise PcbenchError(
                    f"{root / 'labels.npy'} disagrees with {data.name}'s test labels at sample "
                    f"{sample} (severity {severity + 1}): {title} must follow the test split's order"
                )
        self.arrays = {name: self._open(f"{name}.npy", expected) for name in names}
        want = (SEVERITY_COUNT * self.n, *data.images.shape[1:])
        for name, array in self.arrays.items():
            if array.shape != want or array.dtype != np.uint8:
                raise PcbenchError(
                    f"{root / f'{name}.npy'} is {array.dtype} {array.shape}, expected uint8 {want}; {expected}"
                )

    def source(self, corruption: str, severity: int) -> str:
        """``precomputed:<root>:<hash of <corruption>.npy and labels.npy>``."""
        files = (self.root / f"{corruption}.npy", self.root / "labels.npy")
        return f"precomputed:{self.root}:{hash_json([hash_file_once(path) for path in files])}"

    def cell(self, corruption: str, severity: int) -> CorruptedCell:
        """Rows ``(severity - 1)·n + id`` of ``<corruption>.npy``, read block by block from the file."""
        rows = (severity - 1) * self.n + self.data.ids
        blocks = partial(array_blocks, self.arrays[corruption], rows)
        return CorruptedCell(blocks, self.source(corruption, severity), NonFinite())

    def _open(self, name: str, expected: str) -> np.ndarray:
        path = self.root / name
        if not path.is_file():
            raise PcbenchError(f"{path} is missing; {expected}")
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:  # numpy's own text advises allow_pickle=True: never shown
            raise PcbenchError(f"{path} is not a .npy array ({_npy_problem(path, exc)}); {expected}") from None


class ImageNetC:
    """ImageNet-C: an image folder per (corruption, severity), matched to the clean val files."""

    def __init__(
        self,
        root: Path,
        clean: FolderListing,
        data: ImageSet,
        names: tuple[str, ...],
        severities: tuple[int, ...],
        pool: WorkerPool,
    ) -> None:
        self.root, self.data, self.pool = root, data, pool
        self.files = tuple(clean.files[i] for i in data.ids)
        self.expected = "expected ImageNet-C: <root>/<corruption>/<severity>/<wnid>/<file>.JPEG"
        for name in names:
            for severity in severities:
                if not (root / name / str(severity)).is_dir():
                    raise PcbenchError(f"{root / name / str(severity)} is not a directory; {self.expected}")
        self._sources: dict[tuple[str, int], str] = {}

    def source(self, corruption: str, severity: int) -> str:
        """``precomputed:<root>:<hash of the cell's file names and sizes>``."""
        key = (corruption, severity)
        if key not in self._sources:
            folder = self.root / corruption / str(severity)
            missing = [file for file in self.files if not (folder / file).is_file()]
            if missing:
                raise PcbenchError(
                    f"{folder / missing[0]} is missing ({len(missing)} of "
                    f"{len(self.files)} evaluated images absent); {self.expected}"
                )
            sizes = [[file, (folder / file).stat().st_size] for file in self.files]
            self._sources[key] = f"precomputed:{self.root}:{hash_json(sizes)}"
        return self._sources[key]

    def cell(self, corruption: str, severity: int) -> CorruptedCell:
        """The cell's images, decoded as they are consumed by the pool's workers (at most two
        chunks per worker ahead, :meth:`pcbench.parallel.WorkerPool.map`), in the order of the
        evaluated samples."""
        source = self.source(corruption, severity)
        folder = self.root / corruption / str(severity)
        blocks = partial(decode_in_parallel, self.pool, folder, self.files, None, self.data.images.shape[1:3])
        return CorruptedCell(blocks, source, NonFinite())


def _npy_problem(path: Path, exc: Exception) -> str:
    """Why ``np.load(..., allow_pickle=False)`` refused ``path``, in pcbench's words (numpy's
    own text advises ``allow_pickle=True``)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    with open(path, "rb") as handle:
        magic = handle.read(6)
    if magic != b"\x93NUMPY":
        return "it does not start as a .npy file does: another format, or a pickle, which pcbench never loads"
    if "object" in str(exc).lower() or "pickle" in str(exc).lower():
        return "it holds Python objects, a pickle, which pcbench never loads"
    return "its header or size is damaged or truncated"
