"""The recipe that produced the embedded digits models' shipped weights.

``digits-cnn``: Adam (lr 1e-3), batch 64, 15 epochs, cross-entropy, seeded. ``digits-pcnn``:
its predictors only, on the frozen backbone, with the reconstruction objective
Σ_n MSE(p_n, r_{n-1}) of the timestep-0 pass, the same optimiser and schedule. Both run
through pcbench's one training loop (:mod:`pcbench.training.loop`), without checkpoints.
Deterministic on one machine; other CPUs may reach slightly different weights, which is why
the files ship (:mod:`pcbench.models.digits`) instead of being retrained.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pcbench.data.digits import load_digits_split
from pcbench.models.build import build_pc_model, load_state_dict
from pcbench.models.checkpoints import save_checkpoint
from pcbench.models.digits import (
    BATCH_SIZE,
    CNN_WEIGHTS,
    EPOCHS,
    FEEDBACK_PRESET,
    FEEDBACK_WEIGHTS,
    LEARNING_RATE,
    MEAN,
    STD,
    TRAIN_SEED,
    digits_cnn,
)
from pcbench.models.protocol import Normalize
from pcbench.registry.spec import ModelSpec
from pcbench.training.feedback import FeedbackSettings, fit_feedback
from pcbench.training.loop import Schedule, Trainable, fit


def train_reference_weights(directory: Path, pc_spec: ModelSpec) -> dict[str, Path]:
    """Rerun the recipe that produced the shipped files into ``directory``.

    ``pc_spec`` is ``digits-pcnn``'s spec; its feedback is trained on the backbone just
    trained here (not on the shipped one). Returns the two files by model name.

    Example::

        from pcbench.registry import get_model_spec
        train_reference_weights(Path("weights"), get_model_spec("digits-pcnn"))
    """
    directory = Path(directory)
    cnn = directory / CNN_WEIGHTS
    feedback = directory / FEEDBACK_WEIGHTS
    train_digits_cnn(cnn)
    train_digits_feedback(pc_spec, feedback, backbone_weights=cnn)
    return {"digits-cnn": cnn, "digits-pcnn": feedback}


def train_digits_cnn(path: Path) -> None:
    """Train the feedforward digits CNN and save its state dict to ``path``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TRAIN_SEED)
        network = digits_cnn()
        model = nn.Sequential(Normalize(MEAN, STD), network)
        loss = nn.CrossEntropyLoss()
        trainable = Trainable(
            {"network": network},
            torch.optim.Adam(network.parameters(), lr=LEARNING_RATE),
            lambda x, y: {"loss": loss(model(x), y)},
        )
        fit(trainable, load_digits_split("train"), _schedule(), "training digits-cnn")
    save_checkpoint(path, network.state_dict())


def train_digits_feedback(spec: ModelSpec, path: Path, *, backbone_weights: Path) -> None:
    """Train the PC variant's predictors on the frozen backbone in ``backbone_weights``."""
    settings = FeedbackSettings.from_preset(FEEDBACK_PRESET, "digits", seed=TRAIN_SEED)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TRAIN_SEED)
        model = build_pc_model(spec, base_weights=False)
        model.backbone.load_state_dict(load_state_dict(backbone_weights))
        fit_feedback(
            model,
            load_digits_split("train"),
            settings,
            _schedule(),
            f"training {spec.name} feedback",
        )
    save_checkpoint(path, model.predictors.state_dict())


def _schedule() -> Schedule:
    return Schedule(EPOCHS, BATCH_SIZE, TRAIN_SEED)
