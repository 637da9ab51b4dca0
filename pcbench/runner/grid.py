"""The cell grid: a suite's perturbations, each evaluated for every model at all timesteps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pcbench.suite import AttackConfig, Suite

#: A forward+backward pass costs about three forward passes.
GRADIENT_PASS_COST = 3


@dataclass(frozen=True)
class Perturbation:
    """One column of the grid: clean data, a corruption at a severity, or an attack at an ε."""

    kind: str  # "clean" | "corruption" | "attack"
    corruption: str | None = None
    severity: int | None = None
    attack: AttackConfig | None = None
    epsilon: float | None = None

    @property
    def label(self) -> str:
        """Readable identity: ``clean``, ``gaussian_noise/3``, ``pgd-linf@0.01``."""
        if self.kind == "corruption":
            return f"{self.corruption}/{self.severity}"
        if self.kind == "attack":
            assert self.attack is not None
            return f"{self.attack.label}@{self.epsilon:g}"
        return "clean"

    def samples(self, available: int) -> int:
        """How many of ``available`` evaluation samples the cell evaluates (an attack's ``limit``)."""
        limit = self.attack.limit if self.attack is not None else None
        return available if limit is None else min(limit, available)

    def forward_passes(self, samples: int, unroll: int) -> int:
        """Image-timestep forward passes of evaluating this cell (``unroll`` = T + 1)."""
        return self.samples(samples) * unroll

    def gradient_passes(self, samples: int, unroll: int) -> int:
        """Image-timestep forward+backward passes of the attack (0 for other cells): ``steps``
        per image through the attacked unroll (T + 1 timesteps; 1 for ``first``; Σ_t (t + 1)
        for ``each``), times ``eot`` (an upper bound: a deterministic model's EOT attack runs
        one draw, and an ensemble's non-APGD sub-attacks take none)."""
        if self.attack is None:
            return 0
        attacked = {"first": 1, "each": unroll * (unroll + 1) // 2}.get(self.attack.attack_timestep, unroll)
        return self.samples(samples) * self.attack.steps * self.attack.eot * attacked

    def cost(self, samples: int, unroll: int) -> int:
        """Relative cost of the cell in forward-pass units (a forward+backward pass counts 3):
        what the progress bar's ETA weighs cells by."""
        return self.forward_passes(samples, unroll) + GRADIENT_PASS_COST * self.gradient_passes(samples, unroll)

    def record(self) -> dict[str, Any]:
        """Everything that defines the perturbation (part of the cell key)."""
        return {
            "kind": self.kind,
            "corruption": self.corruption,
            "severity": self.severity,
            "attack": self.attack.params() if self.attack else None,
            "epsilon": self.epsilon,
        }


def expand_perturbations(suite: Suite) -> list[Perturbation]:
    """Clean (if enabled), then corruption × severity, then attack × ε, in suite order."""
    grid = [Perturbation("clean")] if suite.clean else []
    if suite.corruptions is not None:
        grid += [
            Perturbation("corruption", corruption=name, severity=severity)
            for name in suite.corruptions.names
            for severity in suite.corruptions.severities
        ]
    grid += [
        Perturbation("attack", attack=attack, epsilon=epsilon)
        for attack in suite.attacks
        for epsilon in attack.epsilons
    ]
    return grid
