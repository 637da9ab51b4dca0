"""Checksummed, memory-mappable uint8 arrays cached under the pcbench home.

Two kinds of entries live here: generated corruptions and decoded image folders. Layout::

    <pcbench home>/<kind>/<dataset>/<group>/<name>.npy     the array (NumPy .npy, uint8)
    <pcbench home>/<kind>/<dataset>/<group>/<name>.json    sidecar: SHA-256, size, metadata

Both files are written atomically (:func:`pcbench.files.atomic_write`), the array first and
the sidecar last, and an entry is used only when its sidecar parses and the array file's
size and SHA-256 match it. A truncated, altered or half-written entry is therefore never
read: its owner regenerates it.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from pcbench.hashing import hash_file
from pcbench.files import atomic_write
from pcbench.paths import pcbench_home

#: Entry kinds, each a folder under the pcbench home.
KINDS = ("corruptions", "datasets")


@dataclass(frozen=True)
class CachedArray:
    """A verified cache entry: the array (a read-only memory map) and its metadata."""

    array: np.ndarray
    meta: Mapping[str, Any]


@dataclass(frozen=True)
class CacheUsage:
    """Disk used by one (kind, dataset, group) folder of the cache."""

    kind: str
    dataset: str
    group: str
    entries: int
    nbytes: int


def entry_path(kind: str, dataset: str, group: str, name: str) -> Path:
    """Where entry ``name`` (without suffix) of a kind, data set and group lives."""
    return pcbench_home() / kind / dataset / group / f"{name}.npy"


def read_entry(path: Path) -> CachedArray | None:
    """The entry at ``path`` if it is complete and passes its checksum, else ``None``."""
    try:
        sidecar = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        if path.stat().st_size != sidecar["nbytes"] or hash_file(path) != sidecar["sha256"]:
            return None
        array = np.load(path, mmap_mode="r")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if list(array.shape) != sidecar["shape"] or array.dtype != np.uint8:
        return None
    return CachedArray(array, sidecar["meta"])


def write_entry(
    path: Path,
    shape: tuple[int, ...],
    blocks: Iterable[np.ndarray],
    meta: Callable[[], Mapping[str, Any]],
) -> CachedArray:
    """Write the uint8 array of ``shape`` made of ``blocks`` (in order along axis 0).

    ``meta()`` is called once every block has been written (so it may report counts
    gathered while the blocks were produced) and is stored in the sidecar. The blocks are
    streamed to disk: the whole array is never held in memory.
    """
    digest = hashlib.sha256()
    expected = int(np.prod(shape))

    def write(handle: BinaryIO) -> None:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": "|u1", "fortran_order": False, "shape": tuple(shape)}
        )
        written = -len(header.getvalue())
        for chunk in itertools.chain([header.getvalue()], map(_bytes, blocks)):
            digest.update(chunk)
            handle.write(chunk)
            written += len(chunk)
        if written != expected:
            raise RuntimeError(f"cache entry {path}: blocks hold {written} bytes, shape needs {expected}")

    atomic_write(path, write)
    sidecar = {
        "sha256": digest.hexdigest(),
        "nbytes": path.stat().st_size,
        "shape": list(shape),
        "meta": dict(meta()),
    }
    text = json.dumps(sidecar, indent=1, sort_keys=True).encode()
    atomic_write(path.with_suffix(".json"), lambda handle: handle.write(text))
    return CachedArray(np.load(path, mmap_mode="r"), sidecar["meta"])


def cache_usage() -> list[CacheUsage]:
    """Entries and bytes on disk per (kind, dataset, group), sorted."""
    usage = []
    for kind in KINDS:
        for group_dir in sorted((pcbench_home() / kind).glob("*/*")):
            if group_dir.is_dir():
                files = [path for path in group_dir.iterdir() if path.is_file()]
                usage.append(CacheUsage(
                    kind, group_dir.parent.name, group_dir.name,
                    sum(path.suffix == ".npy" for path in files),
                    sum(path.stat().st_size for path in files),
                ))
    return usage


def clear_cache(dataset: str | None = None) -> int:
    """Delete every cache entry (of ``dataset`` only, when given); return the bytes freed."""
    freed = 0
    for kind in KINDS:
        root = pcbench_home() / kind
        for folder in [root / dataset] if dataset else [root]:
            if folder.is_dir():
                freed += sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
                shutil.rmtree(folder)
    return freed


def _bytes(block: np.ndarray) -> memoryview:
    """The raw bytes of a uint8 block, without a copy when it is already contiguous."""
    return memoryview(np.ascontiguousarray(block, dtype=np.uint8)).cast("B")
