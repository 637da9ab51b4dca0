"""Feedback training of a PC variant (``pcbench train-feedback``).

Stage 1 trains the predictors on the reconstruction objective Σ_n MSE(p_n, r_{n-1}) of the
timestep-0 pass; the backbone is frozen in eval mode (batch-norm statistics included). The
optional stage 2 (arXiv 2106.04225) freezes the predictors too and learns β, λ, α per
PCoder (:mod:`pcbench.training.hyperparameters`) with the cross-entropy summed over
timesteps 0..T.

Checkpoints go to ``$PCBENCH_HOME/train-feedback/<model>-<key>/`` after every epoch, where
the key covers exactly what the stage-1 objective depends on (:func:`_run_dir`): the base
(spec and weights), the PCoder modules and their predictors, and every setting except the
epoch counts and ``alpha_max``. Not β, λ, α, T or gradient scaling: the timestep-0 pass has
``r_n = ff_n``, so none of them enters Σ_n MSE(p_n, r_{n-1}); nor the variant's own weights,
since training starts from the seeded initialisation. So rerunning the same command (or one
with more epochs), also after editing β and registering the variant again, resumes. Stage
2 uses all of them: its checkpoint's name adds their hash (:func:`_hyperparameter_key`). The result is written to
``out`` as ``{"state_dict", "training"}`` (:mod:`pcbench.models.checkpoints`). Pointing
the registry at the result is the caller's (:func:`pcbench.api.train_feedback`): training
writes no registry entry.
"""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pcbench.data import load_dataset
from pcbench.data.imageset import ImageSet
from pcbench.errors import PcbenchError
from pcbench.files import inside, real_path
from pcbench.hashing import hash_json
from pcbench.models.build import build_pc_model, checkpoint_hash
from pcbench.models.checkpoints import save_feedback_weights
from pcbench.models.pc import PCModel
from pcbench.models.presets import TrainingPreset
from pcbench.paths import pcbench_home
from pcbench.registry.registry import get_model_spec, spec_hash
from pcbench.registry.spec import ModelSpec, PCLayer, callable_path
from pcbench.registry.weight_files import PACKAGE_DIR, WEIGHTS_PREFIX, resolve_weights, weights_dir
from pcbench.store.provenance import package_versions
from pcbench.training.hyperparameters import ALPHA_MAX, LearnedHyperparameters
from pcbench.training.loop import Schedule, Trainable, fit
from pcbench.training.optimizers import check_optimizer, make_optimizer


@dataclass(frozen=True)
class FeedbackSettings:
    """Data, optimiser and schedule of one feedback training (all recorded with the result)."""

    dataset: str
    epochs: int
    batch_size: int
    optimizer: str
    lr: float
    weight_decay: float
    split: str = "train"
    root: str | None = None
    limit: int | None = None
    seed: int = 0
    hyperparameter_epochs: int = 0
    alpha_max: float = ALPHA_MAX

    def __post_init__(self) -> None:
        check_optimizer(self.optimizer)

    @classmethod
    def from_preset(cls, preset: TrainingPreset, dataset: str, **overrides: Any) -> FeedbackSettings:
        """Settings from a model's preset, with ``None``-valued overrides ignored."""
        fields = {
            "epochs": preset.epochs,
            "batch_size": preset.batch_size,
            "optimizer": preset.optimizer,
            "lr": preset.lr,
            "weight_decay": preset.weight_decay,
        }
        fields.update({key: value for key, value in overrides.items() if value is not None})
        return cls(dataset=dataset, **fields)

    def schedule(self, epochs: int, device: torch.device) -> Schedule:
        """The loop schedule of a stage lasting ``epochs``."""
        return Schedule(epochs, self.batch_size, self.seed, device)

    def optimizer_for(self, parameters: Any) -> torch.optim.Optimizer:
        """This run's optimiser over ``parameters``."""
        return make_optimizer(self.optimizer, parameters, self.lr, self.weight_decay)


@dataclass(frozen=True)
class FeedbackResult:
    """What :func:`train_feedback` produced.

    ``registered`` is the user registry entry written, or ``None`` when the model itself
    loads ``weights`` (a zoo model trained to its default output file).
    """

    weights: Path
    registered: str | None
    losses: dict[str, float]
    layers: tuple[PCLayer, ...]


def fit_feedback(
    model: PCModel,
    data: ImageSet,
    settings: FeedbackSettings,
    schedule: Schedule,
    description: str,
    checkpoint: Path | None = None,
) -> dict[str, float]:
    """Stage 1: train ``model``'s predictors; the backbone stays frozen in eval mode.

    Returns the last epoch's mean reconstruction error per PCoder (by module path).
    """
    model.eval()
    model.backbone.requires_grad_(False)
    model.predictors.requires_grad_(True)

    def losses(images: torch.Tensor, _labels: torch.Tensor) -> dict[str, torch.Tensor]:
        return dict(zip(model.module_paths, model.reconstruction_errors(images), strict=True))

    trainable = Trainable(
        {"predictors": model.predictors}, settings.optimizer_for(model.predictors.parameters()), losses
    )
    return fit(trainable, data, schedule, description, checkpoint)


def fit_hyperparameters(
    model: PCModel,
    layers: tuple[PCLayer, ...],
    data: ImageSet,
    settings: FeedbackSettings,
    schedule: Schedule,
    description: str,
    checkpoint: Path | None = None,
) -> tuple[PCLayer, ...]:
    """Stage 2: learn β, λ, α per PCoder (backbone and predictors frozen); the new layers."""
    model.eval().requires_grad_(False)
    model.gradient_mode = "detached"
    learned = LearnedHyperparameters(layers, settings.alpha_max).to(schedule.device)
    cross_entropy = nn.CrossEntropyLoss()

    def losses(images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        learned.apply_to(model)
        logits = model(images)
        return {"cross_entropy": sum(cross_entropy(at_t, labels) for at_t in logits)}

    trainable = Trainable({"hyperparameters": learned}, settings.optimizer_for(learned.parameters()), losses)
    fit(trainable, data, schedule, description, checkpoint)
    return learned.learned_layers(layers)


def training_data(spec: ModelSpec, settings: FeedbackSettings) -> ImageSet:
    """The training images of ``settings`` for PC variant ``spec`` (checked before training)."""
    if spec.variant != "pc" or spec.pc is None or spec.base is None:
        raise PcbenchError(
            f"model '{spec.name}' is a feedforward model; train-feedback trains a PC variant's predictors"
        )
    data = load_dataset(settings.dataset, settings.split, Path(settings.root) if settings.root else None).subset(
        settings.limit, settings.seed
    )
    _check_image_size(data, spec)
    return data


def output_path(spec: ModelSpec, out: Path | None) -> Path:
    """Where the trained feedback goes: ``out``, else :func:`default_output`; never inside
    the package, whose shipped weights are fixed reference files."""
    out = real_path(out or default_output(spec))
    if out.is_relative_to(PACKAGE_DIR):
        raise PcbenchError(
            f"--out {out} lies inside the pcbench package, whose shipped weights are fixed "
            "reference files; write to another path"
        )
    return out


def train_feedback(
    spec: ModelSpec, settings: FeedbackSettings, device: torch.device, out: Path, data: ImageSet
) -> FeedbackResult:
    """Train PC variant ``spec``'s feedback on ``data`` (:func:`training_data`) and save it,
    with its training record, to ``out`` (:func:`output_path`); ``registered`` is None.
    """
    name = spec.name
    assert spec.pc is not None
    run_dir = _run_dir(spec, settings)
    model = build_pc_model(spec).to(device)
    losses = fit_feedback(
        model,
        data,
        settings,
        settings.schedule(settings.epochs, device),
        f"{name} feedback",
        run_dir / "feedback.pt",
    )
    layers = spec.pc.layers
    if settings.hyperparameter_epochs:
        layers = fit_hyperparameters(
            model,
            layers,
            data,
            settings,
            settings.schedule(settings.hyperparameter_epochs, device),
            f"{name} hyperparameters",
            run_dir / f"hyperparameters-{_hyperparameter_key(spec, settings)}-after-{settings.epochs}.pt",
        )
    state = {key: value.cpu() for key, value in model.predictors.state_dict().items()}
    save_feedback_weights(out, state, _record(spec, settings, data, losses, layers, device))
    return FeedbackResult(out, None, losses, layers)


def default_output(spec: ModelSpec) -> Path:
    """Where a model's trained feedback goes unless ``--out`` says otherwise."""
    if spec.weights is not None and spec.weights.startswith(WEIGHTS_PREFIX):
        return resolve_weights(spec.weights)
    return inside(weights_dir(), f"{spec.name}-feedback.pt")


def _check_image_size(data: ImageSet, spec: ModelSpec) -> None:
    height, width = data.images.shape[1:3]
    if (height, width) != (spec.input_size, spec.input_size):
        raise PcbenchError(
            f"dataset '{data.name}' has {height}×{width} images but model '{spec.name}' expects "
            f"input_size = {spec.input_size}; use a dataset of that size"
        )


def _run_dir(spec: ModelSpec, settings: FeedbackSettings) -> Path:
    """Stage 1's checkpoint directory, keyed by what its objective depends on (see the module
    docstring): the base's spec hash and weights, each PCoder's module and declared
    predictor, the predictors builder, and the settings but for the epoch counts and the
    stage-2 ``alpha_max``."""
    assert spec.base is not None and spec.pc is not None
    base = get_model_spec(spec.base)
    resumable = dataclasses.asdict(settings)
    del resumable["epochs"], resumable["hyperparameter_epochs"], resumable["alpha_max"]
    key = hash_json(
        {
            "base": spec_hash(base),
            "base_checkpoint": checkpoint_hash(base),
            "pcoders": [
                {"module": layer.module, "predictor": layer.predictor and dataclasses.asdict(layer.predictor)}
                for layer in spec.pc.layers
            ],
            "predictors": callable_path(spec.pc.predictors),
            "settings": resumable,
        }
    )
    return inside(pcbench_home(), "train-feedback", f"{spec.name}-{key}")


def _hyperparameter_key(spec: ModelSpec, settings: FeedbackSettings) -> str:
    """What stage 2 adds to stage 1's key: it unrolls the PC dynamics from the given β, λ, α
    over T timesteps (with or without gradient scaling), α bounded by ``alpha_max``."""
    assert spec.pc is not None
    return hash_json(
        {
            "layers": [[layer.beta, layer.lam, layer.alpha] for layer in spec.pc.layers],
            "timesteps": spec.timesteps,
            "gradient_scaling": spec.pc.gradient_scaling,
            "alpha_max": settings.alpha_max,
        }
    )


def _record(
    spec: ModelSpec,
    settings: FeedbackSettings,
    data: ImageSet,
    losses: dict[str, float],
    layers: tuple[PCLayer, ...],
    device: torch.device,
) -> dict[str, Any]:
    """How the feedback was trained: only strings, numbers and containers of them."""
    assert spec.base is not None
    record: dict[str, Any] = {
        "model": spec.name,
        "base": spec.base,
        "base_checkpoint": checkpoint_hash(get_model_spec(spec.base)),
        **{k: v for k, v in dataclasses.asdict(settings).items() if v is not None},
        "samples": len(data),
        "objective": "sum_n MSE(p_n, r_{n-1}) at timestep 0, backbone frozen in eval mode",
        "final_losses": losses,
        "device": str(device),
        "pcbench": package_versions()["pcbench_version"],
        "torch": str(torch.__version__),
        "created_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    if settings.hyperparameter_epochs:
        record["learned"] = {
            "beta": [layer.beta for layer in layers],
            "lambda": [layer.lam for layer in layers],
            "alpha": [layer.alpha for layer in layers],
        }
    return record
