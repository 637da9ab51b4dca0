"""Build registered models as timestep models, with their weights and provenance hashes."""

from __future__ import annotations

import functools
import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

from pcbench.errors import PcbenchError
from pcbench.hashing import hash_file_once, hash_json
from pcbench.models.checkpoints import refusal_reason
from pcbench.models.pc import GradientMode, PCModel
from pcbench.models.predictors import derive_predictors, describe_predictor, feature_shapes
from pcbench.models.protocol import FeedforwardModel, Normalize, TimestepModel, UnrolledModel
from pcbench.models.stepwise import Stepwise
from pcbench.registry.registry import get_model_spec
from pcbench.registry.spec import ModelSpec
from pcbench.registry.weight_files import missing_weights_message, resolve_weights

#: Seed for parameters that no weights file sets (untrained predictors), so builds repeat.
INIT_SEED = 0


def build_model(
    spec: ModelSpec | str,
    *,
    device: str | torch.device = "cpu",
    timesteps: int | None = None,
    gradient_mode: GradientMode = "full",
    weights: bool = True,
) -> TimestepModel:
    """Build ``spec`` (or a registered name) in eval mode with frozen parameters.

    ``timesteps`` overrides the spec's default T for a dynamic variant or a stepwise network
    (ignored for other feedforward models, which have T = 0); a stepwise spec is built as
    :class:`~pcbench.models.stepwise.Stepwise` around its network, a recurrent variant as
    :class:`~pcbench.models.protocol.UnrolledModel` around its ``arch(timesteps=T)``. Weights are read, never
    trained or downloaded (see :func:`weights_path`); ``weights=False`` reads none (seeded
    initial weights: the same computation, e.g. for timing a model whose files are absent).
    """
    spec = get_model_spec(spec) if isinstance(spec, str) else spec
    if spec.protocol == "stepwise":
        model: TimestepModel = Stepwise(
            _backbone(spec, load_weights=weights),
            spec.timesteps if timesteps is None else timesteps,
            reset=spec.reset,
            step=spec.step,
            mean=spec.mean,
            std=spec.std,
        )
    elif spec.variant == "feedforward":
        model = FeedforwardModel(_backbone(spec, load_weights=weights), _normalize(spec))
    elif spec.variant == "recurrent":
        steps = spec.timesteps if timesteps is None else timesteps
        model = UnrolledModel(_backbone(spec, load_weights=weights, timesteps=steps), _normalize(spec), steps)
    else:
        model = build_pc_model(spec, timesteps=timesteps, gradient_mode=gradient_mode, base_weights=weights)
        path = weights_path(spec) if weights else None
        if path is not None:
            _load_into(model.predictors, path, spec)
    model.eval().requires_grad_(False)
    return model.to(device)


def build_pc_model(
    spec: ModelSpec,
    *,
    timesteps: int | None = None,
    gradient_mode: GradientMode = "full",
    base_weights: bool = True,
) -> PCModel:
    """A PC variant with its base's backbone and freshly initialised (seeded) predictors.

    ``base_weights=False`` leaves the backbone untrained (for shapes and parameter counts).
    """
    assert spec.pc is not None and spec.base is not None and spec.input_size is not None
    backbone = _backbone(get_model_spec(spec.base), load_weights=base_weights)
    normalize = _normalize(spec)
    modules = [layer.module for layer in spec.pc.layers]
    shapes = feature_shapes(backbone, normalize, modules, spec.input_size)
    input_shape = (len(spec.mean), spec.input_size, spec.input_size)
    declared = [layer.predictor for layer in spec.pc.layers]
    if spec.pc.predictors is not None and any(declared):
        raise PcbenchError(
            f"model '{spec.name}': pc.predictors and per-layer 'predictor' tables exclude each other; use one of them"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        if spec.pc.predictors is None:
            predictors = derive_predictors(shapes, input_shape, modules, declared)
        else:
            predictors = list(resolve_callable(spec.pc.predictors)(shapes, input_shape))
    return PCModel(
        backbone,
        normalize,
        modules,
        predictors,
        betas=[layer.beta for layer in spec.pc.layers],
        lambdas=[layer.lam for layer in spec.pc.layers],
        alphas=[layer.alpha for layer in spec.pc.layers],
        timesteps=spec.timesteps if timesteps is None else timesteps,
        gradient_scaling=spec.pc.gradient_scaling,
        gradient_mode=gradient_mode,
    )


def weights_path(spec: ModelSpec) -> Path | None:
    """The spec's weights file, checked: ``None`` when the spec has none (seeded init).

    A missing file (or a directory in its place) is an error saying where it is expected and
    how to obtain it; a file whose SHA-256 differs from ``spec.weights_sha256`` is refused.
    Never trains or downloads.
    """
    path = expected_weights_path(spec)
    if path is None:
        return None
    if not path.is_file():
        raise PcbenchError(missing_weights_message(spec, path))
    if spec.weights_sha256 and hash_file_once(path) != spec.weights_sha256.lower():
        raise PcbenchError(
            f"model '{spec.name}': weights file '{path}' has SHA-256 {hash_file_once(path)}, "
            f"expected {spec.weights_sha256}"
        )
    return path


def expected_weights_path(spec: ModelSpec) -> Path | None:
    """Where the spec's weights are or would be; never checks or raises."""
    return None if spec.weights is None else resolve_weights(spec.weights)


def checkpoint_hash(spec: ModelSpec) -> str:
    """Identity of the weights a model is built with (a PC variant's includes its base's; a
    recurrent variant's weights are its whole network).

    A query: it reads (and hashes) the weight files, and raises :class:`PcbenchError` when
    one is missing; it never trains.
    """
    path = weights_path(spec)
    own = hash_file_once(path)[:16] if path is not None else f"init-seed-{INIT_SEED}"
    if spec.variant != "pc" or spec.base is None:
        return own
    return hash_json([checkpoint_hash(get_model_spec(spec.base)), own])


def validate_model(spec: ModelSpec) -> None:
    """Build ``spec`` and run one forward on a dummy input, checking the logits' shape."""
    model = build_model(spec, timesteps=min(spec.timesteps, 1))
    size = spec.input_size or 224
    with torch.no_grad():
        logits = model(torch.full((2, len(spec.mean), size, size), 0.5))
    expected = (model.timesteps + 1, 2, spec.num_classes)
    if tuple(logits.shape) != expected:
        raise PcbenchError(
            f"model '{spec.name}': forward gave logits {tuple(logits.shape)}, expected "
            f"{expected} ([timesteps, batch, num_classes])"
        )


#: ``arch`` prefix of timm models (``pip install 'pcbench[timm]'``).
TIMM_PREFIX = "timm:"


def _timm_builder(target: str) -> Callable[..., Any]:
    """``timm.create_model`` for ``"timm:<name>"``, never downloading (``pretrained=False``)."""
    try:
        import timm
    except ImportError:
        raise PcbenchError(
            f"arch = '{target}' needs timm, which is not installed; install the extra: pip install 'pcbench[timm]'"
        ) from None
    name = target.removeprefix(TIMM_PREFIX)
    if name not in timm.list_models():
        raise PcbenchError(f"arch = '{target}': timm {timm.__version__} has no model '{name}' (see timm.list_models())")
    return functools.partial(timm.create_model, name, pretrained=False)


def resolve_callable(target: str | Callable[..., Any]) -> Callable[..., Any]:
    """A callable given directly, as ``"module:attribute"``, as ``"timm:<name>"`` (any timm
    model, built without pretrained weights: weights come from the spec's file), or as a
    torchvision model name."""
    if callable(target):
        return target
    if target.startswith(TIMM_PREFIX):
        return _timm_builder(target)
    if ":" not in target:
        if target not in torchvision.models.list_models():
            raise PcbenchError(f"arch = '{target}' is neither 'module:function' nor a torchvision model name")
        return functools.partial(torchvision.models.get_model, target)
    module_name, _, attribute = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            obj = getattr(obj, part)
    except Exception as exc:  # noqa: BLE001 -- importing runs the module: any error, one line
        first = next(iter(str(exc).splitlines()), "")
        raise PcbenchError(f"cannot import '{target}': {type(exc).__name__}: {first}") from None
    if not callable(obj):
        raise PcbenchError(f"'{target}' is a {type(obj).__name__}, not callable")
    return obj


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from ``path``, loaded with ``weights_only=True`` (no arbitrary pickles).

    A file that this load refuses or cannot read (a pickle asking for code, a corrupt,
    truncated or empty file) is a PcbenchError: ``weights '<path>' are not a plain state dict
    (refused: pcbench never unpickles code): <reason>``; the reason is pcbench's own, never
    torch's text, which advises loading unsafely. An OSError (e.g. permission denied) passes.
    """
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the error says enough
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise
    except Exception as exc:  # noqa: BLE001 -- any malformed file: one line, never torch's advice
        raise PcbenchError(
            f"weights '{path}' are not a plain state dict (refused: pcbench never unpickles code): "
            f"{refusal_reason(path, exc)}"
        ) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(key, str) for key in state):
        kind = (
            "a dict whose keys are not all parameter names" if isinstance(state, dict) else f"a {type(state).__name__}"
        )
        raise PcbenchError(f"weights '{path}' hold {kind}, not a state dict")
    return state


@dataclass(frozen=True)
class Architecture:
    """Sizes and shapes of a model, from a weightless build on the meta device.

    ``feature_shapes`` and ``predictors`` (described) have one entry per PCoder; both are
    empty for a feedforward model.
    """

    backbone_parameters: int
    feedback_parameters: int
    feature_shapes: tuple[tuple[int, ...], ...] = ()
    predictors: tuple[str, ...] = ()


def describe_architecture(spec: ModelSpec) -> Architecture:
    """The model's :class:`Architecture`; allocates no memory and loads no weights."""
    with torch.device("meta"):
        if spec.variant != "pc":
            extra = {"timesteps": spec.timesteps} if spec.variant == "recurrent" else {}
            backbone = _backbone(spec, load_weights=False, **extra)
            return Architecture(sum(p.numel() for p in backbone.parameters()), 0)
        assert spec.pc is not None and spec.input_size is not None
        model = build_pc_model(spec, base_weights=False)
        modules = [layer.module for layer in spec.pc.layers]
        shapes = feature_shapes(model.backbone, model.normalize, modules, spec.input_size)
    return Architecture(
        sum(p.numel() for p in model.backbone.parameters()),
        sum(p.numel() for p in model.predictors.parameters()),
        tuple(shapes),
        tuple(describe_predictor(predictor) for predictor in model.predictors),
    )


def parameter_counts(spec: ModelSpec) -> tuple[int, int]:
    """(backbone, feedback) parameter counts, from a weightless build (no weights needed)."""
    architecture = describe_architecture(spec)
    return architecture.backbone_parameters, architecture.feedback_parameters


def _backbone(spec: ModelSpec, load_weights: bool = True, **extra: Any) -> nn.Module:
    """The backbone ``spec.arch`` builds (called with ``extra`` too: a recurrent variant's
    ``timesteps``); an arch that fails or builds no ``nn.Module`` is an error naming the
    model and the arch."""
    assert spec.arch is not None
    try:
        builder = resolve_callable(spec.arch)
    except PcbenchError as exc:
        raise PcbenchError(f"model '{spec.name}': {exc}") from None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        try:
            backbone = builder(num_classes=spec.num_classes, **spec.arch_kwargs, **extra)
        except PcbenchError:
            raise
        except Exception as exc:  # noqa: BLE001 -- the user's builder may fail in any way
            first = next(iter(str(exc).splitlines()), type(exc).__name__)
            raise PcbenchError(f"model '{spec.name}': arch '{spec.arch}' failed: {first}") from None
    if not isinstance(backbone, nn.Module):
        raise PcbenchError(
            f"model '{spec.name}': arch '{spec.arch}' returned a {type(backbone).__name__}, not an "
            "nn.Module; arch must name a function or class with arch(num_classes, **arch_kwargs) "
            "-> nn.Module"
        )
    path = weights_path(spec) if load_weights else None
    if path is not None:
        _load_into(backbone, path, spec)
    return backbone


def _load_into(module: nn.Module, path: Path, spec: ModelSpec) -> None:
    """Load the state dict at ``path`` into ``module``; errors name the model, the file and the
    first mismatch (e.g. ``size mismatch for 0.weight: ...``)."""
    try:
        state = load_state_dict(path)
    except PcbenchError as exc:
        raise PcbenchError(f"model '{spec.name}': {exc}") from None
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:  # torch: a header line, then one line per mismatch
        header, *details = [line.strip() for line in str(exc).splitlines() if line.strip()]
        more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
        raise PcbenchError(
            f"model '{spec.name}': weights '{path}' do not fit: {details[0] if details else header}{more}"
        ) from None


def _normalize(spec: ModelSpec) -> Normalize:
    return Normalize(spec.mean, spec.std)
