"""Adversarial attacks run on the unrolled timestep model: foolbox 3 kinds here, AutoAttack
kinds in :mod:`pcbench.perturbations.autoattack`.

Inputs live in [0, 1] (bounds (0, 1)); normalisation is inside the model, so foolbox gets
no preprocessing. The attacked logits are those of one timestep ``t`` (the model is
unrolled to ``t`` and no further, so the gradient flows through all ``t`` timesteps), the
mean of the logits over all timesteps, or (``"sum"``) every timestep at once: the loss is
the cross-entropy summed over timesteps 0..T, through foolbox's ``get_loss_fn`` hook
(foolbox computes the cross-entropy of one logits tensor itself, so no reduction of the
logits could give the sum). Robust accuracy is *not* taken from foolbox's success flags
(which count already-misclassified samples as successes): the runner evaluates the
returned adversarial images at every timestep itself.

Determinism: random starts are drawn per sample from a seed derived from (suite seed,
attack, ε, sample id), through foolbox's ``get_random_start`` hook, so a sample's
adversarial image does not depend on the batch it is in or on ``--limit``. AutoAttack kinds
run in batches of their own ``batch_size``, each seeded with its first sample's seed, and a
sample's image there depends on its batch (:mod:`pcbench.perturbations.autoattack`).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator
from typing import Any, Literal

import eagerpy as ep
import foolbox as fb
import numpy as np
import torch

from pcbench.errors import PcbenchError
from pcbench.hashing import hash_json
from pcbench.models.pc import PCModel
from pcbench.models.protocol import AtTimestep, TimestepModel
from pcbench.perturbations.autoattack import autoattack_images
from pcbench.suite import AttackConfig
from pcbench.suite.schema import AUTOATTACK_KINDS

AttackTarget = int | Literal["mean", "sum"]


class _PcbenchAttack:
    """Foolbox mix-in: the random start comes from ``self.noise`` (unit ball, per sample),
    with ``self.summed`` (a foolbox model of all timesteps' logits ``[T + 1, B, classes]``)
    the loss is the cross-entropy summed over timesteps, and with ``self.eot`` > 1 it is the
    mean of that many forwards' losses (:func:`expected_loss`)."""

    noise: torch.Tensor
    summed: fb.Model | None = None
    eot: int = 1

    def get_random_start(self, x0: ep.Tensor, epsilon: float) -> ep.Tensor:
        return x0 + epsilon * ep.astensor(self.noise.to(x0.raw.device))

    def get_loss_fn(self, model: fb.Model, labels: ep.Tensor) -> Callable[[ep.Tensor], ep.Tensor]:
        return expected_loss(self._loss_fn(model, labels), self.eot)

    def _loss_fn(self, model: fb.Model, labels: ep.Tensor) -> Callable[[ep.Tensor], ep.Tensor]:
        if self.summed is None:
            return super().get_loss_fn(model, labels)  # type: ignore[misc]
        summed = self.summed

        def loss_fn(inputs: ep.Tensor) -> ep.Tensor:
            logits = summed(inputs)
            return sum(ep.crossentropy(logits[t], labels).sum() for t in range(logits.shape[0]))

        return loss_fn


def expected_loss(loss_fn: Callable[[ep.Tensor], ep.Tensor], draws: int) -> Callable[[ep.Tensor], ep.Tensor]:
    """Expectation over Transformation: ``loss_fn`` averaged over ``draws`` calls (each a
    forward that draws the model's randomness anew), so the gradient foolbox takes of it is
    the mean of ``draws`` single-draw gradients; ``loss_fn`` itself for one draw.

    Example::

        loss = expected_loss(lambda x: ep.crossentropy(fmodel(x), labels).sum(), 8)
    """
    if draws == 1:
        return loss_fn

    def mean_loss(inputs: ep.Tensor) -> ep.Tensor:
        return sum(loss_fn(inputs) for _ in range(draws)) / draws  # type: ignore[return-value]

    return mean_loss


class _FGSM(_PcbenchAttack, fb.attacks.FGSM):
    pass


class _LinfPGD(_PcbenchAttack, fb.attacks.LinfPGD):
    pass


class _L2PGD(_PcbenchAttack, fb.attacks.L2PGD):
    pass


class _LinfBIM(_PcbenchAttack, fb.attacks.LinfBasicIterativeAttack):
    pass


_ITERATIVE = {"pgd-linf": _LinfPGD, "pgd-l2": _L2PGD, "bim-linf": _LinfBIM}


def make_attack(config: AttackConfig) -> fb.attacks.Attack:
    """The foolbox attack for a suite attack entry (iterative ones with per-sample starts,
    every one averaging its gradients over ``config.eot`` draws)."""
    if config.kind == "fgsm":
        attack = _FGSM()
    elif config.kind in _ITERATIVE:
        attack = _ITERATIVE[config.kind](
            rel_stepsize=config.rel_stepsize, steps=config.steps, random_start=config.random_start
        )
    else:
        raise PcbenchError(f"attack kind '{config.kind}' is not a foolbox attack")
    attack.eot = config.eot
    return attack


def sample_seeds(ids: np.ndarray, config: AttackConfig, epsilon: float, seed: int) -> list[int]:
    """One seed per sample, from (suite seed, attack settings, ε, sample id) alone."""
    salt = hash_json([seed, config.params(), epsilon])
    seeds = []
    for sample_id in ids:
        digest = hashlib.sha256(f"{salt}:{int(sample_id)}".encode()).digest()
        seeds.append(int.from_bytes(digest[:8], "little") >> 1)
    return seeds


def start_noise(
    ids: np.ndarray, shape: tuple[int, ...], config: AttackConfig, epsilon: float, seed: int
) -> torch.Tensor:
    """Per-sample random-start directions in the unit ball of the attack's norm."""
    noise = torch.empty((len(ids), *shape))
    for row, sample_seed in enumerate(sample_seeds(ids, config, epsilon, seed)):
        generator = torch.Generator().manual_seed(sample_seed)
        if config.kind == "pgd-l2":
            direction = torch.randn(shape, generator=generator)
            radius = torch.rand((), generator=generator) ** (1.0 / direction.numel())
            noise[row] = direction / direction.norm() * radius
        else:
            noise[row] = torch.rand(shape, generator=generator) * 2 - 1
    return noise


@contextlib.contextmanager
def unrolled_to(model: TimestepModel, timesteps: int) -> Iterator[TimestepModel]:
    """Temporarily unroll a PC model to ``timesteps`` (feedforward models are unchanged)."""
    if not isinstance(model, PCModel):
        yield model
        return
    saved = model.timesteps
    model.timesteps = timesteps
    try:
        yield model
    finally:
        model.timesteps = saved


@contextlib.contextmanager
def gradient_mode(model: TimestepModel, mode: str) -> Iterator[None]:
    """Temporarily set a PC model's gradient mode (feedforward models have none)."""
    if not isinstance(model, PCModel):
        yield
        return
    saved = model.gradient_mode
    model.gradient_mode = mode  # type: ignore[assignment]
    try:
        yield
    finally:
        model.gradient_mode = saved


def attack_images(
    model: TimestepModel,
    images: torch.Tensor,
    labels: torch.Tensor,
    ids: np.ndarray,
    config: AttackConfig,
    epsilon: float,
    target: AttackTarget,
    *,
    num_classes: int,
    seed: int,
    batch_size: int,
    device: torch.device,
) -> torch.Tensor:
    """Adversarial versions (clipped to [0, 1]) of ``images``, on the CPU.

    ``target`` is the timestep whose logits are attacked (the model is unrolled to it),
    ``"mean"`` for the mean of the logits over the model's full unroll, or ``"sum"`` for
    the loss summed over all its timesteps. AutoAttack kinds run in batches of the attack's
    own ``batch_size``, each seeded with the seed of its first sample
    (:mod:`pcbench.perturbations.autoattack`); ``batch_size`` batches the foolbox kinds.
    """
    unroll = model.timesteps if target in ("mean", "sum") else target
    with unrolled_to(model, unroll), gradient_mode(model, config.gradient_mode):
        if config.kind in AUTOATTACK_KINDS:
            seeds = sample_seeds(ids[:: config.batch_size], config, epsilon, seed)
            return autoattack_images(model, images, labels, seeds, config, epsilon, target, device=device)
        return _foolbox_images(
            model,
            images,
            labels,
            ids,
            config,
            epsilon,
            target,
            num_classes=num_classes,
            seed=seed,
            batch_size=batch_size,
            device=device,
        )


def _foolbox_images(
    model: TimestepModel,
    images: torch.Tensor,
    labels: torch.Tensor,
    ids: np.ndarray,
    config: AttackConfig,
    epsilon: float,
    target: AttackTarget,
    *,
    num_classes: int,
    seed: int,
    batch_size: int,
    device: torch.device,
) -> torch.Tensor:
    """:func:`attack_images` for a foolbox kind, on a model already unrolled and in its gradient mode."""
    attack = make_attack(config)
    attacked = AtTimestep(model, "mean" if target == "mean" else "last").eval()
    fmodel = fb.PyTorchModel(attacked, bounds=(0.0, 1.0), device=device)
    if target == "sum":
        attack.summed = fb.PyTorchModel(model.eval(), bounds=(0.0, 1.0), device=device)
    adversarial = []
    for start in range(0, len(labels), batch_size):
        x = images[start : start + batch_size].to(device)
        y = labels[start : start + batch_size].to(device)
        if config.random_start and config.kind != "fgsm":
            batch_ids = ids[start : start + batch_size]
            attack.noise = start_noise(batch_ids, tuple(x.shape[1:]), config, epsilon, seed)
        _, clipped, _ = attack(fmodel, x, _criterion(y, config, num_classes), epsilons=epsilon)
        adversarial.append(clipped.detach().cpu())
    return torch.cat(adversarial)


def _criterion(labels: torch.Tensor, config: AttackConfig, num_classes: int) -> Any:
    if config.target_offset:
        return fb.criteria.TargetedMisclassification((labels + config.target_offset) % num_classes)
    return fb.criteria.Misclassification(labels)
