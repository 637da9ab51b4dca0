"""Feedback training of a PC variant (``pcbench train-feedback``).

Stage 1 trains the predictors on the reconstruction objective Σ_n MSE(p_n, r_{n-1}) of the
timestep-0 pass; the backbone is frozen in eval mode (batch-norm statistics included). The
optional stage 2 (arXiv 2106.04225) freezes the predictors too and learns β, λ, α per
PCoder (:mod:`pcbench.training.hyperparameters`) with the cross-entropy summed over
timesteps 0..T.

Checkpoints go to ``$PCBENCH_HOME/train-feedback/<model>-<key>/`` after every epoch, where
the key covers the model, its base's weights and every setting except the epoch counts; so
rerunning the same command (or one with more epochs) resumes. The result is written to
``out`` as ``{"state_dict", "training"}`` (:mod:`pcbench.training.checkpoints`), and the
registry is pointed at it (see :func:`train_feedback`).
"""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

import pcbench
from pcbench.data import load_dataset
from pcbench.data.imageset import ImageSet
from pcbench.errors import PcbenchError
from pcbench.hashing import hash_json
from pcbench.models.build import build_pc_model, checkpoint_hash, expected_weights_path
from pcbench.models.pc import PCModel
from pcbench.models.weight_files import PACKAGE_DIR, WEIGHTS_PREFIX, resolve_weights, weights_dir
from pcbench.paths import pcbench_home
from pcbench.registry.registry import get_model_spec, list_model_specs, spec_hash
from pcbench.registry.spec import ModelSpec, PCLayer
from pcbench.training.checkpoints import save_feedback_weights
from pcbench.training.hyperparameters import ALPHA_MAX, LearnedHyperparameters
from pcbench.training.loop import Schedule, Trainable, fit
from pcbench.training.optimizers import TrainingPreset, check_optimizer, make_optimizer


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
    def from_preset(cls, preset: TrainingPreset, dataset: str, **overrides: Any) -> "FeedbackSettings":
        """Settings from a model's preset, with ``None``-valued overrides ignored."""
        fields = {
            "epochs": preset.epochs, "batch_size": preset.batch_size,
            "optimizer": preset.optimizer, "lr": preset.lr, "weight_decay": preset.weight_decay,
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
        return dict(zip(model.module_paths, model.reconstruction_errors(images)))

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


def train_feedback(
    name: str,
    settings: FeedbackSettings,
    device: torch.device,
    out: Path | None = None,
    entry_name: str | None = None,
) -> FeedbackResult:
    """Train PC model ``name``'s feedback, save it to ``out`` and point the registry at it.

    ``out`` defaults to the file the model expects in the weights directory (for a zoo
    model) or ``$PCBENCH_WEIGHTS/<name>-feedback.pt``. The registry: a user entry ``name``
    is updated in place; otherwise, unless the model already loads ``out`` with unchanged
    hyperparameters, a user entry ``entry_name`` (default ``<name>-trained``) is saved,
    replacing a user entry of that name (an earlier result).
    """
    spec = get_model_spec(name)
    if spec.variant != "pc" or spec.pc is None or spec.base is None:
        raise PcbenchError(
            f"model '{name}' is a feedforward model; train-feedback trains a PC variant's predictors"
        )
    data = load_dataset(
        settings.dataset, settings.split, Path(settings.root) if settings.root else None
    ).subset(settings.limit, settings.seed)
    _check_image_size(data, spec)
    out = (out or default_output(spec)).expanduser().resolve()
    if out.is_relative_to(PACKAGE_DIR):
        raise PcbenchError(
            f"--out {out} lies inside the pcbench package, whose shipped weights are fixed "
            "reference files; write to another path"
        )
    target = _entry_name(spec, out, entry_name, settings)  # checked before any training
    run_dir = _run_dir(spec, settings)
    model = build_pc_model(spec).to(device)
    losses = fit_feedback(
        model, data, settings, settings.schedule(settings.epochs, device),
        f"{name} feedback", run_dir / "feedback.pt",
    )
    layers = spec.pc.layers
    if settings.hyperparameter_epochs:
        layers = fit_hyperparameters(
            model, layers, data, settings, settings.schedule(settings.hyperparameter_epochs, device),
            f"{name} hyperparameters", run_dir / f"hyperparameters-after-{settings.epochs}.pt",
        )
    state = {key: value.cpu() for key, value in model.predictors.state_dict().items()}
    save_feedback_weights(out, state, _record(spec, settings, data, losses, layers, device))
    if target is not None:
        _register(spec, target, out, layers, settings)
    return FeedbackResult(out, target, losses, layers)


def default_output(spec: ModelSpec) -> Path:
    """Where a model's trained feedback goes unless ``--out`` says otherwise."""
    if spec.weights is not None and spec.weights.startswith(WEIGHTS_PREFIX):
        return resolve_weights(spec.weights)
    return weights_dir() / f"{spec.name}-feedback.pt"


def _check_image_size(data: ImageSet, spec: ModelSpec) -> None:
    height, width = data.images.shape[1:3]
    if (height, width) != (spec.input_size, spec.input_size):
        raise PcbenchError(
            f"dataset '{data.name}' has {height}×{width} images but model '{spec.name}' expects "
            f"input_size = {spec.input_size}; use a dataset of that size"
        )


def _run_dir(spec: ModelSpec, settings: FeedbackSettings) -> Path:
    assert spec.base is not None
    resumable = dataclasses.asdict(settings)
    del resumable["epochs"], resumable["hyperparameter_epochs"]
    key = hash_json({
        "spec": spec_hash(spec),
        "base_checkpoint": checkpoint_hash(get_model_spec(spec.base)),
        "settings": resumable,
    })
    return pcbench_home() / "train-feedback" / f"{spec.name}-{key}"


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
        "pcbench": pcbench.__version__,
        "torch": str(torch.__version__),
        "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if settings.hyperparameter_epochs:
        record["learned"] = {
            "beta": [layer.beta for layer in layers],
            "lambda": [layer.lam for layer in layers],
            "alpha": [layer.alpha for layer in layers],
        }
    return record


def _entry_name(
    spec: ModelSpec, out: Path, entry_name: str | None, settings: FeedbackSettings
) -> str | None:
    """The user registry entry the result goes to; ``None`` when the model loads ``out``."""
    from pcbench.registry.user_file import check_savable

    if entry_name is None and spec.source == "user":
        return spec.name
    expected = expected_weights_path(spec)
    loads_out = expected is not None and expected.resolve() == out
    if entry_name is None and loads_out and not settings.hyperparameter_epochs:
        return None
    check_savable(spec)
    target = entry_name or f"{spec.name}-trained"
    taken = next((s for s in list_model_specs() if s.name == target and s.source != "user"), None)
    if taken is not None:
        raise PcbenchError(
            f"model '{target}' is already registered (source: {taken.source}); choose --name"
        )
    return target


def _register(
    spec: ModelSpec,
    target: str,
    out: Path,
    layers: tuple[PCLayer, ...],
    settings: FeedbackSettings,
) -> None:
    from pcbench.registry.user_file import save_user_spec

    assert spec.pc is not None
    learned = ", learned hyperparameters" if settings.hyperparameter_epochs else ""
    trained = dataclasses.replace(
        spec,
        name=target,
        weights=str(out),
        weights_sha256=None,
        pc=dataclasses.replace(spec.pc, layers=layers),
        source="user",
        description=(
            f"{spec.name} with feedback trained on {settings.dataset}/{settings.split}, "
            f"{settings.epochs} epochs{learned}"
        ),
    )
    save_user_spec(trained, replace=True)  # a user entry of that name: an earlier result
