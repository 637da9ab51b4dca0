"""The model registry: built-ins, Python registrations, entry points and the user file.

Like torchvision's and timm's registries it maps names to builders; entries are
:class:`~pcbench.registry.spec.ModelSpec` objects. The registry imports no model code (as
timm's registry imports none of its model files): sources are loaded lazily, on the first
lookup, in this order: the entry point group ``pcbench.models`` (each entry point is a
callable returning an iterable of ``ModelSpec``) — pcbench's own built-ins first (its entry
point ``pcbench`` names :func:`pcbench.models.zoo.builtin_specs`), then other packages' —
and then the *late sources* added with :func:`add_source` (the user registry file written by
``pcbench register``, which :mod:`pcbench.registry` adds).

The user file is loaded entry by entry (:func:`pcbench.registry.user_file.load_user_entries`):
an entry that does not load is skipped and kept as a :class:`BrokenEntry`, so every other
model and command keeps working; looking the entry up raises its reason, and
``pcbench unregister NAME`` removes it. An entry point that fails still stops every lookup
with one error naming it: it yields no model names to skip, and the fix (repairing or
uninstalling the package) lies outside pcbench.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pcbench.errors import PcbenchError
from pcbench.hashing import hash_json
from pcbench.registry.spec import ModelSpec

ENTRY_POINT_GROUP = "pcbench.models"
#: The distribution whose entry points are pcbench's built-in models.
BUILTIN_DISTRIBUTION = "pcbench"


@dataclasses.dataclass(frozen=True)
class BrokenEntry:
    """A user registry entry that does not load: skipped, and reported under its name."""

    name: str
    path: Path
    reason: str

    def message(self) -> str:
        """One line: which entry, where, why, and how to get rid of it."""
        return (
            f"user registry entry '{self.name}' ({self.path}) is broken: {self.reason}; "
            f"fix it with `pcbench register FILE --replace` or remove it with "
            f"`pcbench unregister {self.name}`"
        )


_REGISTRY: dict[str, ModelSpec] = {}
_BROKEN: dict[str, BrokenEntry] = {}
_LATE_SOURCES: list[Callable[[], Iterable[BrokenEntry]]] = []
_sources_loaded = False


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to the registry and return it (completed from its base for dynamic variants).

    A dynamic variant inherits label space and preprocessing from its ``base`` (a PC variant
    its architecture too), which must already be registered. Registering a name twice raises :class:`PcbenchError`.
    """
    _load_sources()
    existing = _REGISTRY.get(spec.name)
    if existing is not None:
        raise PcbenchError(
            f"model '{spec.name}' is already registered (source: {existing.source}); "
            "choose another name or remove the existing entry"
        )
    if spec.variant != "feedforward":
        spec = _inherit_from_base(spec)
    _REGISTRY[spec.name] = spec
    return spec


def register(name: str | None = None, **fields: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering an architecture builder as a feedforward model.

    Example::

        @pcbench.register("my-cnn", num_classes=10, dataset="digits", input_size=32,
                          weights="my-cnn.pt")
        def my_cnn(num_classes: int) -> nn.Module: ...

    ``name`` defaults to the function name with ``_`` replaced by ``-``.
    """

    def decorate(builder: Callable[..., Any]) -> Callable[..., Any]:
        register_model(ModelSpec(name=name or builder.__name__.replace("_", "-"), arch=builder, **fields))
        return builder

    return decorate


def unregister_model(name: str) -> ModelSpec:
    """Remove ``name`` from the in-memory registry and return its spec."""
    _load_sources()
    get_model_spec(name)  # an unknown or broken name raises here
    dependants = [s.name for s in _REGISTRY.values() if s.base == name]
    if dependants:
        raise PcbenchError(f"model '{name}' is the base of {dependants}; remove those first")
    return _REGISTRY.pop(name)


def get_model_spec(name: str) -> ModelSpec:
    """The spec registered under ``name``; otherwise an error giving a broken entry's reason,
    or listing the known names."""
    _load_sources()
    try:
        return _REGISTRY[name]
    except KeyError:
        if name in _BROKEN:
            raise PcbenchError(_BROKEN[name].message()) from None
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise PcbenchError(f"unknown model '{name}'; registered models: {known}") from None


def list_model_specs() -> list[ModelSpec]:
    """All registered specs, in registration order."""
    _load_sources()
    return list(_REGISTRY.values())


def broken_entries() -> list[BrokenEntry]:
    """The user registry entries that did not load, in file order."""
    _load_sources()
    return list(_BROKEN.values())


def forget_broken_entry(name: str) -> None:
    """Drop the record of a broken entry ``name`` (removed or replaced in the user file)."""
    _BROKEN.pop(name, None)


def spec_hash(spec: ModelSpec) -> str:
    """Hash of everything that determines a model's behaviour, including its base's."""
    record = spec.to_record()
    if spec.base is not None:
        record["base_hash"] = spec_hash(get_model_spec(spec.base))
    return hash_json(record)


def _inherit_from_base(spec: ModelSpec) -> ModelSpec:
    assert spec.base is not None
    base = _REGISTRY.get(spec.base)
    if base is None:
        known = ", ".join(s.name for s in _REGISTRY.values() if s.variant == "feedforward")
        raise PcbenchError(
            f"model '{spec.name}': base = '{spec.base}' is not registered; feedforward models: {known or 'none'}"
        )
    if base.variant != "feedforward":
        raise PcbenchError(f"model '{spec.name}': base '{spec.base}' must be a feedforward model")
    inherited = ("num_classes", "dataset", "input_size", "mean", "std")
    if spec.variant == "pc":  # a recurrent variant builds its own network
        inherited = ("arch", "arch_kwargs", *inherited)
    fields = {key: getattr(base, key) for key in inherited}
    fields["transfer_datasets"] = spec.transfer_datasets or base.transfer_datasets  # own list, else the base's
    return dataclasses.replace(spec, **fields)


def _register_all(specs: Iterable[ModelSpec], source: str) -> None:
    for spec in specs:
        register_model(dataclasses.replace(spec, source=source))


def add_source(load: Callable[[], Iterable[BrokenEntry]]) -> None:
    """Add a late source: ``load()`` registers its models itself (after the entry points)
    and returns the entries that did not load."""
    _LATE_SOURCES.append(load)


def _entry_points() -> list[Any]:
    """The ``pcbench.models`` entry points, pcbench's own first."""
    found = list(entry_points(group=ENTRY_POINT_GROUP))
    return sorted(found, key=lambda point: (getattr(point.dist, "name", None) != BUILTIN_DISTRIBUTION, point.name))


def _load_sources() -> None:
    global _sources_loaded
    if _sources_loaded:
        return
    _sources_loaded = True
    for entry_point in _entry_points():
        try:
            specs = list(entry_point.load()())
        except Exception as exc:  # a broken plug-in must name itself, not crash deep inside
            raise PcbenchError(
                f"entry point '{entry_point.name}' ({entry_point.value}) in group '{ENTRY_POINT_GROUP}' failed: {exc}"
            ) from exc
        own = getattr(entry_point.dist, "name", None) == BUILTIN_DISTRIBUTION
        _register_all(specs, "builtin" if own else f"entry-point:{entry_point.name}")
    for load in _LATE_SOURCES:
        _BROKEN.update((entry.name, entry) for entry in load())
