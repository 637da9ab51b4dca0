"""Model specifications: everything needed to build a model and to say what produced a result.

A :class:`ModelSpec` is small on purpose (RobustBench keeps model entries small): an
architecture builder, a label space, preprocessing, weights, and for a predictive-coding
(PC) variant the name of its feedforward ``base`` plus a :class:`PCConfig`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pcbench.errors import PcbenchError
from pcbench.registry.predictor_spec import PredictorSpec

Variant = Literal["feedforward", "pc"]

#: Paper setting for evaluation (Predify, NeurIPS 2021): the same at every PCoder.
PAPER_BETA, PAPER_LAMBDA, PAPER_ALPHA = 0.8, 0.1, 0.01


@dataclass(frozen=True)
class PCLayer:
    """One PCoder: the backbone module whose output it replaces, and its hyperparameters.

    ``beta`` weighs the feedforward drive, ``lam`` the feedback prediction from the PCoder
    above, ``1 - beta - lam`` the memory of the previous state, ``alpha`` the error-correction
    step. The top PCoder receives no feedback: its ``lam`` is forced to 0 by :class:`PCConfig`.
    ``predictor`` declares this PCoder's predictor; ``None`` derives the default one.
    """

    module: str
    beta: float = PAPER_BETA
    lam: float = PAPER_LAMBDA
    alpha: float = PAPER_ALPHA
    predictor: PredictorSpec | None = None

    def __post_init__(self) -> None:
        for key in ("beta", "lam", "alpha"):
            value = getattr(self, key)
            if not 0.0 <= value <= 1.0:
                raise PcbenchError(f"PCoder '{self.module}': {key} = {value} must lie in [0, 1]")
        if self.beta + self.lam > 1.0 + 1e-12:
            raise PcbenchError(
                f"PCoder '{self.module}': beta + lambda = {self.beta + self.lam:g} must be <= 1 "
                "(the memory weight is 1 - beta - lambda)"
            )


@dataclass(frozen=True)
class PCConfig:
    """Where PCoders sit in a backbone and how their predictors are made.

    ``layers`` are ordered bottom-up (the first predicts the normalised input image).
    ``predictors`` builds the feedback modules: a callable (or ``"module:function"``)
    called as ``predictors(feature_shapes, input_shape)`` and returning one ``nn.Module``
    per layer; ``None`` builds each layer's declared ``predictor``, or derives it from a dry
    forward (bilinear upsampling where the resolution changes, then a 3×3 ConvTranspose2d).
    ``gradient_scaling`` multiplies the per-sample error gradient by ``numel / sqrt(C)``
    (see :mod:`pcbench.models.pc`).
    """

    layers: tuple[PCLayer, ...]
    predictors: str | Callable[..., Any] | None = None
    gradient_scaling: bool = False

    def __post_init__(self) -> None:
        if not self.layers:
            raise PcbenchError("pc.layers is empty: a PC variant needs at least one PCoder")
        modules = [layer.module for layer in self.layers]
        duplicated = sorted({m for m in modules if modules.count(m) > 1})
        if duplicated:
            raise PcbenchError(f"pc.layers names module(s) {duplicated} more than once")
        top = self.layers[-1]
        if top.lam != 0.0:
            object.__setattr__(
                self, "layers", (*self.layers[:-1], dataclasses.replace(top, lam=0.0))
            )

    def to_record(self) -> dict[str, Any]:
        """A JSON/TOML-able description (the predictor builder by its import path).

        A gradient-scaled config also records how C is defined (``"gradient_scale":
        "fan-out"``; C was the fan-in before), so its spec hash changes while the hashes of
        configs without gradient scaling stay as they were.
        """
        record = {
            "layers": [  # an undeclared predictor is left out, so older spec hashes hold
                {k: v for k, v in dataclasses.asdict(layer).items() if v is not None}
                for layer in self.layers
            ],
            "predictors": callable_path(self.predictors),
            "gradient_scaling": self.gradient_scaling,
        }
        if self.gradient_scaling:
            record["gradient_scale"] = "fan-out"
        return record


@dataclass(frozen=True)
class ModelSpec:
    """A registered model.

    Fields:
        name: unique registry name.
        arch: builder of the backbone ``nn.Module``; a callable, ``"module:function"``, or a
            torchvision model name. Called as ``arch(num_classes=..., **arch_kwargs)``.
        num_classes: size of the label space.
        dataset: the label space / training data set (e.g. ``"digits"``, ``"imagenet"``).
        input_size: side of the square input the model expects, in pixels.
        mean, std: per-channel normalisation applied *inside* the model to inputs in [0, 1].
        weights: state-dict file. Feedforward: the whole network. PC: the predictors only
            (the backbone comes from ``base``). ``None``: no weights (seeded initialisation).
        weights_sha256: expected SHA-256 of ``weights``; checked when the model is built.
        variant: ``"feedforward"`` or ``"pc"``.
        base: for a PC variant, the feedforward model whose backbone (and weights) it wraps.
        pc: the PC configuration (PC variants only).
        timesteps: default number of PC timesteps T (logits for 0..T); 0 for feedforward.
        arch_kwargs: extra keyword arguments for ``arch``.
        transfer_datasets: data sets besides ``dataset`` that the model may be evaluated on
            on purpose (transfer; ``"*"``: any); a run refuses any other. Not part of the
            spec hash: it permits, it changes no number.
        source: where the entry came from (``builtin``, ``python``, ``user``, ``entry-point:...``).
        description: one line for listings.
    """

    name: str
    arch: str | Callable[..., Any] | None = None
    num_classes: int | None = None
    dataset: str | None = None
    input_size: int | None = None
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    weights: str | None = None
    weights_sha256: str | None = None
    variant: Variant = "feedforward"
    base: str | None = None
    pc: PCConfig | None = None
    timesteps: int = 0
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    transfer_datasets: tuple[str, ...] = ()
    source: str = "python"
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name or any(c.isspace() for c in self.name):
            raise PcbenchError(f"model name {self.name!r} must be non-empty without spaces")
        if self.variant not in ("feedforward", "pc"):
            raise PcbenchError(
                f"model '{self.name}': variant = {self.variant!r}; allowed: feedforward, pc"
            )
        if self.timesteps < 0:
            raise PcbenchError(f"model '{self.name}': timesteps = {self.timesteps} must be >= 0")
        if self.variant == "feedforward":
            if self.pc is not None or self.base is not None:
                raise PcbenchError(
                    f"model '{self.name}': a feedforward model takes no 'pc' or 'base'; "
                    "set variant = 'pc' for a PC variant"
                )
            if self.timesteps != 0:
                raise PcbenchError(
                    f"model '{self.name}': timesteps = {self.timesteps}; a feedforward model has T = 0"
                )
            missing = [k for k in ("arch", "num_classes") if getattr(self, k) is None]
            if missing:
                raise PcbenchError(f"model '{self.name}': missing {', '.join(missing)}")
        elif self.base is None or self.pc is None:
            raise PcbenchError(
                f"model '{self.name}': a PC variant needs 'base' (a feedforward model) and 'pc'"
            )
        if len(self.mean) != len(self.std) or any(s <= 0 for s in self.std):
            raise PcbenchError(
                f"model '{self.name}': mean {self.mean} and std {self.std} must have equal "
                "length and positive std"
            )

    def to_record(self) -> dict[str, Any]:
        """JSON/TOML-able fields that determine the model's behaviour (hashed for provenance)."""
        return {
            "name": self.name,
            "arch": callable_path(self.arch),
            "arch_kwargs": self.arch_kwargs,
            "num_classes": self.num_classes,
            "dataset": self.dataset,
            "input_size": self.input_size,
            "mean": list(self.mean),
            "std": list(self.std),
            "weights": self.weights,
            "weights_sha256": self.weights_sha256,
            "variant": self.variant,
            "base": self.base,
            "pc": self.pc.to_record() if self.pc else None,
            "timesteps": self.timesteps,
        }


def callable_path(obj: str | Callable[..., Any] | None) -> str | None:
    """Name a callable by ``module:qualname`` (strings and ``None`` pass through)."""
    if obj is None or isinstance(obj, str):
        return obj
    return f"{obj.__module__}:{obj.__qualname__}"
