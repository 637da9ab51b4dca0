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


class UnrolledModel(TimestepModel):
    """A recurrent network that unrolls itself: ``backbone(normalize(x))`` is already
    ``[T + 1, B, classes]`` (a registered recurrent variant).

    Example::

        model = UnrolledModel(net, Normalize(MEAN, STD), timesteps=net.timesteps)
    """

    def __init__(self, backbone: nn.Module, normalize: Normalize, timesteps: int) -> None:
        super().__init__(backbone, normalize)
        self.timesteps = timesteps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.normalize(x))


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


def as_timestep_model(module: nn.Module, probes: Sequence[torch.Tensor]) -> TimestepModel:
    """Wrap ``module`` after forwards on ``probes`` (batches ``[B, 3, H, W]`` in [0, 1] of two
    different sizes) that tell its output layout; a ``TimestepModel`` passes through with its
    own T.

    The batch axis is the one whose length follows the probe's batch size, so a batch-first
    ``[B, T + 1, classes]`` output can never pass as ``[T + 1, B, classes]``. Raises
    ValueError for any other output layout, naming it.
    """
    if isinstance(module, TimestepModel):
        return module
    sizes = [len(probe) for probe in probes]
    with torch.no_grad():
        outputs = [module(probe) for probe in probes]
    shapes = [tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__ for out in outputs]
    expected = " and ".join(f"[{size}, classes] or [T + 1, {size}, classes]" for size in sizes)
    found = ", ".join(f"{size} images to {shape}" for size, shape in zip(sizes, shapes, strict=True))
    if not all(isinstance(out, torch.Tensor) and out.dim() in (2, 3) for out in outputs):
        raise ValueError(f"the model maps {found}; expected logits {expected}")
    if len({out.dim() for out in outputs}) != 1:
        raise ValueError(f"the model maps {found}: inconsistent layouts; expected logits {expected}")
    batch_axes = {axis for axis in range(outputs[0].dim()) if [out.shape[axis] for out in outputs] == sizes}
    batch_axis = 0 if outputs[0].dim() == 2 else 1
    others = {out.shape[:batch_axis] + out.shape[batch_axis + 1 :] for out in outputs}  # T + 1 and classes
    if batch_axes != {batch_axis} or len(others) != 1:
        hint = " (batch first: transpose to [T + 1, B, classes])" if batch_axes == {0} else ""
        raise ValueError(f"the model maps {found}{hint}; expected logits {expected}")
    return ModuleTimestepModel(module, 0 if outputs[0].dim() == 2 else outputs[0].shape[0] - 1)
