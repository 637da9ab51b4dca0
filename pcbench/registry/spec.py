"""Model specifications: everything needed to build a model and to say what produced a result.

A :class:`ModelSpec` is small on purpose (RobustBench keeps model entries small): an
architecture builder, a label space, preprocessing, weights, and for a dynamic variant the
name of its feedforward ``base``: a predictive-coding (PC) variant wraps the base's backbone
and adds a :class:`PCConfig`; a recurrent variant is a network of its own (``arch``, unrolled
for ``timesteps`` steps) that leaderboards pair with its base, as they pair a PC variant.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field, Strict, model_validator

from pcbench.errors import InvalidValue, PcbenchError
from pcbench.names import ALLOWED, NAME_PATTERN, check_name
from pcbench.registry.predictor_spec import PredictorSpec
from pcbench.registry.tables import EntryTable, NonNegativeInt, importable, instance_of, must
from pcbench.validation import check_fields, fail, rule

Variant = Literal["feedforward", "pc", "recurrent"]
#: Every variant; all but ``feedforward`` are dynamic (logits for timesteps 0..T, T >= 1).
VARIANTS: tuple[Variant, ...] = ("feedforward", "pc", "recurrent")
Protocol = Literal["unroll", "stepwise"]

#: Paper setting for evaluation (Predify, NeurIPS 2021): the same at every PCoder.
PAPER_BETA, PAPER_LAMBDA, PAPER_ALPHA = 0.8, 0.1, 0.01

# --- field rules: one place for the dataclasses below and the model files' tables ---------

Module = Annotated[str, Strict(), Field(min_length=1), must("a dotted module path (a non-empty string)")]
Weight = Annotated[float, Strict(), Field(ge=0.0, le=1.0, allow_inf_nan=False), rule("must lie in [0, 1]")]
Predictors = importable("'module:function' or a callable", lambda text: ":" in text)
GradientScaling = Annotated[bool, Strict(), must("true or false")]
Arch = importable("'module:function', a torchvision model name or a callable", bool)
Text = Annotated[str, Strict(), Field(min_length=1)]
Channels = Annotated[
    tuple[Annotated[float, Strict(), Field(allow_inf_nan=False), must("a finite number")], ...],
    Field(min_length=1),
    must("a list of numbers, one per channel (at least one)"),
]
_SPREADS = "a list of positive numbers, one per channel (as many as mean)"
Spreads = Annotated[
    tuple[Annotated[float, Strict(), Field(gt=0.0, allow_inf_nan=False), must("a positive number")], ...],
    Field(min_length=1),
    must(_SPREADS),
]
TransferDatasets = Annotated[
    tuple[Annotated[str, Strict(), Field(min_length=1)], ...],
    must('a list of data set names (or ["*"] for any)', items=False),
]


class LayerFields(EntryTable):
    """The fields of a :class:`PCLayer` (``lambda`` is its ``lam``)."""

    module: Module = Field(description="The backbone module whose output this PCoder replaces (dotted path).")
    beta: Weight = Field(PAPER_BETA, description="Weight of the feedforward drive.")
    lam: Weight = Field(PAPER_LAMBDA, alias="lambda", description="Weight of the feedback prediction from above.")
    alpha: Weight = Field(PAPER_ALPHA, description="Error-correction step size.")
    predictor: instance_of(PredictorSpec, "a predictor table or none") | None = None

    @model_validator(mode="after")
    def _memory_weight(self) -> LayerFields:
        if self.beta + self.lam > 1.0 + 1e-12:
            fail(
                "beta + lambda = {value:g} must be <= 1 (the memory weight is 1 - beta - lambda)",
                value=self.beta + self.lam,
            )
        return self


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
        check_fields(LayerFields, self, f"PCoder {self.module!r}" if isinstance(self.module, str) else "PCoder")


class PcFields(EntryTable):
    """The fields of a :class:`PCConfig`."""

    layers: Annotated[tuple[instance_of(PCLayer, "a PCLayer"), ...], Strict(), must("a tuple of PCLayer", items=False)]
    predictors: Predictors | None = None
    gradient_scaling: GradientScaling = False


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
        check_fields(PcFields, self, "pc")
        if not self.layers:
            raise PcbenchError("pc.layers is empty: a PC variant needs at least one PCoder")
        modules = [layer.module for layer in self.layers]
        duplicated = sorted({m for m in modules if modules.count(m) > 1})
        if duplicated:
            raise PcbenchError(f"pc.layers names module(s) {duplicated} more than once")
        top = self.layers[-1]
        if top.lam != 0.0:
            object.__setattr__(self, "layers", (*self.layers[:-1], dataclasses.replace(top, lam=0.0)))

    def to_record(self) -> dict[str, Any]:
        """A JSON/TOML-able description (the predictor builder by its import path).

        A gradient-scaled config also records how C is defined (``"gradient_scale":
        "fan-out"``; C was the fan-in before), so its spec hash changes while the hashes of
        configs without gradient scaling stay as they were.
        """
        record = {
            "layers": [  # an undeclared predictor is left out, so older spec hashes hold
                {k: v for k, v in dataclasses.asdict(layer).items() if v is not None} for layer in self.layers
            ],
            "predictors": callable_path(self.predictors),
            "gradient_scaling": self.gradient_scaling,
        }
        if self.gradient_scaling:
            record["gradient_scale"] = "fan-out"
        return record


class SpecFields(EntryTable):
    """The fields of a :class:`ModelSpec` as its ``__post_init__`` checks them (a model file's
    table, :class:`pcbench.registry.user_file.ModelEntry`, extends it), in the order they are
    checked."""

    variant: Annotated[Variant, must(f"one of {', '.join(VARIANTS)}")] = Field(
        "feedforward", description="feedforward; pc (wraps its base with PCoders); recurrent (a network of its own)."
    )
    arch: Arch | None = Field(
        None, description="Builder of the network: 'module:function' or a torchvision model name."
    )
    num_classes: Annotated[int, Strict(), Field(ge=1), must("an integer >= 1")] | None = Field(
        None, description="Size of the label space."
    )
    dataset: Annotated[Text, must("a data set name (a non-empty string)")] | None = Field(
        None, description="The label space / training data set (digits, cifar10, imagenet, ...)."
    )
    input_size: Annotated[int, Strict(), Field(ge=1), must("an integer >= 1 (pixels per side)")] | None = Field(
        None, description="Side of the square input, in pixels."
    )
    mean: Channels = Field((0.0, 0.0, 0.0), description="Per-channel mean subtracted inside the model.")
    std: Spreads = Field((1.0, 1.0, 1.0), description="Per-channel standard deviation divided by inside the model.")
    weights: Annotated[Text, must("a path (a non-empty string)")] | None = Field(
        None, description="State-dict file (relative to the model file, or $PCBENCH_WEIGHTS/FILE)."
    )
    weights_sha256: (
        Annotated[
            str, Strict(), Field(pattern=r"^[0-9a-fA-F]{64}$"), must("the file's SHA-256 as 64 hexadecimal digits")
        ]
        | None
    ) = Field(None, description="Expected SHA-256 of the weights file.")
    base: (
        Annotated[str, Strict(), Field(pattern=f"^{NAME_PATTERN.pattern}$"), must(f"a model name ({ALLOWED})")] | None
    ) = Field(None, description="A dynamic variant's feedforward base model.")
    pc: instance_of(PCConfig, "a pc table") | None = None
    timesteps: NonNegativeInt = Field(0, description="Default T of a dynamic variant (0 for feedforward).")
    protocol: Annotated[Protocol, must("one of unroll, stepwise")] = Field(
        "unroll", description="unroll (one call) or stepwise (reset, then one call per timestep)."
    )
    reset: Annotated[Text, must("a method name (a non-empty string)")] = Field(
        "reset", description="A stepwise network's reset method."
    )
    step: Annotated[Text, must("a method name (a non-empty string), or absent: net(None)")] | None = Field(
        None, description="A stepwise network's step method (absent: net(None))."
    )
    arch_kwargs: Annotated[dict[str, Any], must("a table of keyword arguments", items=False)] = Field(
        default_factory=dict, description="Extra keyword arguments for arch."
    )
    transfer_datasets: TransferDatasets = Field(
        (), description='Data sets besides dataset it may be evaluated on ("*": any).'
    )
    description: Annotated[str, Strict(), must("a string")] = Field("", description="One line for listings.")

    @model_validator(mode="after")
    def _as_many_spreads_as_means(self) -> SpecFields:
        if len(self.std) != len(self.mean):
            fail(f"{{key}} = {{value!r}} must be {_SPREADS}", at="std", value=list(self.std))
        return self


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
        variant: ``"feedforward"``, ``"pc"`` or ``"recurrent"``.
        base: for a dynamic variant, its feedforward base: the model whose backbone (and
            weights) a PC variant wraps, and the model a recurrent variant is compared with
            (the same network without the recurrence). Both inherit the base's label space
            and preprocessing; a PC variant its architecture too.
        pc: the PC configuration (PC variants only).
        timesteps: default number of timesteps T of a dynamic variant (logits for 0..T); 0
            for feedforward (a stepwise one: its T, >= 1). A recurrent variant's ``arch`` is
            called with ``timesteps=T`` and returns a module mapping normalised images to
            logits ``[T + 1, B, classes]``; its ``weights`` are that whole module's.
        protocol: how the network is called: ``"unroll"`` (one call, logits ``[B, classes]``,
            or a PC variant's unroll) or ``"stepwise"`` (a feedforward-built, stateful
            recurrent network: ``reset``, then one call per timestep; see
            :mod:`pcbench.models.stepwise`).
        reset, step: a stepwise network's reset method and step call (a method name, or
            ``None``: ``net(None)``, Predify's convention).
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
    protocol: Protocol = "unroll"
    reset: str = "reset"
    step: str | None = None
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    transfer_datasets: tuple[str, ...] = ()
    source: str = "python"
    description: str = ""

    def __post_init__(self) -> None:
        """Check every field's type and range: :class:`~pcbench.errors.InvalidValue` names the
        first bad one (a model file re-raises it at ``models.<name>.<key>``), PcbenchError the
        fields a variant lacks or may not have."""
        check_name("model", self.name, "registry")
        where = f"model '{self.name}'"
        check_fields(SpecFields, self, where)
        if self.protocol == "stepwise":
            if self.variant != "feedforward" or self.timesteps < 1:
                raise PcbenchError(
                    f"model '{self.name}': protocol = 'stepwise' is for a self-contained stateful network "
                    "(variant = 'feedforward': arch, no base or pc) with timesteps >= 1"
                )
        elif (self.reset, self.step) != ("reset", None):
            raise PcbenchError(f"model '{self.name}': reset and step are for protocol = 'stepwise'")
        if self.variant == "feedforward":
            if self.pc is not None or self.base is not None:
                raise PcbenchError(
                    f"model '{self.name}': a feedforward model takes no 'pc' or 'base'; "
                    "set variant = 'pc' for a PC variant or 'recurrent' for a recurrent one"
                )
            if self.timesteps != 0 and self.protocol != "stepwise":
                raise InvalidValue(where, "timesteps", self.timesteps, "must be 0: a feedforward model has T = 0")
            missing = [k for k in ("arch", "num_classes") if getattr(self, k) is None]
            if missing:
                raise PcbenchError(f"model '{self.name}': missing {', '.join(missing)}")
        elif self.variant == "recurrent":
            if self.base is None or self.arch is None or self.pc is not None:
                raise PcbenchError(
                    f"model '{self.name}': a recurrent variant needs 'base' (a feedforward model) and 'arch' "
                    "(its own network), and takes no 'pc'"
                )
            if self.timesteps < 1:
                raise InvalidValue(where, "timesteps", self.timesteps, "must be >= 1 for a recurrent variant")
        elif self.base is None or self.pc is None:
            raise PcbenchError(f"model '{self.name}': a PC variant needs 'base' (a feedforward model) and 'pc'")

    @property
    def untrained_feedback(self) -> bool:
        """A PC variant without a feedback weights file: its predictors keep their seeded
        initialisation, so its feedback is random (unless a ``pc.predictors`` builder loads
        weights itself, which pcbench cannot see). Named in ``pcbench models``, in a run's
        output and in the report (:func:`untrained_message`)."""
        return self.variant == "pc" and self.weights is None

    def to_record(self) -> dict[str, Any]:
        """JSON/TOML-able fields that determine the model's behaviour (hashed for provenance);
        the stepwise fields only for a stepwise spec, so the other specs' hashes hold."""
        record = {
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
        if self.protocol == "stepwise":
            record.update(protocol=self.protocol, reset=self.reset, step=self.step)
        return record


def untrained_message(spec: ModelSpec) -> str:
    """One line naming a PC variant without feedback weights as untrained (see
    :attr:`ModelSpec.untrained_feedback`) and how to train it."""
    return (
        f"model '{spec.name}' is a PC variant without feedback weights: its predictors are untrained "
        f"(seeded initialisation); train them with `pcbench train-feedback {spec.name}`"
    )


def callable_path(obj: str | Callable[..., Any] | None) -> str | None:
    """Name a callable by ``module:qualname`` (strings and ``None`` pass through)."""
    if obj is None or isinstance(obj, str):
        return obj
    return f"{obj.__module__}:{obj.__qualname__}"
