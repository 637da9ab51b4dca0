"""The embedded models: a small CNN for digits and its predictive-coding variant.

Their weights ship inside the package (``pcbench/models/weights/``, about 300 KB), with
their SHA-256 in the specs, and load with ``weights_only=True``: a fresh machine evaluates
exactly the reference checkpoints, and nothing is trained on first use. The recipe below is
what produced the shipped files; :func:`train_reference_weights` reruns it (deterministic
on one machine; other CPUs may reach slightly different weights, which is why the files
ship instead of being retrained).

- ``digits-cnn``: three conv(3×3)+ReLU+max-pool blocks (16, 32, 64 channels) and a linear
  head; Adam (lr 1e-3), batch 64, 15 epochs, cross-entropy.
- ``digits-pcnn``: PCoders on the three ReLUs (before pooling, as in PVGG16), predictors
  ConvT(16→3, k5, p2); ConvT(32→16, k4, s2, p1)+ReLU; ConvT(64→32, k4, s2, p1)+ReLU. The
  backbone is ``digits-cnn``'s, frozen (eval mode); only the predictors are trained, with
  the reconstruction objective Σ_n MSE(p_n, r_{n-1}) on the timestep-0 pass; Adam
  (lr 1e-3), batch 64, 15 epochs.

Both use pcbench's one training loop (:mod:`pcbench.training.loop`), without checkpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from pcbench.data.digits import load_digits_split
from pcbench.models.protocol import Normalize
from pcbench.registry.spec import ModelSpec
from pcbench.training.checkpoints import save_checkpoint
from pcbench.training.loop import Schedule, Trainable, fit
from pcbench.training.optimizers import TrainingPreset

TRAIN_SEED = 0
EPOCHS = 15
BATCH_SIZE = 64
LEARNING_RATE = 1e-3
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)
#: ``digits-pcnn``'s feedback training (also the default of ``pcbench train-feedback``).
FEEDBACK_PRESET = TrainingPreset("adam", lr=LEARNING_RATE, weight_decay=0.0, epochs=EPOCHS,
                                 batch_size=BATCH_SIZE)
#: The shipped weight files, inside the package directory.
WEIGHTS_DIR = Path(__file__).parent / "weights"
CNN_WEIGHTS = "digits-cnn.pt"
FEEDBACK_WEIGHTS = "digits-pcnn-feedback.pt"


def digits_cnn(num_classes: int = 10) -> nn.Module:
    """The ``digits-cnn`` architecture for 32×32 RGB inputs."""
    return nn.Sequential(
        nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        ),
        nn.Flatten(),
        nn.Linear(64 * 4 * 4, num_classes),
    )


#: PCoder placements in ``digits_cnn``: the ReLU of each block, before pooling.
DIGITS_PC_MODULES = ("0.1", "0.4", "0.7")


def digits_predictors(
    shapes: Sequence[tuple[int, ...]], input_shape: tuple[int, ...]
) -> list[nn.Module]:
    """Feedback predictors of ``digits-pcnn`` (shapes are fixed by the architecture)."""
    return [
        nn.ConvTranspose2d(16, 3, kernel_size=5, padding=2),
        nn.Sequential(nn.ConvTranspose2d(32, 16, kernel_size=4, stride=2, padding=1), nn.ReLU()),
        nn.Sequential(nn.ConvTranspose2d(64, 32, kernel_size=4, stride=2, padding=1), nn.ReLU()),
    ]


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
    from pcbench.models.build import build_pc_model, load_state_dict
    from pcbench.training.feedback import FeedbackSettings, fit_feedback

    settings = FeedbackSettings.from_preset(FEEDBACK_PRESET, "digits", seed=TRAIN_SEED)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TRAIN_SEED)
        model = build_pc_model(spec, base_weights=False)
        model.backbone.load_state_dict(load_state_dict(backbone_weights))
        fit_feedback(
            model, load_digits_split("train"), settings, _schedule(),
            f"training {spec.name} feedback",
        )
    save_checkpoint(path, model.predictors.state_dict())


def _schedule() -> Schedule:
    return Schedule(EPOCHS, BATCH_SIZE, TRAIN_SEED)
