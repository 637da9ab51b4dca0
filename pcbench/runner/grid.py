"""The cell grid: a suite's perturbations, each evaluated for every model at all timesteps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pcbench.suite import AttackConfig, Suite


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
