"""The timestep-model protocol shared by every model pcbench evaluates.

A timestep model maps images in [0, 1] (``[B, 3, H, W]``) to logits for timesteps 0..T
from *one* unroll: a tensor ``[T + 1, B, classes]``. Normalisation lives inside the model,
so attacks work in pixel space with bounds (0, 1). A feedforward model has T = 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from pcbench.hashing import hash_arrays


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


class ModuleTimestepModel(TimestepModel):
    """Any ``nn.Module`` that maps images in [0, 1] to logits seen through the protocol.

    The module returns ``[B, classes]`` (a feedforward model: T = 0, logits get a timestep
    axis) or ``[T + 1, B, classes]`` (its own unroll); normalisation is the module's business.
    """

    def __init__(self, module: nn.Module, timesteps: int) -> None:
        super().__init__(module, nn.Identity())  # type: ignore[arg-type]
        self.timesteps = timesteps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.backbone(x)
        return logits.unsqueeze(0) if self.timesteps == 0 and logits.dim() == 2 else logits


def as_timestep_model(module: nn.Module, probe: torch.Tensor) -> TimestepModel:
    """Wrap ``module`` after one forward on ``probe`` (``[B, 3, H, W]`` in [0, 1]) that tells
    its output layout; a ``TimestepModel`` passes through with its own T.

    Raises ValueError for any other output shape.
    """
    if isinstance(module, TimestepModel):
        return module
    with torch.no_grad():
        logits = module(probe)
    if not isinstance(logits, torch.Tensor) or logits.dim() not in (2, 3) or logits.shape[-2] != len(probe):
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(
            f"the model maps a batch of {len(probe)} images to {shape}; expected logits "
            f"[{len(probe)}, classes] or [T + 1, {len(probe)}, classes]"
        )
    return ModuleTimestepModel(module, 0 if logits.dim() == 2 else logits.shape[0] - 1)


def state_dict_hash(module: nn.Module) -> str:
    """Hash of a module's state dict: every entry's name, dtype, shape and bytes, in key order."""
    arrays = []
    for key, tensor in sorted(module.state_dict().items()):
        arrays.append(np.frombuffer(f"{key}:{tensor.dtype}:{tuple(tensor.shape)}".encode(), dtype=np.uint8))
        arrays.append(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return hash_arrays(*arrays)
