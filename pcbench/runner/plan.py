"""``pcbench run --dry-run``: the cell grid and the model passes it implies."""

from __future__ import annotations

from pcbench.registry.registry import get_model_spec
from pcbench.runner.grid import expand_perturbations
from pcbench.runner.run import evaluation_timesteps, load_suite_data
from pcbench.suite import Suite


def format_plan(suite: Suite) -> str:
    """A text table of cells per model and the number of image-timestep passes.

    A clean or corruption cell costs ``n × (T + 1)`` image-timestep forward passes (one
    unroll to T per image); an attack cell adds ``steps`` forward+backward passes per image
    through the attacked unroll (T + 1 timesteps; 1 for ``first``; Σ_t (t + 1) for ``each``).
    """
    n = len(load_suite_data(suite))
    perturbations = expand_perturbations(suite)
    lines = [
        f"suite {suite.name} ({suite.content_hash}): {suite.dataset.name}/{suite.dataset.split}, "
        f"{n} samples, {len(perturbations)} perturbations × {len(suite.models)} models "
        f"= {len(perturbations) * len(suite.models)} cells",
        f"{'model':<24}{'T':>4}{'cells':>7}{'forward passes':>17}{'attack gradient passes':>25}",
    ]
    totals = [0, 0, 0]
    for name in suite.models:
        unroll = max(evaluation_timesteps(get_model_spec(name), suite)) + 1
        forward = n * unroll * len(perturbations)
        gradient = sum(
            n * p.attack.steps * _attacked_unroll(p.attack.attack_timestep, unroll)
            for p in perturbations
            if p.attack
        )
        lines.append(f"{name:<24}{unroll - 1:>4}{len(perturbations):>7}{forward:>17,}{gradient:>25,}")
        totals = [totals[0] + len(perturbations), totals[1] + forward, totals[2] + gradient]
    lines.append(f"{'total':<28}{totals[0]:>7}{totals[1]:>17,}{totals[2]:>25,}")
    lines.append("cells: " + ", ".join(p.label for p in perturbations))
    return "\n".join(lines)


def _attacked_unroll(attack_timestep: str, unroll: int) -> int:
    """Timesteps one attack step runs through (``unroll`` = T + 1)."""
    if attack_timestep == "first":
        return 1
    if attack_timestep == "each":
        return unroll * (unroll + 1) // 2
    return unroll
