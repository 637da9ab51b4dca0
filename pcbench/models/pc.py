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
size 1). With ``gradient_scaling`` the gradient is multiplied by ``numel / sqrt(C)``, where
``numel`` is the number of elements of one sample's prediction and ``C`` the number of
predictor inputs feeding one output element of its first (transposed) convolution:
``in_channels × ⌈k_h/s_h⌉ × ⌈k_w/s_w⌉``.

Gradient modes. ``"full"`` builds the error gradient with ``create_graph=True`` so an
attacker differentiates through the α·∇ε term; ``"detached"`` treats that term as a
constant (the reference behaviour, a partial, BPDA-like gradient). Both give identical
forward values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from pcbench.errors import PcbenchError
from pcbench.models.protocol import Normalize, TimestepModel

GradientMode = Literal["full", "detached"]
GRADIENT_MODES: tuple[str, ...] = ("full", "detached")


@dataclass
class _Unroll:
    """Mutable state of one forward call (kept off the module between calls)."""

    timestep: int = 0
    states: list[torch.Tensor | None] = field(default_factory=list)
    predictions: list[torch.Tensor | None] = field(default_factory=list)
    gradients: list[torch.Tensor | None] = field(default_factory=list)
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
        self._scales = [_gradient_scale(p) if gradient_scaling else None for p in predictors]
        self._unroll: _Unroll | None = None
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        image = self.normalize(x)
        count = len(self.module_paths)
        self._unroll = _Unroll(
            states=[None] * count, predictions=[None] * count, gradients=[None] * count
        )
        try:
            logits = []
            for t in range(self.timesteps + 1):
                self._unroll.timestep, self._unroll.calls = t, 0
                logits.append(self.backbone(image))
                if self._unroll.calls != count:
                    raise PcbenchError(
                        f"PCoder modules ran {self._unroll.calls} times in one forward, "
                        f"expected {count}: each PCoder module must run once per forward"
                    )
                if t < self.timesteps:
                    self._predict(image)
            return torch.stack(logits)
        finally:
            self._unroll = None

    def reconstruction_errors(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Per-PCoder MSE(p_n, r_{n-1}) of the timestep-0 pass: the feedback training loss."""
        image = self.normalize(x)
        count = len(self.module_paths)
        self._unroll = _Unroll(states=[None] * count)
        try:
            self.backbone(image)
            states = self._unroll.states
            return [
                nn.functional.mse_loss(
                    predictor(states[i]), (image if i == 0 else states[i - 1]).detach()
                )
                for i, predictor in enumerate(self.predictors)
            ]
        finally:
            self._unroll = None

    def _make_hook(self, index: int):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor | None:
            unroll = self._unroll
            if unroll is None:  # the backbone used on its own: leave it untouched
                return None
            if unroll.calls != index:
                raise PcbenchError(
                    f"PCoder '{self.module_paths[index]}' ran out of order: PC layers must be "
                    "listed bottom-up in the order the backbone calls them, each once"
                )
            unroll.calls += 1
            state = output if unroll.timestep == 0 else self._update(index, output, unroll)
            unroll.states[index] = state
            return state.clone()

        return hook

    def _update(self, n: int, ff: torch.Tensor, unroll: _Unroll) -> torch.Tensor:
        beta, lam, alpha = self.betas[n], self.lambdas[n], self.alphas[n]
        previous = unroll.states[n]
        assert previous is not None
        state = ff if beta == 1.0 else beta * ff
        if lam != 0.0:
            state = state + lam * unroll.predictions[n + 1]
        if 1.0 - beta - lam != 0.0:
            state = state + (1.0 - beta - lam) * previous
        if alpha != 0.0:
            state = state - alpha * unroll.gradients[n]
        return state

    def _predict(self, image: torch.Tensor) -> None:
        """Predictions and error gradients of the current states, for the next timestep."""
        unroll = self._unroll
        assert unroll is not None
        for n, predictor in enumerate(self.predictors):
            feeds_below = n > 0 and self.lambdas[n - 1] != 0.0
            corrects = self.alphas[n] != 0.0
            if not (feeds_below or corrects):
                continue
            target = image if n == 0 else unroll.states[n - 1]
            unroll.predictions[n], unroll.gradients[n] = self._prediction_and_gradient(
                n, predictor, unroll.states[n], target, corrects
            )

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
                if self._scales[n] is not None:
                    gradient = gradient * (prediction[0].numel() / self._scales[n])
        if not outer_grad:
            prediction = prediction.detach()
        return prediction, gradient


def _gradient_scale(predictor: nn.Module) -> float:
    """sqrt(C) for the gradient-scaled variant (C: inputs feeding one output element)."""
    for layer in predictor.modules():
        if isinstance(layer, (nn.ConvTranspose2d, nn.Conv2d)):
            window = math.ceil(layer.kernel_size[0] / layer.stride[0]) * math.ceil(
                layer.kernel_size[1] / layer.stride[1]
            )
            return math.sqrt(layer.in_channels * window)
    raise PcbenchError("gradient_scaling needs a predictor with a (transposed) convolution")
