"""Optimisers for feedback training, and the per-model presets that choose one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from pcbench.errors import PcbenchError

_OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
}
#: Names accepted by ``--optimizer``.
OPTIMIZERS: tuple[str, ...] = tuple(_OPTIMIZERS)


@dataclass(frozen=True)
class TrainingPreset:
    """Default optimiser and schedule for training one model's feedback predictors."""

    optimizer: str
    lr: float
    weight_decay: float
    epochs: int
    batch_size: int = 64


#: For PC models without a preset of their own (the reference's PResNet choice).
DEFAULT_PRESET = TrainingPreset("adamw", lr=1e-3, weight_decay=5e-4, epochs=10)


def check_optimizer(name: str) -> None:
    """Raise a one-line error unless ``name`` is one of :data:`OPTIMIZERS`."""
    if name not in _OPTIMIZERS:
        raise PcbenchError(f"optimizer = '{name}'; allowed: {', '.join(OPTIMIZERS)}")


def make_optimizer(
    name: str, parameters: Iterable[torch.nn.Parameter], lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    """``torch.optim`` optimiser ``name`` (plain: no momentum) over ``parameters``."""
    check_optimizer(name)
    return _OPTIMIZERS[name](parameters, lr=lr, weight_decay=weight_decay)
