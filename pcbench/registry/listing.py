"""Text views of the registry for ``pcbench models`` and ``pcbench models show``."""

from __future__ import annotations

from pcbench.registry.registry import get_model_spec, list_model_specs, spec_hash
from pcbench.registry.spec import callable_path


def format_model_table() -> str:
    """One line per registered model: name, variant, base, parameters, timesteps, source."""
    from pcbench.models.build import parameter_counts

    header = f"{'name':<24}{'variant':<13}{'base':<20}{'parameters':>14}{'T':>4}  source"
    lines = [header]
    for spec in list_model_specs():
        backbone, feedback = parameter_counts(spec)
        lines.append(
            f"{spec.name:<24}{spec.variant:<13}{spec.base or '-':<20}"
            f"{backbone + feedback:>14,}{spec.timesteps:>4}  {spec.source}"
        )
    return "\n".join(lines)


def format_model_card(name: str) -> str:
    """Everything known about one model, without training or loading its weights."""
    from pcbench.models.build import parameter_counts

    spec = get_model_spec(name)
    backbone, feedback = parameter_counts(spec)
    weights = spec.weights or ("trained on first use, cached" if spec.train else "none (seeded init)")
    rows = [
        ("name", spec.name),
        ("description", spec.description or "-"),
        ("variant", spec.variant),
        ("base", spec.base or "-"),
        ("architecture", f"{callable_path(spec.arch)} {spec.arch_kwargs or ''}".strip()),
        ("classes / dataset", f"{spec.num_classes} / {spec.dataset}"),
        ("input", f"{spec.input_size}px, mean {spec.mean}, std {spec.std}"),
        ("timesteps", str(spec.timesteps)),
        ("parameters", f"{backbone:,} backbone + {feedback:,} feedback"),
        ("weights", weights),
        ("weights sha256", spec.weights_sha256 or "-"),
        ("spec hash", spec_hash(spec)),
        ("source", spec.source),
    ]
    lines = [f"{key:<20}{value}" for key, value in rows]
    if spec.pc is not None:
        lines.append(
            f"PCoders (gradient scaling {'on' if spec.pc.gradient_scaling else 'off'}, "
            f"predictors {callable_path(spec.pc.predictors) or 'derived'}):"
        )
        lines.append(f"  {'module':<24}{'beta':>6}{'lambda':>8}{'alpha':>7}")
        lines += [
            f"  {layer.module:<24}{layer.beta:>6g}{layer.lam:>8g}{layer.alpha:>7g}"
            for layer in spec.pc.layers
        ]
    return "\n".join(lines)
