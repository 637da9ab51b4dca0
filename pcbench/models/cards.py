"""Text views of the registry for ``pcbench models`` and ``pcbench models show``.

Both build models on the meta device only (shapes and parameter counts, no memory, no
weights); a model card hashes weight files that exist and never trains or downloads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pcbench.errors import PcbenchError
from pcbench.registry.registry import broken_entries, get_model_spec, list_model_specs, spec_hash
from pcbench.registry.spec import ModelSpec, callable_path


def format_model_table() -> tuple[str, list[str]]:
    """The registry table, and one warning per broken user registry entry or unbuildable model.

    One line per registered model: name, variant, base, parameters, timesteps, source. A
    model that cannot be built shows ``?`` parameters; broken entries are not in the table.
    A PC variant without feedback weights shows variant ``pc (untrained)``
    (:attr:`~pcbench.registry.spec.ModelSpec.untrained_feedback`).
    """
    from pcbench.models.build import parameter_counts

    header = f"{'name':<24}{'variant':<16}{'base':<20}{'parameters':>14}{'T':>4}  source"
    lines = [header]
    warnings = [entry.message() for entry in broken_entries()]
    for spec in list_model_specs():
        try:
            parameters = f"{sum(parameter_counts(spec)):,}"
        except PcbenchError as exc:
            parameters = "?"
            warnings.append(f"cannot build '{spec.name}' to count its parameters: {exc}")
        variant = f"{spec.variant} (untrained)" if spec.untrained_feedback else spec.variant
        lines.append(
            f"{spec.name:<24}{variant:<16}{spec.base or '-':<20}{parameters:>14}{spec.timesteps:>4}  {spec.source}"
        )
    return "\n".join(lines), warnings


def format_model_card(name: str) -> str:
    """Everything known about one model: spec, PCoders, parameters, weights, training, and
    for a model built from a paper (:data:`pcbench.models.dynamics.REFERENCES`) the paper and
    what was simplified."""
    from pcbench.models.build import describe_architecture
    from pcbench.models.dynamics import REFERENCES

    spec = get_model_spec(name)
    architecture = describe_architecture(spec)
    base = get_model_spec(spec.base) if spec.base else None
    rows = [
        ("name", spec.name),
        ("description", spec.description or "-"),
        ("variant", spec.variant),
        ("base", spec.base or "-"),
        ("architecture", f"{callable_path(spec.arch)} {spec.arch_kwargs or ''}".strip()),
        ("classes / dataset", f"{spec.num_classes} / {spec.dataset}"),
        ("input", f"{spec.input_size}px, mean {spec.mean}, std {spec.std}"),
        ("timesteps", str(spec.timesteps)),
        (
            "parameters",
            f"{architecture.backbone_parameters:,} (the whole network)"
            if spec.variant == "recurrent"
            else f"{architecture.backbone_parameters:,} backbone + {architecture.feedback_parameters:,} feedback",
        ),
        *_weights_rows("weights", spec),
        *(_weights_rows("base weights", base) if base else []),
        ("checkpoint hash", _checkpoint_hash(spec, base)),
        ("spec hash", spec_hash(spec)),
        ("source", spec.source),
    ]
    reference = REFERENCES.get(spec.name) if spec.source == "builtin" else None
    if reference is not None:
        rows += [("paper", reference.paper), ("simplified", reference.simplified)]
    lines = [f"{key:<20}{value}" for key, value in rows]
    if spec.pc is not None:
        lines.append(
            f"PCoders (gradient scaling {'on' if spec.pc.gradient_scaling else 'off'}, "
            f"predictors {callable_path(spec.pc.predictors) or 'declared or derived'}):"
        )
        lines.append(f"  {'module':<24}{'beta':>6}{'lambda':>8}{'alpha':>7}  {'feature map':<16}predictor")
        lines += [
            f"  {layer.module:<24}{layer.beta:>6.3g}{layer.lam:>8.3g}{layer.alpha:>7.3g}  "
            f"{'×'.join(map(str, shape)):<16}{predictor}"
            for layer, shape, predictor in zip(
                spec.pc.layers, architecture.feature_shapes, architecture.predictors, strict=True
            )
        ]
    lines += _training_lines(spec)
    return "\n".join(lines)


def _weights_rows(label: str, spec: ModelSpec) -> list[tuple[str, str]]:
    """Where the weights are and, when the file exists, its SHA-256."""
    from pcbench.hashing import hash_file
    from pcbench.models.build import expected_weights_path

    path = expected_weights_path(spec)
    if path is None:
        return [(label, "none (seeded init: untrained feedback)" if spec.untrained_feedback else "none (seeded init)")]
    if not path.is_file():
        return [(label, f"{path} (not present)")]
    rows = [(label, str(path)), (f"{label} sha256", hash_file(path))]
    if spec.weights_sha256:
        rows.append((f"{label} expected", spec.weights_sha256))
    return rows


def _checkpoint_hash(spec: ModelSpec, base: ModelSpec | None) -> str:
    """The checkpoint hash results are stored with, once every weight file exists."""
    from pcbench.models.build import checkpoint_hash, expected_weights_path

    paths = [expected_weights_path(s) for s in (spec, base) if s is not None]
    if any(path is not None and not path.is_file() for path in paths):
        return "- (weights not present)"
    return checkpoint_hash(spec)


def _training_lines(spec: ModelSpec) -> list[str]:
    """The training record stored with a PC variant's feedback weights, if any."""
    from pcbench.models.build import expected_weights_path
    from pcbench.models.checkpoints import read_training_record

    path = expected_weights_path(spec) if spec.variant == "pc" else None
    record = read_training_record(path) if path is not None and path.is_file() else None
    if record is None:
        return []
    return [f"training (recorded in {Path(path).name}):"] + [
        f"  {key:<22}{_format_value(value)}" for key, value in record.items()
    ]


def _format_value(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{key} {_format_value(item)}" for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return " ".join(_format_value(item) for item in value)
    return f"{value:.4g}" if isinstance(value, float) else str(value)
