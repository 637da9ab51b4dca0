"""The recipe that produced the shipped weights of ``digits-hgru`` and ``digits-kuramoto``.

Both follow ``digits-pcnn``'s plan: a trained feedforward network, frozen, and only the
dynamics trained on top, so a variant's timestep 0 (hGRU) or its synchronised limit
(Kuramoto) is its base.

- ``digits-hgru``: ``digits-cnn``'s shipped weights, frozen; the hGRU trained with the mean
  cross-entropy of the read-outs at steps 1..T; Adam (lr 1e-3), batch 64,
  :data:`RECURRENT_EPOCHS` epochs.
- ``digits-kuramoto-base``: trained like ``digits-cnn`` (Adam lr 1e-3, batch 64, 15 epochs,
  cross-entropy). ``digits-kuramoto``: that base, frozen; the coupling kernel trained like the
  hGRU (random initial phases from the seeded global generator).

Seeded throughout (weights, batch order, phases) and run on one thread, so a rerun on the
same machine writes the same bytes; other CPUs may reach slightly different weights, which
is why the files ship (their SHA-256 is in the specs).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from pcbench.data.digits import load_digits_split
from pcbench.models.build import load_state_dict
from pcbench.models.checkpoints import save_checkpoint
from pcbench.models.digits import BATCH_SIZE, EPOCHS, LEARNING_RATE, MEAN, STD, TRAIN_SEED
from pcbench.models.dynamics import HGRU_WEIGHTS, KURAMOTO_BASE_WEIGHTS, KURAMOTO_WEIGHTS, HGRUNet, KuramotoNet
from pcbench.models.protocol import Normalize
from pcbench.training.loop import Schedule, Trainable, fit

#: Epochs of the dynamics (hGRU, coupling) on their frozen networks.
RECURRENT_EPOCHS = 3


def train_reference_dynamics(directory: Path, cnn_weights: Path) -> dict[str, Path]:
    """Rerun the recipe that produced the three shipped files into ``directory``; the hGRU is
    trained on the ``digits-cnn`` weights in ``cnn_weights``. Returns the files by model name.

    Example::

        train_reference_dynamics(Path("weights"), weights_path(get_model_spec("digits-cnn")))
    """
    directory = Path(directory)
    files = {
        "digits-hgru": directory / HGRU_WEIGHTS,
        "digits-kuramoto": directory / KURAMOTO_WEIGHTS,
        "digits-kuramoto-base": directory / KURAMOTO_BASE_WEIGHTS,
    }
    train_digits_hgru(files["digits-hgru"], cnn_weights)
    train_digits_kuramoto(files["digits-kuramoto"], files["digits-kuramoto-base"])
    return files


def train_digits_hgru(path: Path, cnn_weights: Path, *, epochs: int = RECURRENT_EPOCHS) -> None:
    """Train ``digits-hgru``'s hGRU on the frozen ``digits-cnn`` in ``cnn_weights``; save the
    whole network's state dict to ``path``.

    Example::

        train_digits_hgru(Path("digits-hgru.pt"), weights_path(get_model_spec("digits-cnn")))
    """
    with _seeded():
        net = HGRUNet()
        net.cnn.load_state_dict(load_state_dict(cnn_weights))
        _train_dynamics(net, net.hgru, epochs, "training digits-hgru")
    save_checkpoint(path, net.state_dict())


def train_digits_kuramoto(
    path: Path, base_path: Path, *, base_epochs: int = EPOCHS, epochs: int = RECURRENT_EPOCHS
) -> None:
    """Train ``digits-kuramoto-base`` (saved to ``base_path``), then the coupling of
    ``digits-kuramoto`` on it, frozen (the whole network saved to ``path``).

    Example::

        train_digits_kuramoto(Path("digits-kuramoto.pt"), Path("digits-kuramoto-base.pt"))
    """
    with _seeded():
        base = KuramotoNet(coupling=False)
        model = nn.Sequential(Normalize(MEAN, STD), base)
        loss = nn.CrossEntropyLoss()
        trainable = Trainable(
            {"network": base},
            torch.optim.Adam(base.parameters(), lr=LEARNING_RATE),
            lambda x, y: {"loss": loss(model(x), y)},
        )
        fit(trainable, load_digits_split("train"), Schedule(base_epochs, BATCH_SIZE, TRAIN_SEED), "training base")
        save_checkpoint(base_path, base.state_dict())
        net = KuramotoNet()
        net.load_state_dict(base.state_dict(), strict=False)  # all but the coupling
        _train_dynamics(net, _CouplingOnly(net), epochs, "training digits-kuramoto")
    save_checkpoint(path, net.state_dict())


class _CouplingOnly(nn.Module):
    """Holds the coupling kernel of a :class:`KuramotoNet`, so the loop trains it alone."""

    def __init__(self, net: KuramotoNet) -> None:
        super().__init__()
        self.coupling = net.coupling


def _train_dynamics(net: nn.Module, dynamics: nn.Module, epochs: int, description: str) -> None:
    """Train ``dynamics`` (a part of ``net``) with the rest of ``net`` frozen in eval mode: the
    mean cross-entropy of the read-outs at steps 1..T."""
    net.eval().requires_grad_(False)
    dynamics.requires_grad_(True)
    normalize = Normalize(MEAN, STD)
    loss = nn.CrossEntropyLoss()

    def losses(x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = net(normalize(x))[1:]
        return {"loss": loss(logits.flatten(0, 1), y.repeat(len(logits)))}

    trainable = Trainable({"dynamics": dynamics}, torch.optim.Adam(dynamics.parameters(), lr=LEARNING_RATE), losses)
    fit(trainable, load_digits_split("train"), Schedule(epochs, BATCH_SIZE, TRAIN_SEED), description)
    net.requires_grad_(False)


@contextmanager
def _seeded() -> Iterator[None]:
    """Seed torch's global generator with :data:`TRAIN_SEED` on one thread; restore both after."""
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TRAIN_SEED)
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)
