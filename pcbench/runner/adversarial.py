"""Predictions under attack at every timestep, for each ``attack_timestep`` choice.

- ``last``: one attack on the logits of the last timestep T (gradient through the whole
  unroll); its adversarial images are evaluated at every timestep.
- ``first``: one attack on the feedforward pass (timestep 0; for a PC variant this is
  exactly a transfer attack from its feedforward base), evaluated at every timestep.
- ``mean``: one attack on the mean of the logits over timesteps, evaluated at every one.
- ``sum``: one attack on every timestep at once (each attack's loss summed over timesteps
  0..T), evaluated at every one.
- ``each``: a separate attack per evaluated timestep t; the prediction stored for t is the
  model's at t on the images attacked at t (the diagonal of the attack × read-out matrix).
  The images attacked at t are also read at every other evaluated timestep (one more unroll
  of them, no more attack; a model that is not truncated to t reuses the attack's unroll):
  the off-diagonal of the matrix, returned apart (:func:`attacked_predictions`) and stored as
  the cell's ``attacked_at`` prediction rows (:mod:`pcbench.store.schema`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch

from pcbench.data import ImageSet
from pcbench.errors import PcbenchError
from pcbench.models.protocol import TimestepModel
from pcbench.perturbations.attacks import attack_images, unrolled_to
from pcbench.perturbations.autoattack import AutoAttackWarning
from pcbench.runner.evaluate import predict
from pcbench.runner.stochastic import Draw, seeded
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
    draw: Draw | None = None,
) -> tuple[np.ndarray, list[str], np.ndarray | None]:
    """Predicted classes ``int16 [T + 1, N]`` under the attack (rows outside ``timesteps``
    are -1 for ``each``), the distinct warnings of AutoAttack's checks (empty for foolbox
    kinds; other warnings pass through) and, for ``each`` only, the whole attack × read-out
    matrix ``int16 [T + 1, T + 1, N]``: ``[a, r]`` holds the predictions at read-out
    timestep r on the images attacked at a (-1 where a or r is not in ``timesteps``), its
    diagonal equal to the first array's rows (None for the other ``attack_timestep`` choices,
    whose one set of adversarial images the first array already reads at every timestep).

    Example::

        predictions, warned, matrix = attacked_predictions(
            model, config, 0.05, data, (0, 1, 2), seed=0, batch_size=64, device=torch.device("cpu")
        )
        accuracy_at_2_of_images_attacked_at_0 = (matrix[0, 2] == data.labels).mean()
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AutoAttackWarning)
        predictions, matrix = _predictions(model, config, epsilon, data, timesteps, seed, batch_size, device, draw)
    messages = []
    for warning in caught:
        if issubclass(warning.category, AutoAttackWarning):
            messages.append(str(warning.message))
        else:
            warnings.warn(warning.message, stacklevel=2)  # others pass through, under the caller's filters
    return predictions, list(dict.fromkeys(messages)), matrix


def _predictions(
    model: TimestepModel,
    config: AttackConfig,
    epsilon: float,
    data: ImageSet,
    timesteps: tuple[int, ...],
    seed: int,
    batch_size: int,
    device: torch.device,
    draw: Draw | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The predictions and the ``each`` matrix of :func:`attacked_predictions`; a stochastic
    model's ``draw`` seeds each attack (whose batches run in turn) and each batch of the
    evaluation of its images (:mod:`pcbench.runner.stochastic`)."""
    images, labels = data.tensor(), torch.from_numpy(data.labels)

    def reading(*where: int | str) -> Callable[[int], int] | None:
        return None if draw is None else draw.batches("read", *where)

    def attack(target: int | str) -> torch.Tensor:
        with seeded(None if draw is None else draw.seed("attack", target), device):
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
        return predict(model, attack(target), batch_size=batch_size, device=device, seed=reading(target)), None
    matrix = np.full((last + 1, last + 1, len(data)), -1, dtype=np.int16)
    read = list(timesteps)
    for t in timesteps:
        with unrolled_to(model, t):
            adversarial = attack(t)
            attacked = predict(model, adversarial, batch_size=batch_size, device=device, seed=reading(t))
        diagonal = attacked[t]  # exactly what the model, unrolled to t, predicts at t
        if len(attacked) <= last:  # truncated to t (a PC model): one full unroll reads the later timesteps
            attacked = predict(model, adversarial, batch_size=batch_size, device=device, seed=reading(t, "all"))
        matrix[t, read] = attacked[read]
        matrix[t, t] = diagonal
    predictions = np.full((last + 1, len(data)), -1, dtype=np.int16)
    predictions[read] = matrix[read, read]
    return predictions, matrix
