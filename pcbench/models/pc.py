"""Predictive-coding (PC) dynamics around any ``nn.Module`` backbone.

Re-implemented from the update equations (Predify, NeurIPS 2021). At each PCoder n (a
named submodule of the backbone, ordered bottom-up) the module's output ``ff_n`` is replaced
by a recurrent state ``r_n``; a predictor maps ``r_n`` to ``p_n``, a prediction of the layer
below (``r_{n-1}``; for n = 1 the normalised image). Per timestep, in one bottom-up sweep
of the backbone::

    t = 0:  r_n = ff_n                                   (exactly the feedforward pass)
    t > 0:  r_n = β ff_n + λ p_{n+1}(t-1) + (1-β-λ) r_n(t-1) - α ∇_{r_n} ε_n(t-1)
            (top PCoder: no feedback term, λ = 0)
    ε_n = MSE(p_n, r_{n-1})

Implementation: forward hooks on the PCoder modules substitute ``r_n`` for the module's
output while the unmodified backbone runs once per timestep, so ``ff_n(t)`` is computed
from the already-updated ``r_{n-1}(t)`` and the head sees ``r_N(t)``. The hook returns a
copy of ``r_n`` so that in-place operations downstream (``ReLU(inplace=True)``, ``out +=
identity``) cannot change the stored state.

Per-sample error. ``ε_n`` is the mean squared error over *each sample's* elements and the
gradient is taken of the sum over samples, so a sample's trajectory does not depend on the
rest of the batch (the reference averages over the whole batch, which equals this at batch
size 1).

Gradient scaling. With ``gradient_scaling`` the gradient is multiplied by ``numel / sqrt(C)``,
where ``numel`` is the number of elements of one sample's prediction and ``C`` the predictor's
*fan-out* (the reference's definition; not its fan-in): the number of prediction elements
that change when the central element of ``r_n`` (middle index of every dimension, ``size //
2``) changes, upsampling included. It depends on the state shape (a small map clips the
footprint at its border), so it is computed on first use for each PCoder and state shape
(:func:`structural_fan_out`): a float64 CPU copy of the predictor with every weight set to 1
and every bias to 0 maps a zero state and the same state with its central element set to 1,
and the prediction elements that differ are counted. Every intermediate value is then
non-negative, so ReLUs pass the impulse unchanged and C is structural: it depends neither on
the trained weights nor on the data. The reference instead counts on its first batch, which
with a ReLU in the predictor makes C data-dependent; pcbench deliberately does not follow it
there. Examples (PResNet18 on CIFAR-100): ConvT(64→3, k3) on 64×32×32 gives 3 × 3 × 3 = 27;
bilinear Upsample×2 + ConvT(128→64, k3) on 128×16×16 gives 64 × 6 × 6 = 2304.

Activation checkpointing (``activation_checkpointing = True``) applies to differentiable
forwards (attacks): each timestep's backbone sweep keeps only its inputs (the carried
states, predictions and gradients) and is recomputed during backward, so the backbone's
intermediate activations are held for one timestep at a time instead of T + 1, for about
one extra sweep of compute per attack step. The predictor and error-gradient graphs (one
predictor per PCoder) are kept as usual. Values are unchanged.

Gradient modes. ``"full"`` builds the error gradient with ``create_graph=True`` so an
attacker differentiates through the α·∇ε term; ``"detached"`` treats that term as a
constant (the reference behaviour, a partial, BPDA-like gradient). Both give identical
forward values.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from pcbench.errors import PcbenchError
from pcbench.models.protocol import Normalize, TimestepModel

GradientMode = Literal["full", "detached"]
GRADIENT_MODES: tuple[str, ...] = ("full", "detached")


@dataclass
class _Sweep:
    """What the PCoder hooks need during one bottom-up sweep (kept off the module between
    sweeps): the timestep, the previous timestep's states, predictions and error gradients,
    and the new states as the hooks produce them."""

    timestep: int
    previous: Sequence[torch.Tensor | None]
    predictions: Sequence[torch.Tensor | None]
    gradients: Sequence[torch.Tensor | None]
    states: list[torch.Tensor | None] = field(default_factory=list)
    calls: int = 0


def resolve_modules(backbone: nn.Module, paths: Sequence[str]) -> list[nn.Module]:
    """Look up dotted module paths; a clear error names a missing one and nearby choices."""
    named = dict(backbone.named_modules())
    missing = [path for path in paths if path not in named]
    if missing:
        choices = [name for name in named if name][:12]
        raise PcbenchError(
            f"PC config names module '{missing[0]}', which the backbone "
            f"{type(backbone).__name__} lacks; modules include: {', '.join(choices)}, ..."
        )
    return [named[path] for path in paths]


class PCModel(TimestepModel):
    """A backbone wrapped with PCoders; ``forward(x)`` returns logits ``[T + 1, B, classes]``."""

    def __init__(
        self,
        backbone: nn.Module,
        normalize: Normalize,
        modules: Sequence[str],
        predictors: Sequence[nn.Module],
        betas: Sequence[float],
        lambdas: Sequence[float],
        alphas: Sequence[float],
        timesteps: int,
        gradient_scaling: bool = False,
        gradient_mode: GradientMode = "full",
        activation_checkpointing: bool = False,
    ) -> None:
        super().__init__(backbone, normalize)
        count = len(modules)
        if not (len(predictors) == len(betas) == len(lambdas) == len(alphas) == count):
            raise PcbenchError("PC config: one predictor, beta, lambda and alpha per PCoder")
        self.module_paths = list(modules)
        self.predictors = nn.ModuleList(predictors)
        self.betas, self.lambdas, self.alphas = list(betas), list(lambdas), list(alphas)
        self.lambdas[-1] = 0.0  # the top PCoder receives no feedback
        self.timesteps = timesteps
        self.gradient_scaling = gradient_scaling
        self.gradient_mode = gradient_mode
        self.activation_checkpointing = activation_checkpointing
        self._scales: dict[tuple[int, tuple[int, ...]], float] = {}  # (PCoder, state shape) → sqrt(C)
        self._active: _Sweep | None = None
        for index, module in enumerate(resolve_modules(backbone, modules)):
            module.register_forward_hook(self._make_hook(index))

    @property
    def gradient_mode(self) -> GradientMode:
        """``"full"`` or ``"detached"`` (see the module docstring)."""
        return self._gradient_mode

    @gradient_mode.setter
    def gradient_mode(self, mode: GradientMode) -> None:
        if mode not in GRADIENT_MODES:
            raise PcbenchError(f"gradient_mode = {mode!r}; allowed: {', '.join(GRADIENT_MODES)}")
        self._gradient_mode = mode

    def pcbench_identity(self) -> dict[str, object]:
        """The PC configuration that determines the outputs besides the modules and their
        weights (:mod:`pcbench.models.identity`); not ``activation_checkpointing``, which
        leaves every value unchanged."""
        return {
            "pcoders": self.module_paths,
            "betas": [float(value) for value in self.betas],
            "lambdas": [float(value) for value in self.lambdas],
            "alphas": [float(value) for value in self.alphas],
            "timesteps": self.timesteps,
            "gradient_scaling": self.gradient_scaling,
            "gradient_mode": self.gradient_mode,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        image = self.normalize(x)
        count = len(self.module_paths)
        states: list[torch.Tensor | None] = [None] * count
        predictions: list[torch.Tensor | None] = [None] * count
        gradients: list[torch.Tensor | None] = [None] * count
        logits = []
        for t in range(self.timesteps + 1):
            sweep = functools.partial(self._sweep, t)
            inputs = (image, *states, *predictions, *gradients)
            if self.activation_checkpointing and torch.is_grad_enabled():
                out = checkpoint(sweep, *inputs, use_reentrant=False)
            else:
                out = sweep(*inputs)
            logits.append(out[0])
            states = list(out[1:])
            if t < self.timesteps:
                predictions, gradients = self._predict(image, states)
        return torch.stack(logits)

    def reconstruction_errors(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per-PCoder MSE(p_n, r_{n-1}) of the timestep-0 pass: the feedback training loss."""
        image = self.normalize(x)
        _, *states = self._sweep(0, image, *(None,) * (3 * len(self.module_paths)))
        return [
            nn.functional.mse_loss(predictor(states[i]), (image if i == 0 else states[i - 1]).detach())
            for i, predictor in enumerate(self.predictors)
        ]

    def _sweep(self, t: int, image: torch.Tensor, *carried: torch.Tensor | None) -> tuple:
        """The backbone's bottom-up sweep at timestep ``t`` given the carried states,
        predictions and gradients of ``t - 1``; returns ``(logits, *states)``. A pure
        function of its inputs (activation checkpointing recomputes it during backward)."""
        count = len(self.module_paths)
        self._active = _Sweep(
            timestep=t,
            previous=carried[:count],
            predictions=carried[count : 2 * count],
            gradients=carried[2 * count :],
            states=[None] * count,
        )
        try:
            logits = self.backbone(image)
            if self._active.calls != count:
                raise PcbenchError(
                    f"PCoder modules ran {self._active.calls} times in one forward, "
                    f"expected {count}: each PCoder module must run once per forward"
                )
            return (logits, *self._active.states)
        finally:
            self._active = None

    def _make_hook(self, index: int):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor | None:
            sweep = self._active
            if sweep is None:  # the backbone used on its own: leave it untouched
                return None
            if sweep.calls != index:
                raise PcbenchError(
                    f"PCoder '{self.module_paths[index]}' ran out of order: PC layers must be "
                    "listed bottom-up in the order the backbone calls them, each once"
                )
            sweep.calls += 1
            state = output if sweep.timestep == 0 else self._update(index, output, sweep)
            sweep.states[index] = state
            return state.clone()

        return hook

    def _update(self, n: int, ff: torch.Tensor, sweep: _Sweep) -> torch.Tensor:
        beta, lam, alpha = self.betas[n], self.lambdas[n], self.alphas[n]
        previous = sweep.previous[n]
        assert previous is not None
        state = ff if beta == 1.0 else beta * ff
        if lam != 0.0:
            state = state + lam * sweep.predictions[n + 1]
        if 1.0 - beta - lam != 0.0:
            state = state + (1.0 - beta - lam) * previous
        if alpha != 0.0:
            state = state - alpha * sweep.gradients[n]
        return state

    def _predict(
        self, image: torch.Tensor, states: Sequence[torch.Tensor]
    ) -> tuple[list[torch.Tensor | None], list[torch.Tensor | None]]:
        """Predictions and error gradients of the current states, for the next timestep."""
        predictions: list[torch.Tensor | None] = [None] * len(states)
        gradients: list[torch.Tensor | None] = [None] * len(states)
        for n, predictor in enumerate(self.predictors):
            feeds_below = n > 0 and self.lambdas[n - 1] != 0.0
            corrects = bool(self.alphas[n] != 0.0)  # a learned alpha is a 0-d tensor
            if feeds_below or corrects:
                target = image if n == 0 else states[n - 1]
                predictions[n], gradients[n] = self._prediction_and_gradient(n, predictor, states[n], target, corrects)
        return predictions, gradients

    def _prediction_and_gradient(
        self,
        n: int,
        predictor: nn.Module,
        state: torch.Tensor,
        target: torch.Tensor,
        needs_gradient: bool,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        outer_grad = torch.is_grad_enabled()
        tracked = outer_grad and state.requires_grad
        with torch.enable_grad():
            source = state if tracked else state.detach().requires_grad_(needs_gradient)
            prediction = predictor(source)
            if prediction.shape != target.shape:
                raise PcbenchError(
                    f"PCoder '{self.module_paths[n]}': predictor output "
                    f"{tuple(prediction.shape[1:])} does not match the layer below "
                    f"{tuple(target.shape[1:])}"
                )
            gradient = None
            if needs_gradient:
                # ∂/∂p of Σ_samples mean((p - target)²) is 2 (p - target) / numel(sample);
                # back-propagating it through the predictor gives the error gradient.
                residual = prediction - target
                (gradient,) = torch.autograd.grad(
                    prediction,
                    source,
                    grad_outputs=residual * (2.0 / residual[0].numel()),
                    create_graph=tracked and self.gradient_mode == "full",
                    retain_graph=outer_grad,
                )
                if self.gradient_scaling:
                    gradient = gradient * (prediction[0].numel() / self._gradient_scale(n, state))
        if not outer_grad:
            prediction = prediction.detach()
        return prediction, gradient

    def _gradient_scale(self, n: int, state: torch.Tensor) -> float:
        """sqrt(C) of PCoder ``n`` for states shaped like ``state`` (computed once per shape)."""
        key = (n, tuple(state.shape[1:]))
        if key not in self._scales:
            fan_out = structural_fan_out(self.predictors[n], key[1])
            if fan_out == 0:
                raise PcbenchError(
                    f"PCoder '{self.module_paths[n]}': gradient_scaling needs a predictor whose "
                    "output depends on its input (its fan-out is 0)"
                )
            self._scales[key] = math.sqrt(fan_out)
        return self._scales[key]


def structural_fan_out(predictor: nn.Module, state_shape: Sequence[int]) -> int:
    """C of the gradient-scaled variant: the number of prediction elements that change when the
    central element of a state of shape ``state_shape`` (one sample, no batch) changes.

    Measured on a float64 CPU copy with unit weights and zero biases, so the count is structural
    (see the module docstring); ``predictor`` itself is not touched.
    """
    probe = _unit_copy(predictor)
    states = torch.zeros(2, *state_shape, dtype=torch.float64)
    states[(1, *(size // 2 for size in state_shape))] = 1.0
    with torch.no_grad():
        zero, impulse = probe(states)
    return int((impulse != zero).sum())


def _unit_copy(predictor: nn.Module) -> nn.Module:
    """An evaluation-mode float64 CPU copy of ``predictor``: biases 0, all other parameters 1."""
    probe = copy.deepcopy(predictor).to(device="cpu", dtype=torch.float64).eval()
    with torch.no_grad():
        for name, parameter in probe.named_parameters():
            parameter.fill_(0.0 if name.rsplit(".", 1)[-1] == "bias" else 1.0)
    return probe
