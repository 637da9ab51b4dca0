"""The timestep-model protocol shared by every model pcbench evaluates.

A timestep model maps images in [0, 1] (``[B, 3, H, W]``) to logits for timesteps 0..T
from *one* unroll: a tensor ``[T + 1, B, classes]``. Normalisation lives inside the model,
so attacks work in pixel space with bounds (0, 1). A feedforward model has T = 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std`` for inputs ``[B, C, H, W]``."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class TimestepModel(nn.Module):
    """Base class: ``forward(x) -> logits [T + 1, B, classes]`` with ``T = self.timesteps``."""

    timesteps: int

    def __init__(self, backbone: nn.Module, normalize: Normalize) -> None:
        super().__init__()
        self.backbone = backbone
        self.normalize = normalize


class FeedforwardModel(TimestepModel):
    """A plain CNN seen through the protocol: T = 0, logits ``[1, B, classes]``."""

    timesteps = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.normalize(x)).unsqueeze(0)


class AtTimestep(nn.Module):
    """Reduce a timestep model to ``[B, classes]`` logits (for attacks and training).

    ``timestep`` is an index into 0..T, ``"last"``, or ``"mean"`` (mean of logits over all
    timesteps).
    """

    def __init__(self, model: TimestepModel, timestep: int | str = "last") -> None:
        super().__init__()
        self.model = model
        self.timestep = timestep

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x)
        if self.timestep == "mean":
            return logits.mean(dim=0)
        return logits[-1 if self.timestep == "last" else self.timestep]
