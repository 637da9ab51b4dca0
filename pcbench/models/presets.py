"""How a model's feedback predictors are trained by default: a plain record per model.

The zoo and the embedded models name their reference optimiser and schedule here; the
training layer (:mod:`pcbench.training`) turns a preset into an optimiser.
"""

from __future__ import annotations

from dataclasses import dataclass


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
