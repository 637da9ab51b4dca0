"""``pcbench run --dry-run``: the cell grid, the model passes it implies and an estimated time."""

from __future__ import annotations

import time

import torch

from pcbench.errors import PcbenchError
from pcbench.models.build import build_model
from pcbench.registry.registry import get_model_spec
from pcbench.runner.grid import expand_perturbations
from pcbench.runner.run import evaluation_timesteps, load_suite_data
from pcbench.suite import Suite

#: Images in the dummy batch timed for the estimate.
TIMING_BATCH = 2


def format_plan(suite: Suite, *, estimate: bool = True) -> str:
    """A text table of cells per model, the image-timestep passes and an estimated time.

    A clean or corruption cell costs ``n × (T + 1)`` image-timestep forward passes (one
    unroll to T per image); an attack cell adds ``steps`` forward+backward passes per image
    through the attacked unroll (T + 1 timesteps; 1 for ``first``; Σ_t (t + 1) for ``each``).
    With ``estimate``, each model is built and timed on a dummy batch of
    :data:`TIMING_BATCH` images (one forward and one forward+backward through a one-step
    unroll, on the CPU); the estimate excludes corruption generation and data loading.

    Example::

        from pcbench.suite import load_suite
        print(format_plan(load_suite("quick")))
    """
    data = load_suite_data(suite)
    n = len(data)
    perturbations = expand_perturbations(suite)
    lines = [
        f"suite {suite.name} ({suite.content_hash}): {suite.dataset.name}/{suite.dataset.split}, "
        f"{n} samples, {len(perturbations)} perturbations × {len(suite.models)} models "
        f"= {len(perturbations) * len(suite.models)} cells",
        f"{'model':<24}{'T':>4}{'cells':>7}{'forward passes':>17}{'attack gradient passes':>25}{'estimate':>11}",
    ]
    totals = [0, 0, 0]
    seconds: float | None = 0.0
    notes = []
    for name in suite.models:
        unroll = max(evaluation_timesteps(get_model_spec(name), suite)) + 1
        forward = sum(p.forward_passes(n, unroll) for p in perturbations)
        gradient = sum(p.gradient_passes(n, unroll) for p in perturbations)
        model_seconds = None
        if estimate:
            try:
                per_forward, per_gradient = _pass_seconds(name, data.images.shape[1:3])
                model_seconds = forward * per_forward + gradient * per_gradient
            except PcbenchError as exc:
                notes.append(f"{name}: no estimate ({exc})")
        seconds = None if seconds is None or model_seconds is None else seconds + model_seconds
        lines.append(
            f"{name:<24}{unroll - 1:>4}{len(perturbations):>7}{forward:>17,}{gradient:>25,}"
            f"{_duration(model_seconds):>11}"
        )
        totals = [totals[0] + len(perturbations), totals[1] + forward, totals[2] + gradient]
    lines.append(f"{'total':<28}{totals[0]:>7}{totals[1]:>17,}{totals[2]:>25,}{_duration(seconds):>11}")
    if estimate:
        lines.append(
            "estimate: this machine's CPU time for the passes above, timed on a dummy batch of "
            f"{TIMING_BATCH} images; corruption generation and data loading not included"
        )
    lines += notes
    lines.append("cells: " + ", ".join(p.label for p in perturbations))
    return "\n".join(lines)


def _pass_seconds(name: str, image_size: tuple[int, int]) -> tuple[float, float]:
    """Seconds per image-timestep of a forward pass and of a forward+backward pass."""
    spec = get_model_spec(name)
    timesteps = min(spec.timesteps, 1)
    model = build_model(spec, timesteps=timesteps)
    images = torch.full((TIMING_BATCH, len(spec.mean), *image_size), 0.5)
    passes = TIMING_BATCH * (timesteps + 1)
    with torch.no_grad():
        model(images)  # warm-up: first-call allocations and kernel selection
        started = time.perf_counter()
        model(images)
        forward = (time.perf_counter() - started) / passes
    leaf = images.clone().requires_grad_(True)
    started = time.perf_counter()
    model(leaf)[-1].sum().backward()
    gradient = (time.perf_counter() - started) / passes
    return forward, gradient


def _duration(seconds: float | None) -> str:
    """``45 s``, ``12 min``, ``3.2 h``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
