"""Declarative feedback predictors: the shape of one PCoder's predictor, without torch.

A :class:`PredictorSpec` describes ``[bilinear Upsample(×upsample)] + ConvTranspose2d(kernel,
stride, padding) [+ ReLU]``. Channels are not part of it: the predictor maps the PCoder's
feature map (its channels in) onto the layer below (its channels out), both known only from
a dry forward of the backbone (see :mod:`pcbench.models.predictors`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field

from pcbench.registry.tables import EntryTable, Flag, NonNegativeInt, PositiveInt, must
from pcbench.validation import check_fields

#: Predictor kinds understood by the schema (``kind`` in a TOML ``predictor`` table).
PREDICTOR_KINDS = ("convtranspose",)


class PredictorTable(EntryTable):
    """A ``predictor`` table of a model file, and the fields :class:`PredictorSpec` checks."""

    kind: Annotated[Literal["convtranspose"], must(f"one of {', '.join(PREDICTOR_KINDS)}")] = Field(
        "convtranspose", description="The predictor's kind."
    )
    kernel: PositiveInt = Field(3, description="Kernel size of the transposed convolution.")
    stride: PositiveInt = Field(1, description="Its stride.")
    padding: NonNegativeInt = Field(1, description="Its padding.")
    upsample: PositiveInt = Field(1, description="Bilinear upsampling factor applied first (1: none).")
    relu: Flag = Field(False, description="A ReLU after the convolution.")


@dataclass(frozen=True)
class PredictorSpec:
    """One PCoder's predictor: upsampling factor, transposed-convolution geometry, ReLU.

    Its fields are checked by :class:`PredictorTable` (a bad one raises
    :class:`~pcbench.errors.InvalidValue`: ``predictor: kernel = 0 must be an integer >= 1``).
    """

    kind: str = "convtranspose"
    kernel: int = 3
    stride: int = 1
    padding: int = 1
    upsample: int = 1
    relu: bool = False

    def __post_init__(self) -> None:
        check_fields(PredictorTable, self, "predictor")

    def output_size(self, size: int) -> int:
        """Side of the prediction made from a feature map of side ``size``."""
        return (size * self.upsample - 1) * self.stride - 2 * self.padding + self.kernel
