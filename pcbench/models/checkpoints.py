"""Checkpoint files: written atomically, read back with ``weights_only=True``.

A checkpoint holds only tensors, numbers, strings, booleans and containers of them, so
reading one never unpickles arbitrary objects. Feedback weights are stored as
``{"state_dict": predictor weights, "training": record}``: a state dict that
:func:`pcbench.models.build.load_state_dict` reads, plus how it was trained (model cards).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from pcbench.errors import PcbenchError
from pcbench.files import atomic_write


def save_checkpoint(path: Path, content: dict[str, Any]) -> None:
    """Write ``content`` to ``path`` with ``torch.save``, atomically."""
    atomic_write(path, lambda handle: torch.save(content, handle))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``)."""
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise PcbenchError(f"cannot load checkpoint '{path}': {str(exc).splitlines()[0]}") from None
    if not isinstance(content, dict):
        raise PcbenchError(f"checkpoint '{path}' holds a {type(content).__name__}, not a dict")
    return content


def save_feedback_weights(path: Path, state_dict: dict[str, torch.Tensor], record: dict[str, Any]) -> None:
    """Predictor weights together with the record of how they were trained."""
    save_checkpoint(path, {"state_dict": state_dict, "training": record})


def read_training_record(path: Path) -> dict[str, Any] | None:
    """The training record stored with feedback weights; ``None`` if there is none.

    Tensors are memory-mapped, not read, so this is cheap even for large weight files.
    """
    try:
        content = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # not a checkpoint of ours (e.g. a legacy-format state dict)
        return None
    record = content.get("training") if isinstance(content, dict) else None
    return record if isinstance(record, dict) else None
