"""AutoAttack kinds through the official implementation, ``pyautoattack``.

The ensemble (``autoattack``: the standard version's APGD-CE, APGD-T, FAB-T and Square, or
the plus or a custom version) and its single attacks (``apgd-ce``, ``apgd-dlr``, ``apgd-t``,
``fab-t``, ``square``) run through ``AutoAttack.run_standard_evaluation``, on the timestep
model that :func:`pcbench.perturbations.attacks.attack_images` has unrolled and put in the
suite's gradient mode. AutoAttack's own success test (which decides when it stops and which
image it keeps; where it finds none it returns the clean image) reads the attacked logits:
those of the attacked timestep, the mean over timesteps, or, for ``attack_timestep =
"sum"``, the last timestep's. pcbench then evaluates the returned images at every timestep
itself and never reads AutoAttack's flags.

``attack_timestep = "sum"`` sums every sub-attack's objective over timesteps 0..T: APGD's
cross-entropy, DLR and targeted DLR (through APGD's adapter interface for models it does not
differentiate itself, ``is_tf_model``), Square's margin, and FAB-T's logit differences (FAB
attacks the logits summed over timesteps).

Batches and determinism: the samples are attacked in batches of the attack's ``batch_size``
(:class:`pcbench.suite.AttackConfig`, default 128), one ``run_standard_evaluation`` call per
batch, seeded with a seed derived from (suite seed, attack settings, ε, the id of the batch's
first sample), inside ``torch.random.fork_rng`` (the caller's RNG state is untouched). Same
suite, seed, samples, device and batch size give bitwise the same images, and a batch's
images are exactly what pyautoattack returns for that batch with that seed.

A sample's image **depends on its batch companions**: AutoAttack seeds torch's global RNG
once per sub-attack and draws APGD's and FAB's random starts for the whole batch at once,
Square draws one square position per iteration for the whole batch, and later restarts and
sub-attacks run on the samples still robust in the batch. Per-sample random streams would
mean rewriting those internals, so pcbench does not try; the batch size is therefore in
the attack's ``params()`` (cell key, ``attack_params``), and ``batch_size = 1`` gives
per-sample independence (a sample's image then depends on its own seed only) at batch-1
speed. The batch only changes which random draws a sample gets, never which attack runs
on it: each image is a valid attack and the best-known robust accuracy a valid upper bound.

Overridden settings (``n_iter``, ``n_restarts``, ``n_queries``, ``n_target_classes``: see
:class:`pcbench.suite.AttackConfig`) are set on AutoAttack's sub-attack objects like the
standard version's; APGD derives its step-size checkpoints from ``n_iter`` in its
constructor, so an overridden ``n_iter`` rebuilds AutoAttack's two APGD objects with it.

AutoAttack's checks (dynamic or randomised defense, zero gradients, Square stronger than the
gradient attacks, ...) log warnings for every sample; they are collected and each distinct
message is issued once per cell as an :class:`AutoAttackWarning`, which the runner stores in
the cell's ``attack_warnings`` column.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from pyautoattack import AutoAttack, checks
from pyautoattack.autopgd_base import APGDAttack, APGDAttack_targeted
from pyautoattack.square import SquareAttack
from torch import nn

from pcbench.models.protocol import AtTimestep, TimestepModel
from pcbench.suite import AttackConfig

#: Settings pcbench applies per sub-attack before each sample (the others are AutoAttack's
#: constructor values); FAB-T's single restart is set by AutoAttack itself.
_APPLIED = {
    "apgd-ce": ("apgd", ("n_iter", "n_restarts", "eot_iter")),
    "apgd-dlr": ("apgd", ("n_iter", "n_restarts", "eot_iter")),
    "apgd-t": ("apgd_targeted", ("n_iter", "n_restarts", "n_target_classes", "eot_iter")),
    "fab": ("fab", ("n_iter", "n_restarts")),
    "fab-t": ("fab", ("n_iter", "n_target_classes")),
    "square": ("square", ("n_restarts", "n_queries")),
}
_LOGGER = "auto-attack"  # the logger AutoAttack's checks write to


class AutoAttackWarning(UserWarning):
    """A warning of AutoAttack's own checks (e.g. "it seems to be a dynamic defense"), once per cell."""


def autoattack_images(
    model: TimestepModel,
    images: torch.Tensor,
    labels: torch.Tensor,
    seeds: Sequence[int],
    config: AttackConfig,
    epsilon: float,
    target: int | str,
    *,
    device: torch.device,
) -> torch.Tensor:
    """Adversarial versions of ``images`` (on the CPU), one AutoAttack run per batch of
    ``config.batch_size`` samples (module docstring).

    ``model`` is already unrolled to the attacked timestep (to T for ``"mean"`` and
    ``"sum"``); ``target`` is that timestep, ``"mean"`` or ``"sum"``; ``seeds`` has one
    seed per batch, e.g. two for 200 samples at ``batch_size = 128``::

        autoattack_images(model, x, y, [seed_a, seed_b], config, 0.1, 0, device=torch.device("cpu"))
    """
    assert config.batch_size is not None, "AutoAttack kinds always have a batch size"
    batches = range(0, len(labels), config.batch_size)
    if len(seeds) != len(batches):
        raise ValueError(f"{len(seeds)} seeds for {len(batches)} batches of {config.batch_size}")
    attack = configured_autoattack(model, config, epsilon, target, device)
    checks.funcs.update(dict.fromkeys(checks.funcs, 0))  # check_dynamic's call counts never reset themselves
    adversarial = []
    with collected_log() as messages:
        for start, seed in zip(batches, seeds, strict=True):
            end = start + config.batch_size
            adversarial.append(_attack_batch(attack, config, images[start:end], labels[start:end], seed, device))
    for message in dict.fromkeys(messages):
        warnings.warn(message, AutoAttackWarning, stacklevel=2)
    return torch.cat(adversarial)


def configured_autoattack(
    model: TimestepModel, config: AttackConfig, epsilon: float, target: int | str, device: torch.device
) -> AutoAttack:
    """AutoAttack (``version = "custom"``) running the config's sub-attacks on the attacked logits."""
    attacked = AtTimestep(model, "mean" if target == "mean" else "last").eval()
    attack = AutoAttack(
        attacked,
        attacks=list(config.sub_attacks),
        device=device,
        eps=epsilon,
        norm=config.norm,
        seed=0,
        version="custom",
    )
    attack.verbose = False
    if config.n_iter is not None:
        attack.apgd = _with_iterations(attack.apgd, config.n_iter)
        attack.apgd_targeted = _with_iterations(attack.apgd_targeted, config.n_iter)
    if target == "sum":
        _sum_over_timesteps(attack, model, config, epsilon, device)
    return attack


def _with_iterations(apgd: APGDAttack, n_iter: int) -> APGDAttack:
    """``apgd`` built anew with ``n_iter`` iterations and its other settings: APGD computes its
    step-size checkpoints (``n_iter_2``, ``n_iter_min``, ``size_decr``) from ``n_iter`` in its
    constructor, so setting the attribute alone would keep those of 100 iterations."""
    settings = {
        "n_iter": n_iter,
        "norm": apgd.norm,
        "n_restarts": apgd.n_restarts,
        "eps": apgd.eps,
        "seed": apgd.seed,
        "eot_iter": apgd.eot_iter,
        "rho": apgd.thr_decr,
        "verbose": False,
        "device": apgd.device,
        "logger": apgd.logger,
    }
    if isinstance(apgd, APGDAttack_targeted):
        return APGDAttack_targeted(apgd.model, n_target_classes=apgd.n_target_classes, **settings)
    return APGDAttack(apgd.model, loss=apgd.loss, **settings)


def apply_settings(attack: AutoAttack, config: AttackConfig) -> None:
    """Set the config's sub-attack settings on ``attack`` (AutoAttack changes some while it runs)."""
    for name, values in config.sub_attack_settings().items():
        owner, keys = _APPLIED[name]
        for key in keys:
            setattr(getattr(attack, owner), key, values[key])


def _attack_batch(
    attack: AutoAttack,
    config: AttackConfig,
    x: torch.Tensor,
    y: torch.Tensor,
    seed: int,
    device: torch.device,
) -> torch.Tensor:
    """One batch's adversarial images, from one ``run_standard_evaluation`` call with the
    batch's seed and the caller's RNG state restored (contiguous, with int64 labels:
    AutoAttack's ``view`` calls fail on channels-last strides and FAB indexes with the labels)."""
    apply_settings(attack, config)
    attack.seed = seed
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        adversarial, _ = attack.run_standard_evaluation(x.contiguous(), y.long(), batch_size=len(y))
    return adversarial.detach().cpu()


@contextlib.contextmanager
def collected_log() -> Iterator[list[str]]:
    """Collect what AutoAttack logs (its checks' warnings) instead of printing it per sample."""
    logger = logging.getLogger(_LOGGER)
    messages: list[str] = []
    handler = _Collector(messages)
    saved = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = saved


class _Collector(logging.Handler):
    """A logging handler that appends each record's message (WARNING and above) to a list."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


# --- attack_timestep = "sum" ------------------------------------------------------------


def _sum_over_timesteps(
    attack: AutoAttack, model: TimestepModel, config: AttackConfig, epsilon: float, device: torch.device
) -> None:
    """Point every sub-attack's objective at the sum over timesteps (module docstring)."""
    losses = SummedLosses(model, attack)
    for apgd in (attack.apgd, attack.apgd_targeted):
        apgd.model, apgd.is_tf_model = losses, True
    attack.fab.predict = SummedLogits(model)
    square = config.sub_attack_settings().get("square")
    if square is not None:
        attack.square = SummedSquare(
            model,
            norm=config.norm,
            eps=epsilon,
            p_init=square["p_init"],
            resc_schedule=square["resc_schedule"],
            verbose=False,
            device=device,
        )


class SummedLogits(nn.Module):
    """The logits summed over timesteps 0..T, ``[B, classes]``."""

    def __init__(self, model: TimestepModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).sum(dim=0)


class SummedLosses:
    """APGD's adapter for models it does not differentiate itself (``is_tf_model``).

    Each method returns the logits at T (what APGD's success test reads), the per-sample
    loss summed over timesteps 0..T, and that sum's gradient with respect to ``x``. The
    losses are APGD's own: cross-entropy, its ``dlr_loss`` and APGD-T's
    ``dlr_loss_targeted`` (which reads the target class APGD-T has just set on itself, the
    ``y_target`` passed here).
    """

    def __init__(self, model: TimestepModel, attack: AutoAttack) -> None:
        self.model = model
        self.dlr = attack.apgd.dlr_loss
        self.targeted_dlr = attack.apgd_targeted.dlr_loss_targeted

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.model(x)[-1]

    def get_logits_loss_grad_xent(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.summed(x, lambda logits: F.cross_entropy(logits, y, reduction="none"))

    def get_logits_loss_grad_dlr(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.summed(x, lambda logits: self.dlr(logits, y))

    def get_logits_loss_grad_target(
        self, x: torch.Tensor, y: torch.Tensor, y_target: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        return self.summed(x, lambda logits: self.targeted_dlr(logits, y))

    def summed(
        self, x: torch.Tensor, loss: Callable[[torch.Tensor], torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits at T, Σ_t loss(logits_t) per sample, its gradient) at ``x``."""
        inputs = x.detach().requires_grad_()
        with torch.enable_grad():
            logits = self.model(inputs)
            total = torch.stack([loss(step) for step in logits]).sum(dim=0)
            (gradient,) = torch.autograd.grad(total.sum(), inputs)
        return logits[-1].detach(), total.detach(), gradient.detach()


class SummedSquare(SquareAttack):
    """Square whose margin loss is summed over timesteps 0..T; it stops on T's margin."""

    def __init__(self, model: TimestepModel, **settings: object) -> None:
        super().__init__(AtTimestep(model, "last"), **settings)
        self.timestep_model = model

    def margin_and_loss(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.timestep_model(x)
        rows = torch.arange(len(y))
        correct = logits[:, rows, y]
        others = logits.clone()
        others[:, rows, y] = -float("inf")
        margins = correct - others.max(dim=-1).values
        return margins[-1], margins.sum(dim=0)
