"""Optimisers for feedback training (the presets that choose one: :mod:`pcbench.models.presets`)."""

from __future__ import annotations

from collections.abc import Iterable

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
