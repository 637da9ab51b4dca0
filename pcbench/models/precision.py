"""Numeric precision and memory layout of a model's evaluation (``--precision``, ``--channels-last``).

A :class:`Numerics` says how a model computes while a run evaluates it:

``fp32`` (the default)
    Plain float32. On CUDA, TF32 is switched *off* for matmuls and cuDNN convolutions
    (PyTorch leaves it on for cuDNN by default), so fp32 means float32 on every device.
``tf32``
    float32 tensors, TF32 tensor-core matmuls and convolutions (CUDA only: on a CPU it would
    compute exactly fp32, so it is refused there rather than recorded under another name).
``bf16`` / ``fp16``
    :func:`torch.autocast` around the model's forward: convolutions and matmuls run in
    bfloat16 / float16, reductions that autocast keeps in float32 stay there, and the logits
    leave the model as float32. Attacks differentiate through the same forward, so their
    gradients are computed at that precision too (autocast's backward runs each op in its
    forward's dtype), while the attacks' own arithmetic (steps, projections, losses on the
    float32 logits) stays float32. fp16 is CUDA-only (refused on a CPU); it has no loss
    scaling, so an input gradient may underflow to zero where bf16's would not.
channels-last
    The model's 4-D parameters and buffers and every 4-D input batch in
    ``torch.channels_last`` layout (NHWC in memory); the same numbers up to floating-point
    summation order.

fp32 with the contiguous layout is :data:`FP32`: it changes nothing at all on a CPU, and
cells computed with it keep the keys they always had (:meth:`Numerics.key`); any other
setting is part of the cell key and of every row (``precision``, ``memory_format``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

from pcbench.errors import PcbenchError

if TYPE_CHECKING:
    import torch
    from torch import nn

#: Every ``--precision``; the first is the default.
Precision = Literal["fp32", "tf32", "bf16", "fp16"]
PRECISIONS: tuple[Precision, ...] = get_args(Precision)
#: ``memory_format`` values of the rows: the default layout, and ``--channels-last``.
MEMORY_FORMATS = ("contiguous", "channels_last")
#: Precisions that need a CUDA device.
CUDA_ONLY = ("tf32", "fp16")
#: Marks a model whose forward :meth:`Numerics.applied` has replaced (so a second ``applied`` is a no-op).
_APPLIED = "_pcbench_numerics"


@dataclass(frozen=True)
class Numerics:
    """How a model computes: ``precision`` (one of :data:`PRECISIONS`) and ``channels_last``.

    Example::

        numerics = Numerics("bf16")
        numerics.check(torch.device("cpu"))
        with numerics.applied(model, torch.device("cpu")):
            logits = model(images)          # float32 logits from a bfloat16 forward
    """

    precision: Precision = "fp32"
    channels_last: bool = False

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise PcbenchError(f"--precision {self.precision!r} is not allowed; allowed: {', '.join(PRECISIONS)}")

    @property
    def memory_format(self) -> str:
        """``contiguous`` or ``channels_last``: the value of the rows' ``memory_format`` column."""
        return MEMORY_FORMATS[self.channels_last]

    @property
    def is_default(self) -> bool:
        """fp32 in the contiguous layout: exactly what pcbench computed before these options."""
        return self.precision == PRECISIONS[0] and not self.channels_last

    def key(self) -> dict[str, str] | None:
        """What a cell key records of these numerics: ``None`` for :data:`FP32` (keys of cells
        computed before the options existed stay valid), else precision and memory format.

        >>> Numerics().key(), Numerics("bf16").key()
        (None, {'precision': 'bf16', 'memory_format': 'contiguous'})
        """
        return None if self.is_default else {"precision": self.precision, "memory_format": self.memory_format}

    def check(self, device: torch.device) -> None:
        """PcbenchError, one line, when ``device`` cannot compute at this precision (tf32 and
        fp16 need CUDA)."""
        if device.type == "cuda" or self.precision not in CUDA_ONLY:
            return
        why = {
            "tf32": "a CUDA tensor-core mode (on a CPU it computes exactly fp32: use --precision fp32)",
            "fp16": "CUDA-only (float16 autocast; on a CPU use --precision bf16)",
        }[self.precision]
        raise PcbenchError(
            f"--precision {self.precision} on device {device}: {why}; allowed on {device.type}: fp32, bf16"
        )

    @contextlib.contextmanager
    def applied(self, model: nn.Module, device: torch.device) -> Iterator[None]:
        """Inside the block ``model(x)`` computes with these numerics (module docstring); on
        exit its forward and torch's TF32 switches are as before (a channels-last model keeps
        its layout: a run's models are its own, and :func:`pcbench.runner.entries.borrowed`
        restores a user's module). Nested on the same model it does nothing more."""
        import torch

        self.check(device)
        if getattr(model, _APPLIED, False) or (self.is_default and device.type != "cuda"):
            yield
            return
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
        saved = model.__dict__.get("forward")
        model.forward = _numeric_forward(model.forward, device.type, dtype, self.channels_last)
        setattr(model, _APPLIED, True)
        switches = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = self.precision == "tf32"
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = switches
            delattr(model, _APPLIED)
            if saved is None:
                del model.forward
            else:
                model.forward = saved


#: The numerics of every run that asks for none.
FP32 = Numerics()


def _numeric_forward(forward: Any, device_type: str, dtype: torch.dtype | None, channels_last: bool) -> Any:
    """``forward`` with its 4-D tensor input in channels-last layout (if asked), run under
    autocast to ``dtype`` (if any) with float32 logits."""
    import torch

    def numeric(x: Any, *args: Any, **kwargs: Any) -> Any:
        if channels_last and isinstance(x, torch.Tensor) and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        if dtype is None:
            return forward(x, *args, **kwargs)
        with torch.autocast(device_type, dtype=dtype):
            logits = forward(x, *args, **kwargs)
        return logits.float()

    return numeric
