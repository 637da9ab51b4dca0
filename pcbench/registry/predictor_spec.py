"""Declarative feedback predictors: the shape of one PCoder's predictor, without torch.

A :class:`PredictorSpec` describes ``[bilinear Upsample(×upsample)] + ConvTranspose2d(kernel,
stride, padding) [+ ReLU]``. Channels are not part of it: the predictor maps the PCoder's
feature map (its channels in) onto the layer below (its channels out), both known only from
a dry forward of the backbone (see :mod:`pcbench.models.predictors`).
"""

from __future__ import annotations

from dataclasses import dataclass

from pcbench.errors import PcbenchError

#: Predictor kinds understood by the schema (``kind`` in a TOML ``predictor`` table).
PREDICTOR_KINDS = ("convtranspose",)

_MINIMUMS = {"kernel": 1, "stride": 1, "padding": 0, "upsample": 1}


@dataclass(frozen=True)
class PredictorSpec:
    """One PCoder's predictor: upsampling factor, transposed-convolution geometry, ReLU."""

    kind: str = "convtranspose"
    kernel: int = 3
    stride: int = 1
    padding: int = 1
    upsample: int = 1
    relu: bool = False

    def __post_init__(self) -> None:
        if self.kind not in PREDICTOR_KINDS:
            raise PcbenchError(f"predictor kind = {self.kind!r}; allowed: {', '.join(PREDICTOR_KINDS)}")
        for key, minimum in _MINIMUMS.items():
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise PcbenchError(f"predictor {key} = {value!r} must be an integer >= {minimum}")
        if not isinstance(self.relu, bool):
            raise PcbenchError(f"predictor relu = {self.relu!r} must be true or false")

    def output_size(self, size: int) -> int:
        """Side of the prediction made from a feature map of side ``size``."""
        return (size * self.upsample - 1) * self.stride - 2 * self.padding + self.kernel
