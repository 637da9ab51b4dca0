"""The identity of an unregistered ``nn.Module``: everything pcbench can see that determines
its outputs, as two hashes (what a registered model's spec hash and checkpoint hash are).

* :func:`structure_hash` covers the module tree: every submodule's name, class (import
  path) and constructor-visible settings (``extra_repr``, e.g. a convolution's stride or
  GELU's approximation), its public plain attributes (numbers, strings, tuples, functions by
  import path, a lambda or closure also by its code and the values it closes over; e.g. a
  ``beta`` a recurrent cell keeps, or ``self.act = F.gelu``), a
  :class:`~pcbench.models.pc.PCModel`'s whole PC configuration (its ``pcbench_identity()``:
  PCoder layers, β, λ, α, T, gradient scaling and mode), and, for classes defined in a
  script or notebook (``__main__``), the source of ``forward``.
* :func:`parameters_hash` covers every parameter and buffer (persistent or not): name,
  dtype, shape and bytes.

What pcbench cannot see: private attributes (``_name``), objects of other types, tensors
kept as plain attributes (taken for state, such as a recurrent model's last states, which
every forward changes: register a fixed tensor as a buffer to make it part of the identity),
global state and code outside ``forward`` that changes between runs without changing any of
the above. Both hashes are taken before pcbench runs the module.
Where that matters, pass :func:`pcbench.evaluate` an explicit ``key=`` (e.g. a version
string), which goes into the hash.

Example::

    structure_hash(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())) != structure_hash(
        nn.Sequential(nn.Conv2d(3, 8, 3), nn.GELU()))
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import types
from typing import Any

import numpy as np
import torch
from torch import nn

from pcbench.hashing import hash_arrays, hash_json
from pcbench.registry.spec import callable_path

#: Attributes of every module that do not change its outputs in evaluation.
_IGNORED = frozenset({"training"})


def structure_hash(module: nn.Module, **extra: Any) -> str:
    """Hash of ``module``'s structure and settings (see the module docstring), with ``extra``
    (JSON-able) fields mixed in."""
    tree = [
        [name, callable_path(type(sub)), sub.extra_repr(), _settings(sub), _forward_source(type(sub))]
        for name, sub in module.named_modules(remove_duplicate=False)
    ]
    return hash_json({"modules": tree, **extra})


def parameters_hash(module: nn.Module) -> str:
    """Hash of every parameter and buffer of ``module`` (persistent or not): name, dtype,
    shape and bytes, in name order."""
    tensors = dict(module.named_parameters(remove_duplicate=False))
    tensors.update(module.named_buffers(remove_duplicate=False))
    arrays = []
    for name, tensor in sorted(tensors.items()):
        arrays.append(np.frombuffer(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode(), dtype=np.uint8))
        arrays.append(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return hash_arrays(*arrays)


def _settings(module: nn.Module) -> Any:
    """The module's own identity (``pcbench_identity()`` where it defines one, e.g. PCModel),
    else its public attributes of plain types."""
    own = getattr(type(module), "pcbench_identity", None)
    if own is not None:
        return _plain(own(module))
    described = {
        name: _plain(value) for name, value in vars(module).items() if not name.startswith("_") and name not in _IGNORED
    }
    return {name: value for name, value in sorted(described.items()) if value is not _SKIP}


_SKIP = object()


def _plain(value: Any) -> Any:
    """A JSON-able rendering of ``value``, or ``_SKIP`` for a type pcbench cannot describe."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, torch.Tensor):
        return _SKIP  # not a parameter or buffer: state (e.g. a recurrent model's last states), not identity
    if isinstance(value, (torch.dtype, torch.device)):
        return str(value)
    if isinstance(value, (tuple, list)):
        items = [_plain(item) for item in value]
        return _SKIP if any(item is _SKIP for item in items) else items
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        items = {key: _plain(item) for key, item in sorted(value.items())}
        return _SKIP if any(item is _SKIP for item in items.values()) else items
    if isinstance(value, functools.partial):
        parts = {"partial": _plain(value.func), "args": _plain(value.args), "keywords": _plain(value.keywords)}
        return _SKIP if any(part is _SKIP for part in parts.values()) else parts
    if isinstance(value, types.FunctionType) and ("<lambda>" in value.__qualname__ or "<locals>" in value.__qualname__):
        return _local_function(value)
    if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, type)):
        return {"callable": callable_path(value)}
    return _SKIP


def _local_function(function: types.FunctionType) -> dict[str, Any]:
    """A lambda or a function made inside another: its path, its code (bytecode and constants)
    and the values it closes over, so ``make_act(0.1)`` and ``make_act(0.9)`` differ. A closed-over
    value of a type pcbench cannot describe counts as ``"<undescribed>"``."""
    code = function.__code__
    closure = [_plain(cell.cell_contents) for cell in function.__closure__ or ()]
    return {
        "callable": callable_path(function),
        "code": hashlib.sha256(code.co_code + repr(code.co_consts).encode()).hexdigest(),
        "closure": ["<undescribed>" if value is _SKIP else value for value in closure],
    }


def _forward_source(cls: type) -> str | None:
    """SHA-256 of the source of ``forward`` of a class defined in a script or notebook
    (``__main__``), where such code changes without a version; None for other classes."""
    if cls.__module__ != "__main__":
        return None
    try:
        source = inspect.getsource(cls.forward)
    except (OSError, TypeError):
        return None
    return hashlib.sha256(source.encode()).hexdigest()
