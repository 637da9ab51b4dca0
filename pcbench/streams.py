"""Image batches streamed from their source with bounded memory, read ahead of the model.

A cell's images reach the model as an iterator of ``uint8 [B, H, W, 3]`` batches, never as
one array: :func:`array_blocks` reads rows of an array (a ``.npy`` file is read with
``pread``, not through its memory map, so the pages it reads are never counted in the
process's resident memory), :func:`rebatch` cuts any blocks into batches of exactly the
batch size (the last one shorter), and :func:`prefetched` produces them on a background
thread through a queue of at most ``depth`` items, so that reading and decoding (file reads
and Pillow release the GIL, worker processes decode JPEGs) overlap with the model's work.

Memory held at once: ``depth`` batches in the queue, one being produced, one being
evaluated, and the blocks the producer still needs to complete a batch; none of it grows with
the number of samples. The batches are cut at the same positions as ``images[k·B:(k+1)·B]``,
so a model sees exactly the tensors it would see on the whole array.
"""

from __future__ import annotations

import mmap
import os
import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

import numpy as np

T = TypeVar("T")

#: Batches read ahead of the model (the prefetch queue's size).
PREFETCH = 2
#: Rows read from an array at a time by :func:`array_blocks`.
BLOCK_ROWS = 64


def read_rows(array: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``array[rows]`` as a new in-memory array.

    A C-ordered ``numpy.memmap`` over a whole mapping (what ``np.load(..., mmap_mode="r")``
    returns; not a slice of one, whose ``offset`` numpy leaves at the parent's) is read from
    its file with ``os.pread``, one read per run of consecutive rows, so the file's pages are
    never mapped into this process; any other array is indexed.

    Example::

        read_rows(np.load("fog.npy", mmap_mode="r"), np.array([4, 5, 9]))   # uint8 [3, H, W, 3]
    """
    if not (isinstance(array, np.memmap) and isinstance(array.base, mmap.mmap) and array.flags.c_contiguous):
        return np.array(array[rows])
    out = np.empty((len(rows), *array.shape[1:]), dtype=array.dtype)
    row_bytes = array.itemsize * int(np.prod(array.shape[1:], dtype=np.int64))
    target = memoryview(out.reshape(-1).view(np.uint8))
    starts = np.flatnonzero(np.diff(rows, prepend=-2) != 1)  # positions where a run of consecutive rows begins
    with open(array.filename, "rb", buffering=0) as handle:
        for first, end in zip(starts, [*starts[1:], len(rows)], strict=True):
            offset = array.offset + int(rows[first]) * row_bytes
            wanted = slice(int(first) * row_bytes, int(end) * row_bytes)
            _pread_into(handle.fileno(), target[wanted], offset)
    return out


def _pread_into(fd: int, target: memoryview, offset: int) -> None:
    """Fill ``target`` with the file's bytes from ``offset`` (``os.preadv`` may read less)."""
    done = 0
    while done < len(target):
        read = os.preadv(fd, [target[done:]], offset + done)
        if read == 0:
            raise OSError(f"unexpected end of file at byte {offset + done}")
        done += read


def array_blocks(array: np.ndarray, rows: np.ndarray | None = None, block: int = BLOCK_ROWS) -> Iterator[np.ndarray]:
    """``array[rows]`` (default: every row) in consecutive blocks of ``block`` rows (:func:`read_rows`).

    Example::

        for images in array_blocks(np.load("fog.npy", mmap_mode="r"), np.arange(100, 200)): ...
    """
    rows = np.arange(len(array)) if rows is None else np.asarray(rows)
    for start in range(0, len(rows), block):
        yield read_rows(array, rows[start : start + block])


def rebatch(blocks: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """The rows of consecutive ``blocks`` in batches of exactly ``size`` rows (the last may be
    shorter); a block that is already one batch is passed on without a copy.

    Example::

        [len(b) for b in rebatch([np.zeros((5, 2)), np.zeros((4, 2))], 3)]   # [3, 3, 3]
    """
    pending: list[np.ndarray] = []
    held = 0
    for block in blocks:
        while len(block):
            take = min(size - held, len(block))
            pending.append(block[:take])
            held += take
            block = block[take:]
            if held == size:
                yield pending[0] if len(pending) == 1 else np.concatenate(pending)
                pending, held = [], 0
    if held:
        yield pending[0] if len(pending) == 1 else np.concatenate(pending)


def stream_batches(blocks: Iterable[np.ndarray], batch_size: int, depth: int = PREFETCH) -> Iterator[np.ndarray]:
    """``blocks`` cut into batches of ``batch_size`` (:func:`rebatch`), read ``depth`` batches
    ahead on a background thread (:func:`prefetched`): what the runner evaluates a cell on.

    Example::

        for batch in stream_batches(source.cell("fog", 3).blocks(), 128): ...
    """
    return prefetched(rebatch(blocks, batch_size), depth)


class _Failed:
    """An exception raised by the producer, handed to the consumer."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


def prefetched(items: Iterable[T], depth: int = PREFETCH) -> Iterator[T]:
    """``items`` in order, produced on a background thread at most ``depth`` items ahead.

    An exception of the producer is raised in the consumer, at the item where it happened.
    When the consumer stops early (an exception, ``close()``), the producer stops too and
    ``items`` is closed if it is a generator.

    Example::

        for batch in prefetched(rebatch(blocks, 128)): model(batch)
    """
    if depth < 1:
        raise ValueError(f"prefetch depth {depth} must be >= 1")
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    source = iter(items)

    def offer(item: object) -> bool:
        """Put ``item`` once there is room; False once the consumer has gone."""
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not offer(item):
                    return
            offer(_DONE)
        except BaseException as error:  # handed to the consumer, raised there
            offer(_Failed(error))

    producer = threading.Thread(target=produce, name="pcbench-prefetch", daemon=True)
    producer.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        producer.join()
        close = getattr(source, "close", None)
        if close is not None:
            close()
