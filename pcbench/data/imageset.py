"""Image sets: uint8 images (in memory or memory-mapped), labels and stable sample ids."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from pcbench.errors import PcbenchError
from pcbench.hashing import hash_arrays


@dataclass(frozen=True)
class ImageSet:
    """Images ``uint8 [N, H, W, 3]``, labels ``int64 [N]`` and sample ids ``int64 [N]``.

    ``images`` may be a read-only memory map (decoded image folders live in the cache).

    ``ids`` are positions in the full split, so a subset's samples keep their identity
    (corruption seeds, per-sample predictions and paired statistics rely on it).
    """

    name: str
    split: str
    images: np.ndarray
    labels: np.ndarray
    ids: np.ndarray
    num_classes: int

    @cached_property
    def content_hash(self) -> str:
        """Hash of the images, labels and ids: identifies exactly what was evaluated."""
        return hash_arrays(self.images, self.labels, self.ids)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, limit: int | None, seed: int, *, key: str = "limit") -> ImageSet:
        """A seeded, class-stratified subset of ``limit`` samples (all when ``None`` or ``len``).

        Each class's samples are shuffled with ``numpy.random.default_rng(seed)``; samples
        are then taken round-robin over classes (in label order) until ``limit`` are chosen,
        and returned sorted by id. The same (data, limit, seed) always gives the same ids.

        ``limit`` must lie in 1..len: a larger one is a PcbenchError naming the size (``key``
        names the setting), not a silent clamp, which would record ``limit = 1000`` for what
        is in fact the whole split.
        """
        if limit is None:
            return self
        if not 1 <= limit <= len(self):
            raise PcbenchError(
                f"{key} = {limit} is not allowed: {self.name}/{self.split} has {len(self)} samples; "
                f"allowed: 1 to {len(self)}, or no limit for the whole split"
            )
        if limit == len(self):
            return self
        rng = np.random.default_rng(seed)
        queues = [list(rng.permutation(np.flatnonzero(self.labels == c))) for c in np.unique(self.labels)]
        chosen: list[int] = []
        while len(chosen) < limit:
            for queue in queues:
                if queue and len(chosen) < limit:
                    chosen.append(int(queue.pop(0)))
        return self._take(np.sort(np.asarray(chosen)))

    def where(self, keep: np.ndarray) -> ImageSet:
        """The samples where the boolean ``keep`` (one per sample) is true, in id order."""
        return self._take(np.flatnonzero(keep))

    def _take(self, index: np.ndarray) -> ImageSet:
        """The samples at positions ``index`` (ascending)."""
        return ImageSet(
            self.name, self.split, self.images[index], self.labels[index], self.ids[index], self.num_classes
        )

    def tensor(self, images: np.ndarray | None = None) -> torch.Tensor:
        """``images`` (default: this set's) as float ``[N, 3, H, W]`` in [0, 1] (:func:`float_images`)."""
        return float_images(self.images if images is None else images)


def float_images(images: np.ndarray) -> torch.Tensor:
    """uint8 ``images [N, H, W, 3]`` as float ``[N, 3, H, W]`` in [0, 1].

    Example::

        float_images(np.full((1, 2, 2, 3), 255, np.uint8)).shape   # torch.Size([1, 3, 2, 2]), all 1.0
    """
    writable = np.require(images, requirements=["C", "W"])  # copies read-only memory maps
    return torch.from_numpy(writable).permute(0, 3, 1, 2).float().div_(255.0)
