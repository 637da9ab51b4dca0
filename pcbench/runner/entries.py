"""The models of a run: a registered model, or a user's own ``nn.Module`` (a :class:`UserModule`),
each seen as an :class:`Entry` with the identity its cells are keyed by.

A registered model's identity is its spec hash and checkpoint hash. A user module's is the
hash of its structure and settings and the hash of its parameters and buffers
(:mod:`pcbench.models.identity`), so two modules that differ in anything pcbench can see
(weights, β, a parameter-free layer, ...) never share cells. The user's module is never
changed: it is evaluated on the device and in evaluation mode inside :func:`borrowed`, which
puts every tensor, mode and ``requires_grad`` flag back afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from pcbench.data import ImageSet
from pcbench.errors import PcbenchError
from pcbench.hashing import hash_json
from pcbench.models.build import build_model, checkpoint_hash
from pcbench.models.identity import parameters_hash, structure_hash
from pcbench.models.pc import PCModel
from pcbench.models.protocol import Normalize, TimestepModel, as_timestep_model
from pcbench.registry.registry import get_model_spec, spec_hash
from pcbench.registry.spec import ModelSpec
from pcbench.suite import Suite


@dataclass
class Entry:
    """A model taking part in the run: its identity in the results, and its model, built
    lazily (only when one of its cells runs) by ``build``; ``stochastic``: whether its
    outputs differ between two forwards (:mod:`pcbench.runner.stochastic`), ``None`` until
    the run has checked."""

    name: str
    variant: str
    base: str | None
    spec_hash: str
    checkpoint: str
    timesteps: tuple[int, ...]
    build: Callable[[], TimestepModel]
    model: TimestepModel | None = None
    stochastic: bool | None = None

    def built(self) -> TimestepModel:
        if self.model is None:
            self.model = self.build()
        return self.model


@dataclass(frozen=True)
class UserModule:
    """A user's own module as a model of a run (:func:`pcbench.evaluate`).

    ``module`` maps images in [0, 1] (``[B, C, H, W]``; or normalised ones when ``mean`` and
    ``std`` are given, which then put ``Normalize(mean, std)`` in front of it) to logits
    ``[B, classes]`` or ``[T + 1, B, classes]``. ``base`` names its feedforward base (a model
    of the same run or already stored), which makes a module with T > 0 a dynamic variant of it
    (``pc`` when it contains a :class:`~pcbench.models.pc.PCModel`, else ``recurrent``);
    ``key`` is any string that tells apart versions pcbench cannot see (see
    :mod:`pcbench.models.identity`).
    """

    module: nn.Module
    base: str | None = None
    mean: Sequence[float] | None = None
    std: Sequence[float] | None = None
    key: str | None = None

    def __post_init__(self) -> None:
        if (self.mean is None) != (self.std is None):
            raise PcbenchError("evaluate: mean and std go together; give both (normalisation inside) or neither")
        if self.mean is not None and isinstance(self.module, TimestepModel):
            raise PcbenchError(
                f"evaluate: a {type(self.module).__name__} normalises its input itself; mean and std are for a "
                "module that expects normalised images"
            )

    def evaluated(self) -> nn.Module:
        """The module pcbench evaluates: ``module``, behind ``Normalize`` when mean/std are given."""
        if self.mean is None or self.std is None:
            return self.module
        return nn.Sequential(Normalize(self.mean, self.std), self.module)


def evaluation_timesteps(spec: ModelSpec, suite: Suite) -> tuple[int, ...]:
    """Timesteps at which a model is evaluated: the suite's, or 0..T of the model.

    A feedforward model has only timestep 0, whatever the suite asks for (a stepwise one
    counts as dynamic: its 0..T). Suite timesteps beyond a dynamic model's T are an error,
    not a longer unroll: T is part of the model's spec (and hash), so a variant unrolls
    further only through its own ``timesteps``.
    """
    if spec.variant == "feedforward" and spec.protocol != "stepwise":
        return (0,)
    if suite.timesteps is None:
        return tuple(range(spec.timesteps + 1))
    if max(suite.timesteps) > spec.timesteps:
        raise PcbenchError(
            f"{suite.path or f'suite {suite.name!r}'}: timesteps reach {max(suite.timesteps)}, but model "
            f"'{spec.name}' unrolls to T = {spec.timesteps}; allowed: timesteps within 0..{spec.timesteps} (or "
            "no timesteps: each model's own 0..T); to unroll further, register a variant whose spec sets a "
            "larger timesteps"
        )
    return suite.timesteps


def registered_entry(name: str, suite: Suite, data: ImageSet, device: torch.device, checkpointing: bool) -> Entry:
    """A registered model as a model of the run; refused when declared for another data set
    (without ``transfer_datasets``) or predicting another number of classes."""
    spec = get_model_spec(name)
    allowed = (spec.dataset, *spec.transfer_datasets)
    if spec.dataset is not None and data.name not in allowed and "*" not in allowed:
        raise PcbenchError(
            f"model '{name}' is declared for dataset '{spec.dataset}' but suite '{suite.name}' "
            f"evaluates '{data.name}'; to evaluate it there on purpose (transfer), list "
            f"'{data.name}' in the model's transfer_datasets"
        )
    if spec.num_classes != data.num_classes:
        raise PcbenchError(
            f"model '{name}' predicts {spec.num_classes} classes but dataset '{data.name}' has {data.num_classes}"
        )
    timesteps = evaluation_timesteps(spec, suite)

    def build() -> TimestepModel:
        model = build_model(spec, device=device, timesteps=max(timesteps))
        if isinstance(model, PCModel):
            model.activation_checkpointing = checkpointing
        return model

    return Entry(spec.name, spec.variant, spec.base, spec_hash(spec), checkpoint_hash(spec), timesteps, build)


def module_entry(name: str, user: UserModule, suite: Suite, data: ImageSet, device: torch.device) -> Entry:
    """A user's module as a model of the run; call inside :func:`borrowed` (``user.module`` is
    then on ``device``, in evaluation mode, with gradients off).

    Two forwards, on 2 and on 3 copies of one of the suite's images, tell its layout: the
    axis whose length follows the batch is the batch axis, so a batch-first ``[B, T + 1,
    classes]`` output is refused instead of read as ``[T + 1, B, classes]``. The identity is
    the structure hash (with T, variant, base and ``key``) and the parameters hash.
    """
    module = user.evaluated().to(device)
    structure, checkpoint = structure_hash(module), parameters_hash(module)  # before any forward changes state
    probes = [data.tensor(data.images[[0] * size]).to(device) for size in (2, 3)]
    try:
        model = as_timestep_model(module, probes)
    except ValueError as exc:
        raise PcbenchError(f"model '{name}': {exc}") from None
    with torch.no_grad():
        classes = model(probes[0]).shape[-1]
    if classes != data.num_classes:
        raise PcbenchError(
            f"model '{name}' predicts {classes} classes but dataset '{data.name}' has {data.num_classes}"
        )
    variant = "feedforward" if model.timesteps == 0 else _dynamic_variant(module)
    if user.base is not None and variant == "feedforward":
        raise PcbenchError(
            f"evaluate: base = '{user.base}' for model '{name}', which has no timesteps (logits [B, classes]); "
            "a base belongs to a dynamic variant (logits [T + 1, B, classes], T >= 1)"
        )
    timesteps = (0,) if model.timesteps == 0 else (suite.timesteps or tuple(range(model.timesteps + 1)))
    if max(timesteps) > model.timesteps:
        raise PcbenchError(
            f"suite '{suite.name}' asks for timestep {max(timesteps)} but model '{name}' "
            f"unrolls to T = {model.timesteps}"
        )
    identity = hash_json(
        {"structure": structure, "timesteps": model.timesteps, "variant": variant, "base": user.base, "key": user.key}
    )
    return Entry(name, variant, user.base, identity, checkpoint, timesteps, lambda: model)


@contextmanager
def borrowed(modules: Sequence[nn.Module]) -> Iterator[None]:
    """Lend ``modules`` to a run: inside the block they may be moved, put in evaluation mode
    and frozen; afterwards every parameter's data, gradient and ``requires_grad``, every
    buffer and every submodule's training mode are exactly as before (same tensors, same
    devices)."""
    saved = [
        (
            [
                (parameter, parameter.data, parameter.grad, _data(parameter.grad), parameter.requires_grad)
                for parameter in module.parameters()
            ],
            [(owner, name, buffer) for owner in module.modules() for name, buffer in owner._buffers.items()],
            [(owner, owner.training) for owner in module.modules()],
        )
        for module in modules
    ]
    for module in modules:
        module.eval().requires_grad_(False)
    try:
        yield
    finally:
        for parameters, buffers, modes in saved:
            for parameter, data, grad, grad_data, requires_grad in parameters:
                parameter.data = data
                if grad is not None:  # moving a module moves its gradients in place, too
                    grad.data = grad_data
                parameter.grad = grad
                parameter.requires_grad_(requires_grad)
            for owner, name, buffer in buffers:
                owner._buffers[name] = buffer
            for owner, training in modes:
                owner.training = training


def _data(tensor: torch.Tensor | None) -> torch.Tensor | None:
    """``tensor.data`` (the storage a module's ``.to()`` replaces in place), or None."""
    return None if tensor is None else tensor.data


def _dynamic_variant(module: nn.Module) -> str:
    """``pc`` for a module holding a :class:`~pcbench.models.pc.PCModel` (e.g. from
    :func:`pcbench.wrap_pc`), else ``recurrent``."""
    return "pc" if any(isinstance(part, PCModel) for part in module.modules()) else "recurrent"
