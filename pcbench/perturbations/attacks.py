"""Adversarial attacks through foolbox 3, run on the unrolled timestep model.

Inputs live in [0, 1] (bounds (0, 1)); normalisation is inside the model, so foolbox gets
no preprocessing. The attacked logits are chosen by the suite's ``attack_timestep``:
``last`` (the gradient flows through all T timesteps), ``first`` (the feedforward pass)
or ``mean`` (logits averaged over timesteps). Robust accuracy is *not* taken from foolbox's
success flags (which count already-misclassified samples as successes): the runner
evaluates the returned adversarial images at every timestep itself.
"""

from __future__ import annotations

import foolbox as fb
import torch

from pcbench.errors import PcbenchError
from pcbench.hashing import hash_json
from pcbench.models.pc import PCModel
from pcbench.models.protocol import AtTimestep, TimestepModel
from pcbench.suite import AttackConfig

_ATTACK_TIMESTEPS = {"last": "last", "first": 0, "mean": "mean"}


def make_attack(config: AttackConfig) -> fb.attacks.Attack:
    """The foolbox attack for a suite attack entry."""
    if config.kind == "fgsm":
        return fb.attacks.FGSM()
    options = dict(rel_stepsize=config.rel_stepsize, steps=config.steps, random_start=config.random_start)
    if config.kind == "pgd-linf":
        return fb.attacks.LinfPGD(**options)
    if config.kind == "pgd-l2":
        return fb.attacks.L2PGD(**options)
    if config.kind == "bim-linf":
        return fb.attacks.LinfBasicIterativeAttack(**options)
    raise PcbenchError(f"attack kind '{config.kind}' is not supported")


def attack_images(
    model: TimestepModel,
    images: torch.Tensor,
    labels: torch.Tensor,
    config: AttackConfig,
    epsilon: float,
    *,
    num_classes: int,
    seed: int,
    batch_size: int,
    device: torch.device,
) -> torch.Tensor:
    """Adversarial versions (clipped to [0, 1]) of ``images``, on the CPU.

    Batch ``k`` runs with ``torch.manual_seed`` derived from (seed, attack, ε, k), so the
    same seed and batch size give the same images.
    """
    if config.attack_timestep not in _ATTACK_TIMESTEPS:
        raise PcbenchError(
            f"attack_timestep = '{config.attack_timestep}' is not implemented yet; "
            f"available: {', '.join(_ATTACK_TIMESTEPS)}"
        )
    if isinstance(model, PCModel):
        model.gradient_mode = config.gradient_mode
    target = AtTimestep(model, _ATTACK_TIMESTEPS[config.attack_timestep]).eval()
    fmodel = fb.PyTorchModel(target, bounds=(0.0, 1.0), device=device)
    attack = make_attack(config)
    adversarial = []
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        for index, start in enumerate(range(0, len(labels), batch_size)):
            torch.manual_seed(int(hash_json([seed, config.params(), epsilon, index]), 16) % 2**63)
            x = images[start : start + batch_size].to(device)
            y = labels[start : start + batch_size].to(device)
            criterion = (
                fb.criteria.TargetedMisclassification((y + config.target_offset) % num_classes)
                if config.target_offset
                else fb.criteria.Misclassification(y)
            )
            _, clipped, _ = attack(fmodel, x, criterion, epsilons=epsilon)
            adversarial.append(clipped.detach().cpu())
    return torch.cat(adversarial)
