"""Step-by-step (stateful) recurrent models seen through the timestep protocol.

Most recurrent vision models are written as a state machine: a reset, then one call per
timestep. Predify's networks are the example: ``net.reset()`` before every batch,
``net(images)`` returns the timestep-0 logits, and each later timestep is one more call
``net(None)``. :class:`Stepwise` turns such a module into a :class:`TimestepModel`: one
``forward(x)`` resets the state, makes the first call with the (normalised) images, then
``timesteps`` step calls, and stacks the logits into ``[T + 1, B, classes]``.

Decisions:

* The state is reset at the start of every forward, so nothing carries over from one batch
  to the next (nor from an attack's previous iterate).
* The adapter neither detaches nor disables gradients: an attack differentiates through the
  whole unroll. A call that does (``torch.no_grad()`` inside, ``.detach()``, or a flag such
  as Predify's ``build_graph=False``) would silently hand the attack a partial gradient, so
  while autograd is on and the images require grad, a call whose logits do not require grad
  is an error naming the call. The check reads ``requires_grad``: with frozen parameters
  (as pcbench evaluates every model) that says exactly whether the logits depend on the
  images; a module that trains its own parameters can cut the images off unseen.
* A step call is ``module(None)`` (``step=None``, Predify's convention) or a method called
  without arguments (``step="name"``: ``module.name()``); the module keeps whatever it needs
  from the first call (the images included) in its state.
* ``timesteps``, ``reset`` and ``step`` are public attributes, so a user module's identity
  (:mod:`pcbench.models.identity`) and hence its cell keys change with them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from pcbench.errors import PcbenchError
from pcbench.models.protocol import Normalize, TimestepModel


class Stepwise(TimestepModel):
    """A stateful recurrent ``module`` as a timestep model: ``forward(x)`` calls
    ``module.<reset>()``, ``module(x)`` (timestep 0), then ``timesteps`` step calls, and
    returns their logits ``[timesteps + 1, B, classes]``.

    ``step=None`` makes each step ``module(None)`` (Predify); a name makes it
    ``module.<step>()``. With ``mean`` and ``std`` the images are normalised first (for a
    module that expects normalised inputs); otherwise they reach the module in [0, 1].

    Example (Predify)::

        model = pcbench.Stepwise(pnet, timesteps=4, mean=IMAGENET_MEAN, std=IMAGENET_STD)
        pcbench.evaluate(model, "quick", name="pvgg16-released", limit=50)
    """

    def __init__(
        self,
        module: nn.Module,
        timesteps: int,
        *,
        reset: str = "reset",
        step: str | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        if (mean is None) != (std is None):
            raise PcbenchError("Stepwise: mean and std go together; give both (normalisation inside) or neither")
        if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 0:
            raise PcbenchError(f"Stepwise: timesteps = {timesteps!r}; allowed: an integer >= 0")
        for role, name in (("reset", reset), ("step", step)):
            if name is not None and not callable(getattr(module, name, None)):
                raise PcbenchError(
                    f"Stepwise: {role} = {name!r}, but {type(module).__name__} has no method '{name}'; "
                    f"allowed: the name of a method of the module{' or None (module(None))' if role == 'step' else ''}"
                )
        normalize = nn.Identity() if mean is None or std is None else Normalize(mean, std)
        super().__init__(module, normalize)  # type: ignore[arg-type]
        self.timesteps = timesteps
        self.reset = reset
        self.step = step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        images = self.normalize(x)
        getattr(self.backbone, self.reset)()
        checked = torch.is_grad_enabled() and images.requires_grad
        calls: list[tuple[str, Callable[[], torch.Tensor]]] = [("module(images)", lambda: self.backbone(images))]
        later = "module(None)" if self.step is None else f"module.{self.step}()"
        calls += [(later, self._step_call)] * self.timesteps
        logits = []
        for t, (described, call) in enumerate(calls):
            out = call()
            if not isinstance(out, torch.Tensor) or out.dim() != 2 or len(out) != len(x):
                shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise PcbenchError(
                    f"Stepwise: timestep {t} ({described}) returned {shape}; expected logits [{len(x)}, classes]"
                )
            if checked and not out.requires_grad:
                raise PcbenchError(
                    f"Stepwise: timestep {t} ({described}) returned logits that do not require grad while the "
                    "images do: the call ran without autograd (torch.no_grad(), .detach(), or a flag such as "
                    "Predify's build_graph=False), so gradients through the unroll would stop there; run every "
                    "call with autograd on (Predify: build_graph=True)"
                )
            logits.append(out)
        return torch.stack(logits)

    def _step_call(self) -> torch.Tensor:
        """One later timestep: ``module(None)`` or ``module.<step>()``."""
        if self.step is None:
            return self.backbone(None)
        return getattr(self.backbone, self.step)()
