"""Learned PC hyperparameters: β, λ, α per PCoder through sigmoids (arXiv 2106.04225).

``β = σ(a)``, ``λ = (1 − β)·σ(b)``, ``α = α_max·σ(c)``: every value of the unconstrained
parameters ``a, b, c`` gives ``β + λ ≤ 1`` (a non-negative memory weight) and
``0 ≤ α ≤ α_max``. The top PCoder receives no feedback, so it has no ``b``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
from torch import nn

from pcbench.errors import PcbenchError
from pcbench.models.pc import PCModel
from pcbench.registry.spec import PCLayer

#: Upper bound of a learned α (the paper's α = 0.01 sits well inside).
ALPHA_MAX = 0.1
_EPS = 1e-4  # starting values are kept this far from 0 and 1 so their logits stay finite


class LearnedHyperparameters(nn.Module):
    """Trainable logits of β, λ and α, initialised at the values of ``layers``."""

    def __init__(self, layers: Sequence[PCLayer], alpha_max: float = ALPHA_MAX) -> None:
        super().__init__()
        too_large = [layer.module for layer in layers if layer.alpha > alpha_max]
        if too_large:
            raise PcbenchError(
                f"PCoder '{too_large[0]}': alpha exceeds alpha_max = {alpha_max:g}; raise alpha_max to learn it"
            )
        self.alpha_max = alpha_max
        betas = [layer.beta for layer in layers]
        shares = [layer.lam / (1.0 - layer.beta) if layer.beta < 1.0 else 0.0 for layer in layers[:-1]]
        self.beta_logits = nn.Parameter(_logit(betas))
        self.lambda_logits = nn.Parameter(_logit(shares))
        self.alpha_logits = nn.Parameter(_logit([layer.alpha / alpha_max for layer in layers]))

    def values(self, dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(β, λ, α) per PCoder, differentiable; λ of the top PCoder is 0."""
        beta = torch.sigmoid(self.beta_logits.to(dtype))
        below_top = (1.0 - beta[:-1]) * torch.sigmoid(self.lambda_logits.to(dtype))
        lam = torch.cat([below_top, below_top.new_zeros(1)])
        return beta, lam, self.alpha_max * torch.sigmoid(self.alpha_logits.to(dtype))

    def apply_to(self, model: PCModel) -> None:
        """Make ``model`` use the current values (as tensors, so gradients reach the logits)."""
        beta, lam, alpha = self.values()
        model.betas, model.lambdas, model.alphas = list(beta), [*lam[:-1], 0.0], list(alpha)

    def learned_layers(self, layers: Sequence[PCLayer]) -> tuple[PCLayer, ...]:
        """``layers`` with the current values, computed in float64 so β + λ ≤ 1 holds exactly."""
        with torch.no_grad():
            beta, lam, alpha = (v.tolist() for v in self.values(torch.float64))
        return tuple(
            dataclasses.replace(layer, beta=b, lam=lm, alpha=a)
            for layer, b, lm, a in zip(layers, beta, lam, alpha, strict=True)
        )


def _logit(probabilities: Sequence[float]) -> torch.Tensor:
    return torch.logit(torch.tensor(probabilities, dtype=torch.float32).clamp(_EPS, 1.0 - _EPS))
