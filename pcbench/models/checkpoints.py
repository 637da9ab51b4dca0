"""Checkpoint files: written atomically, read back with ``weights_only=True``.

A checkpoint holds only tensors, numbers, strings, booleans and containers of them, so
reading one never unpickles arbitrary objects. Feedback weights are stored as
``{"state_dict": predictor weights, "training": record}``: a state dict that
:func:`pcbench.models.build.load_state_dict` reads, plus how it was trained (model cards).
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch

from pcbench.errors import PcbenchError
from pcbench.files import atomic_write

#: A global that a refused pickle asks for, as torch's weights-only unpickler names it.
_REFUSED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def save_checkpoint(path: Path, content: dict[str, Any]) -> None:
    """Write ``content`` to ``path`` with ``torch.save``, atomically."""
    atomic_write(path, lambda handle: torch.save(content, handle))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``)."""
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise PcbenchError(f"cannot read checkpoint '{path}': {exc.strerror or exc}") from None
    except Exception as exc:  # noqa: BLE001 -- any malformed file: one line, never torch's advice
        raise PcbenchError(
            f"cannot load checkpoint '{path}' (refused: pcbench never unpickles code): {refusal_reason(path, exc)}; "
            "delete it to start over"
        ) from None
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


def refusal_reason(path: Path, exc: Exception) -> str:
    """Why a ``weights_only`` load of ``path`` failed, in a few words of pcbench's own (never
    torch's text, which advises loading unsafely)."""
    with open(path, "rb") as handle:
        head = handle.read(2)
    if not head:
        return "the file is empty"
    refused = _REFUSED_GLOBAL.search(str(exc))
    if refused is not None:
        return f"it asks for {refused.group(1)}, which is code, not tensor data"
    if head == b"PK":  # torch.save's zip archive
        return "it is a damaged or truncated torch.save archive"
    if head[0] == 0x80 and isinstance(exc, pickle.UnpicklingError):  # a pickle's PROTO opcode
        return "it is a pickle that the safe loader refuses (not written by torch.save)"
    return "it is not a file written by torch.save (neither its archive nor a pickle)"
