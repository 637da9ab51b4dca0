"""Feedback predictors: built from declared :class:`PredictorSpec` s or derived from shapes.

A dry forward of the backbone gives each PCoder's feature map; a predictor maps it onto the
layer below (the normalised image for the first PCoder). Channels come from those shapes,
geometry from the layer's declared ``predictor`` or, when none is declared, the default
``[Upsample(×scale, bilinear)] + ConvTranspose2d(k3, s1, p1)``. Every predictor's output
shape is checked against the layer below before anything is built.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from pcbench.errors import PcbenchError
from pcbench.models.pc import resolve_modules
from pcbench.models.protocol import Normalize
from pcbench.registry.predictor_spec import PredictorSpec

Shape = tuple[int, ...]


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
        module.register_forward_hook(record(index)) for index, module in enumerate(resolve_modules(backbone, modules))
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
    shapes: Sequence[Shape],
    input_shape: Shape,
    modules: Sequence[str],
    declared: Sequence[PredictorSpec | None] | None = None,
) -> list[nn.Module]:
    """One predictor per PCoder mapping its feature map onto the layer below.

    ``declared[i]`` (when given and not ``None``) fixes PCoder ``i``'s geometry; otherwise
    it is the default ``[Upsample(scale, bilinear)] + ConvTranspose2d(k=3, s=1, p=1)``, the
    upsampling appearing where the layer below has an integer multiple of the resolution.
    Feature maps must be ``C×H×W``; a predictor whose output would not match the layer below
    is an error naming the layer.
    """
    specs = predictor_specs(shapes, input_shape, modules, declared)
    belows = [input_shape, *shapes[:-1]]
    return [build_predictor(spec, shape[0], below[0]) for spec, shape, below in zip(specs, shapes, belows, strict=True)]


def predictor_specs(
    shapes: Sequence[Shape],
    input_shape: Shape,
    modules: Sequence[str],
    declared: Sequence[PredictorSpec | None] | None = None,
) -> list[PredictorSpec]:
    """The geometry of every PCoder's predictor (declared or default), checked against shapes."""
    declared = declared or [None] * len(shapes)
    specs = []
    for index, (shape, spec) in enumerate(zip(shapes, declared, strict=True)):
        below = input_shape if index == 0 else shapes[index - 1]
        module = modules[index]
        if len(shape) != 3 or len(below) != 3:
            raise PcbenchError(f"PCoder '{module}': feature map {shape} (below: {below}) is not C×H×W")
        spec = spec or _default_spec(shape, below, module)
        predicted = (below[0], spec.output_size(shape[1]), spec.output_size(shape[2]))
        if predicted != tuple(below):
            raise PcbenchError(
                f"PCoder '{module}': predictor {describe_spec(spec)} maps {_format(shape)} to "
                f"{_format(predicted)}, but the layer below is {_format(below)}"
            )
        specs.append(spec)
    return specs


def build_predictor(spec: PredictorSpec, in_channels: int, out_channels: int) -> nn.Module:
    """``[Upsample] + ConvTranspose2d [+ ReLU]`` as an ``nn.Sequential``."""
    layers: list[nn.Module] = []
    if spec.upsample > 1:
        layers.append(nn.Upsample(scale_factor=spec.upsample, mode="bilinear", align_corners=False))
    layers.append(
        nn.ConvTranspose2d(
            in_channels,
            out_channels,
            kernel_size=spec.kernel,
            stride=spec.stride,
            padding=spec.padding,
        )
    )
    if spec.relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def describe_spec(spec: PredictorSpec) -> str:
    """A compact description such as ``Up×2 + ConvT(k3,s1,p1) + ReLU``."""
    parts = [f"Up×{spec.upsample}"] if spec.upsample > 1 else []
    parts.append(f"ConvT(k{spec.kernel},s{spec.stride},p{spec.padding})")
    return " + ".join([*parts, "ReLU"] if spec.relu else parts)


def describe_predictor(predictor: nn.Module) -> str:
    """A compact description of a built predictor, e.g. ``ConvT(128→64,k10,s2,p4) + ReLU``."""
    parts = []
    for layer in predictor.modules():
        if isinstance(layer, (nn.ConvTranspose2d, nn.Conv2d)):
            name = "ConvT" if isinstance(layer, nn.ConvTranspose2d) else "Conv"
            (k, _), (s, _), (p, _) = layer.kernel_size, layer.stride, layer.padding
            parts.append(f"{name}({layer.in_channels}→{layer.out_channels},k{k},s{s},p{p})")
        elif isinstance(layer, nn.Upsample):
            parts.append(f"Up×{layer.scale_factor:g}" if layer.scale_factor else "Up")
        elif not list(layer.children()):
            parts.append(type(layer).__name__)
    return " + ".join(parts)


def _default_spec(shape: Shape, below: Shape, module: str) -> PredictorSpec:
    scale = below[1] // shape[1]
    if scale < 1 or below[1] != shape[1] * scale or below[2] != shape[2] * scale:
        raise PcbenchError(
            f"PCoder '{module}': cannot predict the layer below {below} from "
            f"{shape}; the lower resolution must be an integer multiple"
        )
    return PredictorSpec(upsample=scale)


def _format(shape: Sequence[int]) -> str:
    return "×".join(str(size) for size in shape)
