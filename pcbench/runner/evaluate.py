"""Per-sample predictions of a timestep model at every timestep, from one unroll per batch."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch

from pcbench.data.imageset import float_images
from pcbench.models.protocol import TimestepModel
from pcbench.runner.stochastic import seeded


def predict(
    model: TimestepModel,
    images: torch.Tensor,
    *,
    batch_size: int,
    device: torch.device,
    seed: Callable[[int], int] | None = None,
) -> np.ndarray:
    """Predicted classes ``int16 [T + 1, N]`` for float images ``[N, 3, H, W]`` in [0, 1].

    ``seed`` (stochastic models, :mod:`pcbench.runner.stochastic`) maps a batch's index to
    the seed its forward runs under; without it nothing is reseeded.

    Example::

        predict(model, images, batch_size=128, device=torch.device("cpu"))[-1]  # classes at T
    """
    return _predicted(model, images.split(batch_size), device, seed)


def predict_batches(
    model: TimestepModel,
    batches: Iterable[np.ndarray],
    *,
    device: torch.device,
    seed: Callable[[int], int] | None = None,
) -> np.ndarray:
    """:func:`predict` on uint8 batches ``[B, H, W, 3]`` (e.g. streamed, :mod:`pcbench.streams`),
    each converted to float as it comes; ``seed`` as for :func:`predict`.

    Example::

        predict_batches(model, stream_batches(array_blocks(images), 128), device=torch.device("cpu"))
    """
    return _predicted(model, (float_images(batch) for batch in batches), device, seed)


def _predicted(
    model: TimestepModel,
    batches: Iterable[torch.Tensor],
    device: torch.device,
    seed: Callable[[int], int] | None,
) -> np.ndarray:
    """Predicted classes ``int16 [T + 1, N]`` of float ``batches``, batch ``i`` under ``seed(i)``."""
    predictions = []
    with torch.no_grad():
        for index, batch in enumerate(batches):
            with seeded(None if seed is None else seed(index), device):
                logits = model(batch.to(device, non_blocking=True))
            predictions.append(logits.argmax(dim=-1).to(torch.int16).cpu())
    return torch.cat(predictions, dim=1).numpy()
