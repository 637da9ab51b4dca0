"""Stochastic models: detected before they are evaluated, then evaluated with seeded draws.

Detection
    :func:`is_stochastic` runs the model twice on the same batch (the first
    :data:`DETECTION_SAMPLES` images of the evaluation set), under two different seeds of
    torch's global generator; outputs that are not bitwise equal (NaNs counted equal) mark
    it stochastic. Randomness drawn from torch's global generator (``torch.rand``,
    dropout, random initial states) is caught; so is any other, since nothing else is
    reseeded between the two forwards. A model whose GPU kernels are nondeterministic may be
    marked stochastic too; it is then only evaluated with seeds, which changes nothing else.

Seeds
    Every forward of a stochastic model (each evaluated batch, each attacked batch: the
    attack's forwards, then the evaluation of its images) runs inside :func:`seeded` with the
    seed :func:`draw_seed` derives from (the cell's key, the draw, the batch index), torch's
    global generator being forked so the caller's state is untouched. The cell key covers
    the model, the perturbation, the data and (for perturbed cells) the suite seed, so the
    same suite gives the same numbers. Draws are batched as ``--batch-size`` batches them,
    so a stochastic model's cell key also records the batch size (and ``draws``).
    Deterministic models are never reseeded: their numbers are exactly those of a run
    without this module.

Example::

    model = get_model("digits-cnn")
    if is_stochastic(model, images, torch.device("cpu")):
        with seeded(draw_seed(key, draw=0, batch=0), torch.device("cpu")):
            logits = model(images[:128])
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from pcbench.hashing import hash_json
from pcbench.models.protocol import TimestepModel

#: Images of the evaluation set that the detection runs the model on, twice.
DETECTION_SAMPLES = 8
#: The two seeds of torch's global generator under which the detection's forwards run.
DETECTION_SEEDS = (1, 2)


def is_stochastic(model: TimestepModel, images: torch.Tensor, device: torch.device) -> bool:
    """Whether two forwards of ``images[:DETECTION_SAMPLES]`` (float, in [0, 1]) differ.

    Example::

        is_stochastic(model, data.tensor(data.images[:8]), torch.device("cpu"))  # False for digits-cnn
    """
    batch = images[:DETECTION_SAMPLES].to(device)
    outputs = []
    for seed in DETECTION_SEEDS:
        with seeded(seed, device), torch.no_grad():
            outputs.append(model(batch))
    first, second = outputs
    return first.shape != second.shape or not torch.allclose(first, second, rtol=0.0, atol=0.0, equal_nan=True)


def draw_seed(key: str, draw: int, *where: int | str) -> int:
    """The seed of torch's global generator for draw ``draw`` of the cell keyed ``key``, at
    ``where`` (e.g. ``"batch", 3``: its fourth evaluated batch), a 63-bit integer from SHA-256.

    Example::

        draw_seed("3f2a...", 1, "batch", 0)  # the same on every machine
    """
    text = ":".join(str(part) for part in (key, draw, *where))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


@dataclass(frozen=True)
class Draw:
    """Draw ``index`` of a stochastic model's cell keyed ``key`` (its key without the draws):
    the seeds of its forwards.

    Example::

        draw = Draw(key, 0)
        predict(model, images, batch_size=128, device=device, seed=draw.batches("clean"))
    """

    key: str
    index: int

    def seed(self, *where: int | str) -> int:
        """The seed of the forwards at ``where`` (:func:`draw_seed`)."""
        return draw_seed(self.key, self.index, *where)

    def batches(self, *where: int | str) -> Callable[[int], int]:
        """Batch index -> the seed of that batch's forward at ``where``."""
        return lambda batch: self.seed(*where, batch)


def stochastic_key(key: str, draws: int, batch_size: int) -> str:
    """The key of a stochastic model's cell whose deterministic key is ``key``: it also
    records the draws and the batch size, which decide the seeds of its forwards.

    Example::

        stochastic_key(key, draws=5, batch_size=128) != key
    """
    return hash_json({"cell": key, "draws": draws, "batch_size": batch_size})


@contextlib.contextmanager
def seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Run the block with torch's global generator (and ``device``'s, on CUDA) seeded with
    ``seed``, restoring the caller's state afterwards; ``None`` leaves the generators alone
    (deterministic models).

    Example::

        with seeded(7, torch.device("cpu")):
            a = torch.rand(2)
        with seeded(7, torch.device("cpu")):
            assert torch.equal(a, torch.rand(2))
    """
    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        yield
