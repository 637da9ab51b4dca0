"""The one training loop: seeded batch order, named losses, per-epoch checkpoints, resume.

Batches are drawn by ``torch.randperm`` from a generator seeded once with the schedule's
seed, so the order of every epoch follows from the seed; the generator's state is saved in
each epoch's checkpoint. A rerun with the same checkpoint path continues after the last
finished epoch and produces exactly the weights an uninterrupted run would have.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from pcbench.data.imageset import ImageSet
from pcbench.errors import PcbenchError
from pcbench.models.checkpoints import load_checkpoint, save_checkpoint

#: ``losses(images, labels)`` → named scalar losses of one batch; their sum is minimised.
LossFunction = Callable[[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]


@dataclass
class Trainable:
    """What one loop optimises.

    ``modules`` are put in train mode while fitting (and back in eval mode afterwards) and
    are saved in checkpoints under their names; everything else stays as the caller left it.
    """

    modules: dict[str, nn.Module]
    optimizer: torch.optim.Optimizer
    losses: LossFunction


@dataclass(frozen=True)
class Schedule:
    """Epochs, batch size, the seed of the batch order, and the device batches go to."""

    epochs: int
    batch_size: int
    seed: int
    device: torch.device = torch.device("cpu")


def fit(
    trainable: Trainable,
    data: ImageSet,
    schedule: Schedule,
    description: str,
    checkpoint: Path | None = None,
) -> dict[str, float]:
    """Train, resuming from ``checkpoint`` when it exists; the last epoch's mean losses.

    With ``checkpoint`` set, a checkpoint (modules, optimiser, epoch, batch-order state,
    losses) is written atomically after every epoch.
    """
    order = torch.Generator().manual_seed(schedule.seed)
    start, losses = 0, {}
    if checkpoint is not None and checkpoint.exists():
        start, losses = _restore(checkpoint, trainable, order)
    labels = torch.from_numpy(data.labels)
    per_epoch = -(-len(labels) // schedule.batch_size)
    for module in trainable.modules.values():
        module.train()
    try:
        with (
            torch.enable_grad(),
            tqdm(
                total=(schedule.epochs - start) * per_epoch,
                desc=description,
                unit="batch",
                leave=False,
            ) as bar,
        ):
            for epoch in range(start, schedule.epochs):
                bar.set_description(f"{description} epoch {epoch + 1}/{schedule.epochs}")
                losses = _epoch(trainable, data, labels, order, schedule, bar)
                if checkpoint is not None:
                    _save(checkpoint, epoch + 1, trainable, order, losses)
    finally:
        for module in trainable.modules.values():
            module.eval()
    return losses


def _epoch(
    trainable: Trainable,
    data: ImageSet,
    labels: torch.Tensor,
    order: torch.Generator,
    schedule: Schedule,
    bar: tqdm,
) -> dict[str, float]:
    sums: dict[str, float] = {}
    batches = torch.randperm(len(labels), generator=order).split(schedule.batch_size)
    for step, batch in enumerate(batches, start=1):
        images = data.tensor(data.images[batch.numpy()]).to(schedule.device)
        trainable.optimizer.zero_grad()
        named = trainable.losses(images, labels[batch].to(schedule.device))
        torch.stack(list(named.values())).sum().backward()
        trainable.optimizer.step()
        for name, value in named.items():
            sums[name] = sums.get(name, 0.0) + value.item()
        bar.set_postfix({name: f"{total / step:.4f}" for name, total in sums.items()})
        bar.update()
    return {name: total / len(batches) for name, total in sums.items()}


def _save(path: Path, epoch: int, trainable: Trainable, order: torch.Generator, losses: dict[str, float]) -> None:
    save_checkpoint(
        path,
        {
            "epoch": epoch,
            "order": order.get_state(),
            "modules": {name: module.state_dict() for name, module in trainable.modules.items()},
            "optimizer": trainable.optimizer.state_dict(),
            "losses": losses,
        },
    )


def _restore(path: Path, trainable: Trainable, order: torch.Generator) -> tuple[int, dict[str, float]]:
    content = load_checkpoint(path)
    try:
        for name, module in trainable.modules.items():
            module.load_state_dict(content["modules"][name])
        trainable.optimizer.load_state_dict(content["optimizer"])
        order.set_state(content["order"])
        return int(content["epoch"]), dict(content["losses"])
    except (KeyError, RuntimeError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else repr(exc)
        raise PcbenchError(
            f"checkpoint '{path}' does not fit this training run ({first}); delete it to start over"
        ) from None
