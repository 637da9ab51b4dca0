"""Per-sample predictions of a timestep model at every timestep, from one unroll per batch."""

from __future__ import annotations

import numpy as np
import torch

from pcbench.models.protocol import TimestepModel


def predict(model: TimestepModel, images: torch.Tensor, *, batch_size: int, device: torch.device) -> np.ndarray:
    """Predicted classes ``int16 [T + 1, N]`` for float images ``[N, 3, H, W]`` in [0, 1]."""
    predictions = []
    with torch.no_grad():
        for batch in images.split(batch_size):
            logits = model(batch.to(device, non_blocking=True))
            predictions.append(logits.argmax(dim=-1).to(torch.int16).cpu())
    return torch.cat(predictions, dim=1).numpy()
