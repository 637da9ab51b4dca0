"""The embedded models: a small CNN for digits and its predictive-coding variant.

Their weights ship inside the package (``pcbench/models/weights/``, about 300 KB), with
their SHA-256 in the specs, and load with ``weights_only=True``: a fresh machine evaluates
exactly the reference checkpoints, and nothing is trained on first use. The recipe below is
what produced the shipped files; :func:`pcbench.training.digits.train_reference_weights`
reruns it (deterministic on one machine; other CPUs may reach slightly different weights,
which is why the files ship instead of being retrained).

- ``digits-cnn``: three conv(3×3)+ReLU+max-pool blocks (16, 32, 64 channels) and a linear
  head; Adam (lr 1e-3), batch 64, 15 epochs, cross-entropy.
- ``digits-pcnn``: PCoders on the three ReLUs (before pooling, as in PVGG16), predictors
  ConvT(16→3, k5, p2); ConvT(32→16, k4, s2, p1)+ReLU; ConvT(64→32, k4, s2, p1)+ReLU. The
  backbone is ``digits-cnn``'s, frozen (eval mode); only the predictors are trained, with
  the reconstruction objective Σ_n MSE(p_n, r_{n-1}) on the timestep-0 pass; Adam
  (lr 1e-3), batch 64, 15 epochs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch import nn

from pcbench.models.presets import TrainingPreset

TRAIN_SEED = 0
EPOCHS = 15
BATCH_SIZE = 64
LEARNING_RATE = 1e-3
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)
#: ``digits-pcnn``'s feedback training (also the default of ``pcbench train-feedback``).
FEEDBACK_PRESET = TrainingPreset("adam", lr=LEARNING_RATE, weight_decay=0.0, epochs=EPOCHS, batch_size=BATCH_SIZE)
#: The shipped weight files, inside the package directory.
WEIGHTS_DIR = Path(__file__).parent / "weights"
CNN_WEIGHTS = "digits-cnn.pt"
FEEDBACK_WEIGHTS = "digits-pcnn-feedback.pt"


def digits_cnn(num_classes: int = 10) -> nn.Module:
    """The ``digits-cnn`` architecture for 32×32 RGB inputs."""
    return nn.Sequential(
        nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ),
        nn.Flatten(),
        nn.Linear(64 * 4 * 4, num_classes),
    )


#: PCoder placements in ``digits_cnn``: the ReLU of each block, before pooling.
DIGITS_PC_MODULES = ("0.1", "0.4", "0.7")


def digits_predictors(shapes: Sequence[tuple[int, ...]], input_shape: tuple[int, ...]) -> list[nn.Module]:
    """Feedback predictors of ``digits-pcnn`` (shapes are fixed by the architecture)."""
    return [
        nn.ConvTranspose2d(16, 3, kernel_size=5, padding=2),
        nn.Sequential(nn.ConvTranspose2d(32, 16, kernel_size=4, stride=2, padding=1), nn.ReLU()),
        nn.Sequential(nn.ConvTranspose2d(64, 32, kernel_size=4, stride=2, padding=1), nn.ReLU()),
    ]
