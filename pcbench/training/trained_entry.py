"""The user registry entry that trained feedback is registered under (``pcbench train-feedback``).

Training itself writes no registry entry (:mod:`pcbench.training.feedback`); this module
decides, before any training, which entry the result goes to (:func:`trained_entry_name`),
and saves it afterwards (:func:`save_trained`):

- a user entry is updated in place (its own name);
- a model that already loads the output file (a zoo model trained to its default ``out``)
  gets no entry, unless hyperparameters were learned (they live in the entry, not the file);
- otherwise the entry ``entry_name`` (default ``<model>-trained``) is saved, replacing a
  user entry of that name (an earlier result); a built-in or plug-in model of that name is
  refused.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pcbench.errors import PcbenchError
from pcbench.files import real_path
from pcbench.registry import list_model_specs
from pcbench.registry.spec import ModelSpec, PCLayer
from pcbench.registry.user_file import check_savable, save_user_spec
from pcbench.training.feedback import FeedbackSettings


def trained_entry_name(spec: ModelSpec, out: Path, entry_name: str | None, settings: FeedbackSettings) -> str | None:
    """The user registry entry the trained result of ``spec`` (written to ``out``) goes to;
    ``None`` when the model loads ``out`` itself.

    Example::

        trained_entry_name(get_model_spec("digits-pcnn"), Path("/tmp/fb.pt"), None, settings)  # 'digits-pcnn-trained'
    """
    from pcbench.models.build import expected_weights_path

    if entry_name is None and spec.source == "user":
        return spec.name
    expected = expected_weights_path(spec)
    loads_out = expected is not None and real_path(expected) == out
    if entry_name is None and loads_out and not settings.hyperparameter_epochs:
        return None
    check_savable(spec)
    target = entry_name or f"{spec.name}-trained"
    taken = next((s for s in list_model_specs() if s.name == target and s.source != "user"), None)
    if taken is not None:
        raise PcbenchError(f"model '{target}' is already registered (source: {taken.source}); choose --name")
    return target


def save_trained(
    spec: ModelSpec, target: str, out: Path, layers: tuple[PCLayer, ...], settings: FeedbackSettings
) -> None:
    """Save ``spec`` with the feedback weights ``out`` and the (learned) PCoder ``layers`` as
    user entry ``target``, validated by building it, replacing an earlier result of that name.

    Example::

        save_trained(spec, "digits-pcnn-trained", result.weights, result.layers, settings)
    """
    from pcbench.models.build import validate_model

    assert spec.pc is not None
    learned = ", learned hyperparameters" if settings.hyperparameter_epochs else ""
    trained = dataclasses.replace(
        spec,
        name=target,
        weights=str(out),
        weights_sha256=None,
        pc=dataclasses.replace(spec.pc, layers=layers),
        source="user",
        description=(
            f"{spec.name} with feedback trained on {settings.dataset}/{settings.split}, "
            f"{settings.epochs} epochs{learned}"
        ),
    )
    save_user_spec(trained, validate=validate_model, replace=True)
