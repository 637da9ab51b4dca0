"""Stable content hashes used for provenance and cache keys."""

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

SHORT = 16  # hex characters kept in stored hashes: 64 bits, ample for cache keys


def hash_json(obj: Any) -> str:
    """Hash a JSON-serialisable object independently of dict key order."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:SHORT]


def hash_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes (full 64 hex characters, as users publish them)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hash_file_once(path: str | Path) -> str:
    """:func:`hash_file`, remembered per process while the file keeps its size and
    modification time (weights and precomputed corruption sets are large and are named by
    many cells). Not for integrity checks of cache entries, which must read the bytes."""
    stat = os.stat(path)
    return _hash_file_version(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _hash_file_version(path: str, mtime_ns: int, size: int) -> str:
    """The hash of one version of a file (the arguments after ``path`` are the cache key)."""
    return hash_file(path)


def hash_arrays(*arrays: np.ndarray) -> str:
    """Hash the dtype, shape and bytes of arrays (data set contents, sample ids)."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(memoryview(array).cast("B"))  # no copy: memory-mapped images stay on disk
    return digest.hexdigest()[:SHORT]
