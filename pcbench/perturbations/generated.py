"""Corruptions generated with imagecorruptions: in parallel, once, into the on-disk cache.

A cell's images are cached under ``<pcbench home>/corruptions/<dataset>/<corruption>/``,
keyed by the evaluated images' content hash (images, labels and sample ids), corruption,
severity, suite seed and :func:`~pcbench.perturbations.corruptions.corruption_source` (the
imagecorruptions version and pcbench's non-finite rule). Any model, run or suite that needs
the same cell reads it from there; a missing, truncated or corrupted entry is regenerated.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np

from pcbench.array_cache import CachedArray, entry_path, read_entry, write_entry
from pcbench.data import ImageSet
from pcbench.hashing import hash_json
from pcbench.parallel import WorkerPool, chunk_slices
from pcbench.perturbations.corruption_cells import CorruptedCell
from pcbench.perturbations.corruptions import (
    NonFinite,
    check_corruptible,
    corrupt_images,
    corruption_source,
)
from pcbench.streams import array_blocks


class GeneratedCorruptions:
    """The :class:`~pcbench.perturbations.corruption_cells.CorruptionSource` of generated cells."""

    def __init__(self, data: ImageSet, seed: int, pool: WorkerPool) -> None:
        check_corruptible(data.images.shape, data.name)
        self.data = data
        self.seed = seed
        self.pool = pool

    def source(self, corruption: str, severity: int) -> str:
        """``generated:imagecorruptions-imaug==<version>;nonfinite=clean`` for every cell."""
        return corruption_source()

    def cell(self, corruption: str, severity: int) -> CorruptedCell:
        """The cached cell, generated (with the pool's workers) when it is not cached intact;
        its blocks are read from the cache file (:func:`pcbench.streams.array_blocks`)."""
        path = self._cache_path(corruption, severity)
        entry = read_entry(path) or self._generate(path, corruption, severity)
        counts = NonFinite(entry.meta["nonfinite_images"], entry.meta["nonfinite_pixels"])
        return CorruptedCell(partial(array_blocks, entry.array), corruption_source(), counts)

    def _cache_path(self, corruption: str, severity: int) -> Path:
        """Where the cell's entry lives in the cache."""
        key = hash_json(
            {
                "data": self.data.content_hash,
                "corruption": corruption,
                "severity": severity,
                "seed": self.seed,
                "source": corruption_source(),
            }
        )
        return entry_path("corruptions", self.data.name, corruption, f"s{severity}-{key}")

    def _generate(self, path: Path, corruption: str, severity: int) -> CachedArray:
        data = self.data
        slices = chunk_slices(len(data), self.pool.workers)
        work = partial(corrupt_images, corruption=corruption, severity=severity, seed=self.seed)
        total = NonFinite()

        def blocks() -> Iterator[np.ndarray]:
            nonlocal total
            chunks = self.pool.map(work, (data.images[s] for s in slices), (data.ids[s] for s in slices))
            for images, nonfinite in chunks:
                total += nonfinite
                yield images

        def meta() -> dict:
            return {
                "dataset": data.name,
                "split": data.split,
                "data_hash": data.content_hash,
                "corruption": corruption,
                "severity": severity,
                "seed": self.seed,
                "source": corruption_source(),
                "nonfinite_images": total.images,
                "nonfinite_pixels": total.pixels,
            }

        return write_entry(path, data.images.shape, blocks(), meta)
