"""Feedback predictors derived automatically from a dry forward of the backbone."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pcbench.errors import PcbenchError
from pcbench.models.pc import resolve_modules
from pcbench.models.protocol import Normalize


def feature_shapes(
    backbone: nn.Module, normalize: Normalize, modules: Sequence[str], input_size: int
) -> list[tuple[int, ...]]:
    """Output shapes (without batch) of ``modules`` for one ``input_size`` × ``input_size`` image."""
    shapes: dict[int, tuple[int, ...]] = {}

    def record(index: int):
        def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            shapes.setdefault(index, tuple(output.shape[1:]))

        return hook

    handles = [
        module.register_forward_hook(record(index))
        for index, module in enumerate(resolve_modules(backbone, modules))
    ]
    was_training = backbone.training
    backbone.eval()  # batch-norm statistics must neither see nor be changed by the dry run
    try:
        with torch.no_grad():
            backbone(normalize(torch.zeros(1, 3, input_size, input_size)))
    finally:
        backbone.train(was_training)
        for handle in handles:
            handle.remove()
    missing = [modules[i] for i in range(len(modules)) if i not in shapes]
    if missing:
        raise PcbenchError(f"PC config: module '{missing[0]}' is never called by the backbone")
    return [shapes[i] for i in range(len(modules))]


def derive_predictors(
    shapes: Sequence[tuple[int, ...]], input_shape: tuple[int, ...], modules: Sequence[str]
) -> list[nn.Module]:
    """One predictor per PCoder mapping its feature map onto the layer below.

    Each is ``[Upsample(scale, bilinear)] + ConvTranspose2d(k=3, s=1, p=1)``: the upsampling
    appears where the layer below has an integer multiple of the resolution. Feature maps
    must be ``C×H×W``; any other relation between shapes is an error naming the layer.
    """
    predictors: list[nn.Module] = []
    for index, shape in enumerate(shapes):
        below = input_shape if index == 0 else shapes[index - 1]
        if len(shape) != 3 or len(below) != 3:
            raise PcbenchError(
                f"PCoder '{modules[index]}': feature map {shape} (below: {below}) is not C×H×W"
            )
        scale = below[1] // shape[1]
        if scale < 1 or below[1] != shape[1] * scale or below[2] != shape[2] * scale:
            raise PcbenchError(
                f"PCoder '{modules[index]}': cannot predict the layer below {below} from "
                f"{shape}; the lower resolution must be an integer multiple"
            )
        layers: list[nn.Module] = []
        if scale > 1:
            layers.append(nn.Upsample(scale_factor=scale, mode="bilinear", align_corners=False))
        layers.append(nn.ConvTranspose2d(shape[0], below[0], kernel_size=3, stride=1, padding=1))
        predictors.append(nn.Sequential(*layers))
    return predictors
