"""Predictions under attack at every timestep, for each ``attack_timestep`` choice.

- ``last``: one attack on the logits of the last timestep T (gradient through the whole
  unroll); its adversarial images are evaluated at every timestep.
- ``first``: one attack on the feedforward pass (timestep 0; for a PC variant this is
  exactly a transfer attack from its feedforward base), evaluated at every timestep.
- ``mean``: one attack on the mean of the logits over timesteps, evaluated at every one.
- ``sum``: one attack on every timestep at once (each attack's loss summed over timesteps
  0..T), evaluated at every one.
- ``each``: a separate attack per evaluated timestep t; the prediction stored for t is the
  model's at t on the images attacked at t (the diagonal of the attack × evaluation grid).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from pcbench.data import ImageSet
from pcbench.errors import PcbenchError
from pcbench.models.protocol import TimestepModel
from pcbench.perturbations.attacks import attack_images, unrolled_to
from pcbench.perturbations.autoattack import AutoAttackWarning
from pcbench.runner.evaluate import predict
from pcbench.suite import AttackConfig


def attacked_samples(
    data: ImageSet, config: AttackConfig, seed: int, correct: np.ndarray | None = None, model: str = ""
) -> ImageSet:
    """The samples an attack is evaluated on: with ``samples = "correct"`` only those that
    ``correct`` (one boolean per sample of ``data``: the model is right on the clean image at
    every evaluated timestep) marks; then the attack's ``limit``-sample seeded, stratified
    subset of them (all without a limit or when there are fewer). PcbenchError naming
    ``model`` when no sample is left."""
    if config.samples == "correct":
        if correct is None:
            raise ValueError("samples = 'correct' needs the clean correctness of every sample")
        data = data.where(correct)
        if len(data) == 0:
            raise PcbenchError(
                f"model '{model}' classifies no clean sample correctly at every evaluated timestep, so attack "
                f"{config.label} (samples = 'correct') has nothing to attack; allowed: samples = 'all' for it"
            )
    if config.limit is None or config.limit >= len(data):
        return data
    return data.subset(config.limit, seed)


def correct_at_every_timestep(predictions: np.ndarray, labels: np.ndarray, timesteps: tuple[int, ...]) -> np.ndarray:
    """One boolean per sample: its clean prediction (``predictions``: ``[T + 1, N]``) is right at
    every timestep of ``timesteps`` (the samples Predify attacked)."""
    return (predictions[list(timesteps)] == labels[None, :]).all(axis=0)


def attacked_predictions(
    model: TimestepModel,
    config: AttackConfig,
    epsilon: float,
    data: ImageSet,
    timesteps: tuple[int, ...],
    *,
    seed: int,
    batch_size: int,
    device: torch.device,
) -> tuple[np.ndarray, list[str]]:
    """Predicted classes ``int16 [T + 1, N]`` under the attack (rows outside ``timesteps``
    are -1 for ``each``), and the distinct warnings of AutoAttack's checks (empty for
    foolbox kinds); other warnings pass through."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AutoAttackWarning)
        predictions = _predictions(model, config, epsilon, data, timesteps, seed, batch_size, device)
    messages = []
    for warning in caught:
        if issubclass(warning.category, AutoAttackWarning):
            messages.append(str(warning.message))
        else:
            warnings.warn(warning.message, stacklevel=2)  # others pass through, under the caller's filters
    return predictions, list(dict.fromkeys(messages))


def _predictions(
    model: TimestepModel,
    config: AttackConfig,
    epsilon: float,
    data: ImageSet,
    timesteps: tuple[int, ...],
    seed: int,
    batch_size: int,
    device: torch.device,
) -> np.ndarray:
    images, labels = data.tensor(), torch.from_numpy(data.labels)

    def attack(target: int | str) -> torch.Tensor:
        return attack_images(
            model,
            images,
            labels,
            data.ids,
            config,
            epsilon,
            target,
            num_classes=data.num_classes,
            seed=seed,
            batch_size=batch_size,
            device=device,
        )

    last = max(timesteps)
    if config.attack_timestep != "each":
        target = {"last": last, "first": 0, "mean": "mean", "sum": "sum"}[config.attack_timestep]
        return predict(model, attack(target), batch_size=batch_size, device=device)
    predictions = np.full((last + 1, len(data)), -1, dtype=np.int16)
    for t in timesteps:
        with unrolled_to(model, t):
            predictions[t] = predict(model, attack(t), batch_size=batch_size, device=device)[t]
    return predictions
