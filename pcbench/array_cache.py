"""Checksummed, memory-mappable uint8 arrays cached under the pcbench home.

Two kinds of entries live here: generated corruptions and decoded image folders. Layout::

    <pcbench home>/<kind>/<dataset>/<group>/<name>.npy     the array (NumPy .npy, uint8)
    <pcbench home>/<kind>/<dataset>/<group>/<name>.json    sidecar: SHA-256, size, metadata
    <pcbench home>/<kind>/<dataset>/<group>/.<name>.lock   held by the process writing it

Both files are written atomically (:func:`pcbench.files.atomic_write`), the array first and
the sidecar last, and an entry is used only when its sidecar parses and the array file's
size and SHA-256 match it. A truncated, altered or half-written entry is therefore never
read: its owner regenerates it. A writer holds the entry's lock from a re-check of the entry
to the sidecar's rename, so processes that need the same missing entry generate it once:
the others wait and then read it. Readers take no lock. Temporary files whose writer is
gone are removed when a folder is written to and by :func:`clear_cache`; every delete goes
through :func:`pcbench.files.remove_inside`, confined to ``corruptions/`` and ``datasets/``.
"""

from __future__ import annotations

import errno
import hashlib
import io
import itertools
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from filelock import FileLock, Timeout

from pcbench.errors import PcbenchError
from pcbench.files import TEMP_SUFFIX, atomic_write, remove_inside, temp_target, writer_alive
from pcbench.hashing import hash_file
from pcbench.paths import pcbench_home

#: Entry kinds, each a folder under the pcbench home.
KINDS = ("corruptions", "datasets")
#: Suffix of an entry's lock file, ``.<name>.lock`` next to its array.
LOCK_SUFFIX = ".lock"


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


@dataclass
class Cleared:
    """What :func:`clear_cache` did: bytes freed, entries (arrays) and stale temporary files
    removed, and entries kept because another process holds their lock (writing them)."""

    nbytes: int = 0
    entries: int = 0
    stale_temp_files: int = 0
    in_use: int = 0


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
    streamed to disk: the whole array is never held in memory. The entry's lock is held
    throughout; when another process wrote the entry while this one waited for the lock,
    that entry is returned and ``blocks`` is not consumed (a generator is never started).
    Stale temporary files in the entry's folder are removed first.
    """
    remove_stale_temp_files(path.parent)
    with _entry_lock(path):
        written_meanwhile = read_entry(path)
        if written_meanwhile is not None:
            return written_meanwhile
        return _write_locked(path, shape, blocks, meta)


def _write_locked(
    path: Path,
    shape: tuple[int, ...],
    blocks: Iterable[np.ndarray],
    meta: Callable[[], Mapping[str, Any]],
) -> CachedArray:
    """:func:`write_entry`'s writing, once the entry's lock is held."""
    digest = hashlib.sha256()
    expected = int(np.prod(shape))

    def write(handle: BinaryIO) -> None:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": tuple(shape)})
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


def remove_stale_temp_files(folder: Path) -> int:
    """Delete the temporary files in the cache folder ``folder`` whose writer is gone; return how many.

    A temporary file is stale when no process holds its entry's lock (a writer holds it
    until both of the entry's files are renamed into place) and its name does not record a
    live process of this host (:func:`pcbench.files.writer_alive`; names from before
    pcbench recorded the writer are judged by the lock alone).
    """
    root = _kind_root(folder)
    removed = 0
    for temp in sorted(Path(folder).glob(f".*{TEMP_SUFFIX}")):
        if temp_target(temp) is None or writer_alive(temp) or not temp.is_file():
            continue
        with _unless_locked(folder / f"{_entry_name(temp)}.npy") as held:
            if held:
                remove_inside(temp, root)
                removed += 1
    return removed


def cached_datasets() -> list[str]:
    """The data sets that have a folder (not a symbolic link) in the cache, sorted.

    These are the rows of ``pcbench cache info`` and the names that ``cache clear --dataset``
    accepts.
    """
    return sorted({folder.name for kind in KINDS for folder in _folders(pcbench_home() / kind)})


def cache_usage() -> list[CacheUsage]:
    """Entries and bytes on disk per (kind, dataset, group), sorted; symbolic links are skipped."""
    usage = []
    for kind in KINDS:
        for dataset_dir in _folders(pcbench_home() / kind):
            for group_dir in _folders(dataset_dir):
                files = [path for path in group_dir.iterdir() if path.is_file() and not path.is_symlink()]
                usage.append(
                    CacheUsage(
                        kind,
                        dataset_dir.name,
                        group_dir.name,
                        sum(path.suffix == ".npy" for path in files),
                        sum(path.stat().st_size for path in files),
                    )
                )
    return usage


def clear_cache(dataset: str | None = None) -> Cleared:
    """Delete every cache entry, or those of ``dataset``, one of :func:`cached_datasets`.

    Only the contents of ``corruptions/`` and ``datasets/`` under the home are deleted
    (never the registry, weights or anything else there), each file by
    :func:`pcbench.files.remove_inside`: symbolic links are unlinked, never followed.
    Entries whose lock another process holds are kept, and so are temporary files whose
    writer is alive. Raises PcbenchError, before deleting anything, for any other
    ``dataset`` (``..``, a path, a name with a separator, ``""``).
    """
    if dataset is not None and dataset not in (allowed := cached_datasets()):
        listed = ", ".join(allowed) if allowed else "none, the cache is empty"
        raise PcbenchError(f"--dataset {dataset!r} is not a data set in the cache; cached: {listed}")
    cleared = Cleared()
    for kind in KINDS:
        root = pcbench_home() / kind
        if root.is_dir():
            for path in sorted(root.iterdir()) if dataset is None else [root / dataset]:
                _clear(path, root, cleared)
    return cleared


def _clear(path: Path, root: Path, cleared: Cleared) -> None:
    """Delete ``path`` (a file, a link, or a folder with what it holds) inside ``root``, tallying."""
    if path.is_symlink() or not path.is_dir():
        if path.is_symlink() or path.exists():
            remove_inside(path, root)
        return
    entries: defaultdict[str, list[Path]] = defaultdict(list)
    for child in sorted(path.iterdir()):
        if child.is_dir() and not child.is_symlink():
            _clear(child, root, cleared)
        else:
            entries[_entry_name(child)].append(child)
    for name, files in entries.items():
        _clear_entry(path / f"{name}.npy", files, root, cleared)
    try:
        remove_inside(path, root)
    except OSError as exc:  # kept: it holds an entry being written, or a writer just created it
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise


def _clear_entry(entry: Path, files: list[Path], root: Path, cleared: Cleared) -> None:
    """Delete ``files``, those of ``entry`` (its lock last), unless a writer holds or owns them."""
    lock = _lock_path(entry)
    with _unless_locked(entry) as held:
        if not held:
            cleared.in_use += 1
            return
        kept = False
        for file in files:
            if file == lock:
                continue
            if temp_target(file) is not None and writer_alive(file):
                kept = True
                continue
            regular = file.is_file() and not file.is_symlink()
            size = file.stat().st_size if regular else 0
            remove_inside(file, root)
            cleared.nbytes += size
            if regular and file.suffix == ".npy":
                cleared.entries += 1
            elif temp_target(file) is not None:
                cleared.stale_temp_files += 1
        if not kept:
            remove_inside(lock, root)


def _folders(folder: Path) -> list[Path]:
    """The subfolders of ``folder`` that are not symbolic links, sorted; none when it is missing."""
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir() if path.is_dir() and not path.is_symlink())


def _kind_root(path: Path) -> Path:
    """The kind folder of the cache (``<home>/corruptions`` or ``<home>/datasets``) holding ``path``."""
    for kind in KINDS:
        root = pcbench_home() / kind
        if root in Path(path).parents:
            return root
    folders = " or ".join(str(pcbench_home() / kind) for kind in KINDS)
    raise PcbenchError(f"{path} is not inside the pcbench cache: {folders}")


def _entry_name(file: Path) -> str:
    """The entry a file of a group folder belongs to: ``s1-<key>`` for ``s1-<key>.npy``, ``.json``,
    their temporary files and ``.s1-<key>.lock``."""
    target = temp_target(file)
    if target is not None:
        return Path(target).stem
    if file.name.startswith(".") and file.name.endswith(LOCK_SUFFIX):
        return file.name[1 : -len(LOCK_SUFFIX)]
    return file.stem


def _lock_path(entry: Path) -> Path:
    """The lock file of the entry whose array is ``entry``."""
    return entry.with_name(f".{entry.stem}{LOCK_SUFFIX}")


def _entry_lock(entry: Path) -> FileLock:
    """The entry's lock (``flock`` on ``.<name>.lock``), creating its folder."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(_lock_path(entry))


@contextmanager
def _unless_locked(entry: Path) -> Iterator[bool]:
    """Hold the entry's lock when nobody else does, without waiting; yield whether it is held."""
    lock = _entry_lock(entry)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


def _bytes(block: np.ndarray) -> memoryview:
    """The raw bytes of a uint8 block, without a copy when it is already contiguous."""
    return memoryview(np.ascontiguousarray(block, dtype=np.uint8)).cast("B")
