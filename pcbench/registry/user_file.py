"""Model entries in TOML: the user registry file and the files given to ``pcbench register``.

Both use one format, a table per model::

    [models.my-cnn]
    arch = "torchvision.models:resnet18"   # or a torchvision name: "resnet18"
    num_classes = 10
    dataset = "cifar10"
    input_size = 32
    mean = [0.4914, 0.4822, 0.4465]
    std = [0.2470, 0.2435, 0.2616]
    weights = "checkpoints/my-cnn.pt"     # relative to this file

    [models.my-pcnn]
    variant = "pc"
    base = "my-cnn"
    timesteps = 10
    weights = "checkpoints/my-pcnn-feedback.pt"   # predictor weights (optional)

    [models.my-pcnn.pc]
    beta = 0.8          # shared defaults for every layer
    lambda = 0.1
    alpha = 0.01
    layers = ["layer1", {module = "layer2", beta = 0.5}, "layer3"]
    # a layer may declare its predictor (default: derived from the shapes):
    # {module = "layer2", predictor = {kernel = 4, stride = 2, padding = 1, relu = true}}
    # keys: kind ("convtranspose"), kernel, stride, padding, upsample (bilinear ×n first), relu

    [models.my-hgru]                       # a recurrent variant: its own network, paired with its base
    variant = "recurrent"
    base = "my-cnn"                        # label space and preprocessing come from the base
    arch = "mymodels:hgru"                 # arch(num_classes, timesteps=T) -> logits [T + 1, B, classes]
    timesteps = 8
    weights = "checkpoints/my-hgru.pt"     # the whole network

    [models.my-recurrent]                  # a stateful network called step by step
    arch = "mymodels:recurrent"            # builds the whole network (weights: all of it)
    protocol = "stepwise"                  # net.reset(), net(images), then net(None) per step
    timesteps = 4
    reset = "reset"                        # the default
    # step = "advance"                     # a method called without arguments instead of net(None)
    num_classes = 10
    dataset = "cifar10"
    input_size = 32

A ``weights`` path is relative to the file, except ``"$PCBENCH_WEIGHTS/<file>"``, which
names a file in the weights directory (see :mod:`pcbench.registry.weight_files`).

**Your own modules** (``arch`` or ``pc.predictors`` = ``"module:function"``) import from any
directory: ``pcbench register`` looks the module up on ``sys.path``, then next to the TOML
file, then in the current directory, and saves the directory it comes from in the entry as
``python_path = "/abs/dir"`` -- unless that is site-packages or the standard library (an
installed package records nothing). Loading the entry appends ``python_path`` to
``sys.path`` for the rest of the process: appended, so it never shadows an installed module,
and kept, so the module's own later imports (and pickles naming it) work too. A file given
to ``pcbench register`` may set ``python_path`` itself, relative to the file.

**Registering a name twice** is refused unless ``replace`` (``pcbench register --replace``):
then user entries of the same names, working or broken, give way. Models from other sources
(built-in, entry points, Python) are never replaced. A replaced PC variant's feedback
weights stay with the new entry when its file names none (:func:`carried_weights`; ``pcbench
register --replace --drop-weights`` drops them).

**Broken entries.** The user registry (``$PCBENCH_HOME/registry.toml``) is loaded entry by
entry (:func:`load_user_entries`): an entry loads when its table parses, its base is
registered, its module imports and its weights file exists (nothing is built). Any other
entry -- a hand edit gone wrong, a deleted module or weights file -- is skipped and recorded
with a one-line reason (:class:`~pcbench.registry.registry.BrokenEntry`): the other models
and every command keep working, ``pcbench models`` warns about it, looking it up raises the
reason, and ``pcbench unregister NAME`` deletes its table without building it. Feedforward
entries load before dynamic (PC, recurrent) variants, so a variant may precede its base in the file. A registry
file that is not valid TOML at all cannot be read entry by entry: it stays an error naming
the line, to be fixed by hand.

The user registry is rewritten atomically (temporary file plus rename), so an interrupted
``pcbench register`` never leaves it half-written.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.machinery
import importlib.util
import site
import sys
import sysconfig
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import tomli_w
from pydantic import Discriminator, Field, Tag, model_validator

from pcbench.errors import InvalidValue, PcbenchError
from pcbench.files import atomic_write, real_path
from pcbench.names import NAME_PATTERN
from pcbench.paths import user_registry_file
from pcbench.registry.predictor_spec import PredictorSpec, PredictorTable
from pcbench.registry.registry import (
    BrokenEntry,
    forget_broken_entry,
    get_model_spec,
    list_model_specs,
    register_model,
    unregister_model,
)
from pcbench.registry.spec import (
    PAPER_ALPHA,
    PAPER_BETA,
    PAPER_LAMBDA,
    GradientScaling,
    LayerFields,
    ModelSpec,
    Module,
    PCConfig,
    PCLayer,
    Predictors,
    SpecFields,
    Text,
    Weight,
    callable_path,
)
from pcbench.registry.tables import EntryTable, must
from pcbench.registry.weight_files import WEIGHTS_PREFIX, missing_weights_message, resolve_weights
from pcbench.validation import Table, validated

#: Checks a registered spec before it is saved (raises PcbenchError); supplied by the caller.
Validator = Callable[[ModelSpec], None]


_NAME = f"^{NAME_PATTERN.pattern}$"


class LayerTable(LayerFields):
    """A table in ``pc.layers``: a PCoder whose own ``beta``, ``lambda``, ``alpha`` (when set)
    replace the ``pc`` table's."""

    beta: Weight | None = Field(None, description="Weight of the feedforward drive (default: the pc table's).")
    lam: Weight | None = Field(None, alias="lambda", description="Weight of the feedback (default: the pc table's).")
    alpha: Weight | None = Field(None, description="Error-correction step (default: the pc table's).")
    predictor: PredictorTable | None = Field(None, description="This PCoder's predictor (default: derived).")

    @model_validator(mode="after")
    def _memory_weight(self) -> LayerTable:
        """Replaces LayerFields' check: beta + lambda is known once the pc table's shared values
        are in, and PCLayer checks it then."""
        return self


def _layer_kind(item: Any) -> str:
    return "<module>" if isinstance(item, str) else "<table>"


class PcTable(EntryTable):
    """A PC variant's ``pc`` table: its PCoders bottom-up and their shared hyperparameters."""

    layers: Annotated[
        list[
            Annotated[
                Annotated[Module, Tag("<module>")] | Annotated[LayerTable, Tag("<table>")], Discriminator(_layer_kind)
            ]
        ],
        Field(min_length=1),
        must("a non-empty list of module paths or tables"),
    ] = Field(description="The PCoders, bottom-up: module paths, or tables with their own settings.")
    beta: Weight = Field(PAPER_BETA, description="Weight of the feedforward drive, for every layer.")
    lam: Weight = Field(PAPER_LAMBDA, alias="lambda", description="Weight of the feedback prediction, for every layer.")
    alpha: Weight = Field(PAPER_ALPHA, description="Error-correction step size, for every layer.")
    gradient_scaling: GradientScaling = Field(False, description="Scale the error gradient by numel / sqrt(C).")
    predictors: Predictors | None = Field(None, description="'module:function' building every predictor.")


class ModelEntry(SpecFields):
    """A ``[models.NAME]`` table: one model."""

    pc: PcTable | None = Field(None, description="A PC variant's PCoders.")
    python_path: Annotated[Text, must("a path string")] | None = Field(
        None, description="Directory the arch module imports from (relative to the file)."
    )


class ModelsFile(Table):
    """A model file: the user registry, or a file given to ``pcbench register``.

    Its JSON Schema; pcbench validates the file entry by entry (:func:`load_user_entries`).
    """

    models: dict[Annotated[str, Field(pattern=_NAME)], ModelEntry] = Field(
        description="One table per model, named by the model's name.",
        json_schema_extra={"additionalProperties": False},  # a name outside the pattern is refused
    )


def read_spec_file(path: Path, source: str = "user") -> list[ModelSpec]:
    """Parse a TOML model file into specs (weights paths made absolute, not yet registered).

    Each entry's ``python_path`` is appended to ``sys.path``.
    """
    return [_spec_from_table(name, table, path, source) for name, table in _model_tables(path).items()]


def load_user_entries() -> list[BrokenEntry]:
    """Register the user registry's entries one by one; return those that do not load.

    A broken entry is skipped and the others load regardless (see the module docstring).
    """
    path = user_registry_file()
    if not path.exists():
        return []
    broken: dict[str, BrokenEntry] = {}
    tables = _model_tables(path, allow_empty=True)
    for name, table in sorted(tables.items(), key=lambda item: _is_variant_table(item[1])):
        try:
            spec = _spec_from_table(name, table, path, "user")
            if spec.base in broken:
                raise PcbenchError(f"its base '{spec.base}' is broken")
            _check_loadable(spec)
            register_model(spec)
        except Exception as exc:  # noqa: BLE001 -- a hand-edited entry may fail in any way; the rest load
            broken[name] = BrokenEntry(name, path, _one_line(exc))
    return [broken[name] for name in tables if name in broken]  # in file order


def register_from_file(
    path: Path,
    *,
    validate: Validator,
    replace: bool = False,
    drop_weights: bool = False,
    on_note: Callable[[str], None] = lambda note: None,
) -> list[ModelSpec]:
    """Validate the models in ``path`` and save them in the user registry.

    Each model is registered, then checked by ``validate`` (the caller's: building needs the
    model layer, which the registry does not import; :func:`pcbench.api.register_file` builds
    it with its weights and runs it once on a dummy input); only when every model passes is
    the registry file rewritten (atomically). A name already in
    the user registry is refused unless ``replace``. The directory a ``"module:function"``
    imports from is saved as ``python_path`` (see the module docstring). A PC variant
    replacing one with feedback weights keeps them unless ``drop_weights``
    (:func:`carried_weights`); each kept file is reported through ``on_note``, one line.
    """
    if drop_weights and not replace:
        raise PcbenchError("--drop-weights applies only with --replace (to the entries being replaced)")
    specs = [_spec_from_table(name, table, path, "user") for name, table in _model_tables(path).items()]
    try:
        specs = [carried_weights(spec, specs, on_note) if replace and not drop_weights else spec for spec in specs]
        entries = [(spec, _saved_table(spec, (path.parent, Path.cwd()))) for spec in specs]
        return _register_and_save(entries, replace, validate)
    except PcbenchError as exc:  # building or saving a model: say which file it came from
        raise PcbenchError(f"{path}: {exc}") from None


def carried_weights(spec: ModelSpec, others: Sequence[ModelSpec], on_note: Callable[[str], None]) -> ModelSpec:
    """``spec`` with the feedback weights of the user entry it replaces, when it names none.

    Decision: editing a PC variant's model file (β, λ, α, T, gradient scaling) and
    registering it again with ``--replace`` must not silently drop the feedback weights
    that ``pcbench train-feedback`` wrote into the entry: the predictors are trained on the
    reconstruction objective, which none of those settings enter. So a PC variant whose file
    names no ``weights`` keeps the replaced PC entry's weights (and ``weights_sha256``), and
    ``on_note`` gets one line naming the file. Weights named in the file win; ``pcbench
    register --replace --drop-weights`` registers the file as written. When the predictors
    the weights were made for differ (another base or base spec, other PCoder modules or
    predictor declarations), the weights do not fit: that is refused, naming them and both
    ways out. ``others`` are the specs registered with ``spec``: its base may be among them.
    """
    old = _registered(spec.name)
    if spec.variant != "pc" or spec.weights is not None or old is None or old.source != "user":
        return spec
    if old.variant != "pc" or old.weights is None:
        return spec
    new_base = next((other for other in others if other.name == spec.base), None) or _registered(spec.base or "")
    if new_base is None:  # registering it fails with its own message
        return spec
    if _predictor_identity(old, get_model_spec(old.base or "")) != _predictor_identity(spec, new_base):
        raise PcbenchError(
            f"model '{spec.name}': the entry it replaces has feedback weights {old.weights}, made for other "
            "predictors (the base, PCoder modules or predictor declarations differ); pass --drop-weights to "
            "register it without weights (untrained predictors), or name weights in the file"
        )
    on_note(
        f"model '{spec.name}': kept the feedback weights {old.weights} of the entry it replaces (the file names "
        "none); pass --drop-weights to register it without them"
    )
    return dataclasses.replace(spec, weights=old.weights, weights_sha256=old.weights_sha256)


def _predictor_identity(spec: ModelSpec, base: ModelSpec) -> tuple[Any, ...]:
    """What feedback weights are made for: the base's spec, the PCoder modules and their
    predictors (not β, λ, α, T or gradient scaling)."""
    assert spec.pc is not None
    layers = tuple((layer.module, layer.predictor) for layer in spec.pc.layers)
    return base.to_record(), layers, callable_path(spec.pc.predictors)


def save_user_spec(spec: ModelSpec, *, validate: Validator, replace: bool = False) -> ModelSpec:
    """Register ``spec``, check it with ``validate``, then save it in the user registry.

    ``replace`` lets ``spec`` take the place of the user entry of the same name; if the
    new spec fails, the previous entry stays registered and the file is left untouched.
    """
    return _register_and_save([(spec, _saved_table(spec, ()))], replace, validate)[0]


def check_savable(spec: ModelSpec) -> None:
    """Raise unless the user registry can hold ``spec``: its base must not come from Python.

    The registry file is read by every pcbench process, where models registered from a
    Python script do not exist.
    """
    if spec.base is not None and get_model_spec(spec.base).source == "python":
        raise PcbenchError(
            f"model '{spec.name}': its base '{spec.base}' is registered from Python, which the "
            "user registry cannot refer to; register the base in a TOML file or an entry point"
        )


def remove_from_user_file(name: str) -> None:
    """Delete ``name`` from the user registry file (atomically), whether it loads or is broken.

    Works on the file's tables: a broken entry is removed without building it.
    """
    target = user_registry_file()
    saved = _saved_tables(target)
    if name not in saved:
        raise PcbenchError(
            f"model '{name}' is not in the user registry {target}; its entries: {', '.join(saved) or 'none'}"
        )
    dependants = [other for other, table in saved.items() if _is_variant_table(table) and table.get("base") == name]
    if dependants:
        raise PcbenchError(f"model '{name}' is the base of {dependants}; remove those first")
    registered = _registered(name)
    if registered is not None and registered.source == "user":
        unregister_model(name)
    forget_broken_entry(name)
    del saved[name]
    _write_toml_atomically(target, {"models": saved})


def spec_to_table(spec: ModelSpec) -> dict[str, Any]:
    """The TOML table of a spec, as written to the user registry (without what a variant inherits)."""
    if not isinstance(spec.arch, str) and spec.variant != "pc":
        raise PcbenchError(f"model '{spec.name}': only an importable 'arch' string can be saved")
    table: dict[str, Any] = {"variant": spec.variant, "timesteps": spec.timesteps}
    if spec.variant == "feedforward":
        table.update(
            arch=spec.arch,
            arch_kwargs=spec.arch_kwargs,
            num_classes=spec.num_classes,
            dataset=spec.dataset,
            input_size=spec.input_size,
            mean=list(spec.mean),
            std=list(spec.std),
        )
        if spec.protocol == "stepwise":
            table.update(protocol=spec.protocol, reset=spec.reset, step=spec.step)
    elif spec.variant == "recurrent":
        table.update(base=spec.base, arch=spec.arch, arch_kwargs=spec.arch_kwargs)
    else:
        assert spec.pc is not None
        table["base"] = spec.base
        table["pc"] = {
            "gradient_scaling": spec.pc.gradient_scaling,
            "layers": [_layer_table(layer) for layer in spec.pc.layers],
        }
        if spec.pc.predictors is not None:
            table["pc"]["predictors"] = _importable_path(spec.name, spec.pc.predictors)
    for key in ("weights", "weights_sha256", "description"):
        if getattr(spec, key):
            table[key] = getattr(spec, key)
    if spec.transfer_datasets:
        table["transfer_datasets"] = list(spec.transfer_datasets)
    return {k: v for k, v in table.items() if v is not None}


def _spec_from_table(name: str, table: Any, path: Path, source: str) -> ModelSpec:
    where = f"{path}: models.{name}"
    validated(ModelEntry, table, str(path), f"models.{name}")
    fields = dict(table)
    if "python_path" in fields:
        _add_to_sys_path(_absolute(fields.pop("python_path"), path))
    if "weights" in fields and not fields["weights"].startswith(WEIGHTS_PREFIX):
        fields["weights"] = _absolute(fields["weights"], path)
    for key in ("mean", "std", "transfer_datasets"):
        if key in fields:
            fields[key] = tuple(fields[key])
    if "pc" in fields:
        fields["pc"] = _pc_from_table(fields["pc"], f"{where}.pc")
    try:
        return ModelSpec(name=name, source=source, **fields)
    except InvalidValue as exc:
        raise exc.at(where) from None
    except PcbenchError as exc:
        raise PcbenchError(f"{path}: {exc}") from None


def _pc_from_table(table: Mapping[str, Any], where: str) -> PCConfig:
    """A validated ``pc`` table (:class:`PcTable`) as a :class:`PCConfig`; its values as written
    (an integer stays one: spec hashes hold)."""
    shared = {
        "beta": table.get("beta", PAPER_BETA),
        "lam": table.get("lambda", PAPER_LAMBDA),
        "alpha": table.get("alpha", PAPER_ALPHA),
    }
    layers = tuple(
        _layer_from_item(item, f"{where}.layers[{index}]", shared) for index, item in enumerate(table["layers"])
    )
    try:
        return PCConfig(
            layers=layers, predictors=table.get("predictors"), gradient_scaling=table.get("gradient_scaling", False)
        )
    except PcbenchError as exc:
        raise PcbenchError(f"{where}: {exc}") from None


def _layer_from_item(item: str | Mapping[str, Any], where: str, shared: Mapping[str, Any]) -> PCLayer:
    """One validated entry of ``pc.layers``: a module path (with the shared hyperparameters)
    or a table (its own replacing them); what is left to check is beta + lambda <= 1."""
    if isinstance(item, str):
        fields = {"module": item, **shared}
    else:
        fields = {**shared, **{"lam" if k == "lambda" else k: v for k, v in item.items()}}
        if "predictor" in item:
            fields["predictor"] = PredictorSpec(**item["predictor"])
    try:
        return PCLayer(**fields)
    except PcbenchError as exc:
        raise PcbenchError(f"{where}: {exc}") from None


def _layer_table(layer: PCLayer) -> dict[str, Any]:
    table = {"module": layer.module, "beta": layer.beta, "lambda": layer.lam, "alpha": layer.alpha}
    if layer.predictor is not None:
        table["predictor"] = dataclasses.asdict(layer.predictor)
    return table


def _importable_path(name: str, builder: Any) -> str:
    path = callable_path(builder)
    assert path is not None
    if "<locals>" in path or "<lambda>" in path:
        raise PcbenchError(
            f"model '{name}': predictors builder {path} cannot be saved; use an importable "
            "'module:function' or per-layer predictor tables"
        )
    return path


def _register_and_save(
    entries: list[tuple[ModelSpec, dict[str, Any]]], replace: bool, validate: Validator
) -> list[ModelSpec]:
    """Register and validate each spec, then write the tables (paired) to the user registry.

    With ``replace``, user entries of the same names (working or broken) give way; if any
    spec fails, the registry in memory is restored and the file is left untouched.
    """
    target = user_registry_file()
    saved = _saved_tables(target)
    names = [spec.name for spec, _ in entries]
    for name in names:
        _check_replaceable(name, saved, replace, target)
    # user entries giving way, dependants first (without replace, register_model refuses them)
    replaced = [spec for spec in reversed(list_model_specs()) if replace and spec.name in names]
    removed: list[ModelSpec] = []
    registered: list[ModelSpec] = []
    try:
        for spec in replaced:
            removed.append(unregister_model(spec.name))
        for spec, _ in entries:
            registered.append(register_model(spec))
            check_savable(registered[-1])
            validate(registered[-1])
    except Exception:
        for spec in reversed(registered):
            unregister_model(spec.name)
        for spec in reversed(removed):
            register_model(spec)
        raise
    saved.update({spec.name: table for spec, table in entries})
    _write_toml_atomically(target, {"models": saved})
    for name in names:
        forget_broken_entry(name)
    return registered


def _check_replaceable(name: str, saved: Mapping[str, Any], replace: bool, target: Path) -> None:
    """Raise unless ``name`` is free, or a user entry that ``replace`` lets give way."""
    registered = _registered(name)
    if registered is not None and registered.source != "user":
        raise PcbenchError(
            f"model '{name}' is already registered (source: {registered.source}); only user "
            "registry entries can be replaced; choose another name"
        )
    if name in saved and not replace:
        raise PcbenchError(
            f"model '{name}' is already registered (source: user, in {target}); use "
            "`pcbench register FILE --replace` to replace it, or choose another name"
        )


def _registered(name: str) -> ModelSpec | None:
    """The spec registered under ``name``, or ``None`` (a broken entry is not registered)."""
    return next((spec for spec in list_model_specs() if spec.name == name), None)


def _check_loadable(spec: ModelSpec) -> None:
    """Raise unless ``spec``'s module imports and its weights file exists; builds nothing
    (a torchvision name is checked when the model is built)."""
    target = _own_callable(spec)
    if isinstance(target, str) and ":" in target:
        _import_target(target)
    if spec.weights is not None and not resolve_weights(spec.weights).is_file():
        raise PcbenchError(missing_weights_message(spec, resolve_weights(spec.weights)))


def _import_target(target: str) -> Any:
    """The object a ``"module:attribute"`` string names; a one-line error when it does not import."""
    module_name, _, attribute = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            obj = getattr(obj, part)
    except Exception as exc:  # noqa: BLE001 -- a user module may fail to import in any way
        raise PcbenchError(f"cannot import '{target}': {_one_line(exc)}") from None
    return obj


def _own_callable(spec: ModelSpec) -> Any:
    """What the entry itself names to import: an ``arch`` (feedforward, recurrent), a PC
    variant's predictors."""
    if spec.variant != "pc":
        return spec.arch
    assert spec.pc is not None
    return spec.pc.predictors


def _saved_table(spec: ModelSpec, search: tuple[Path, ...]) -> dict[str, Any]:
    """``spec``'s table, with ``python_path`` when its module needs a directory to import.

    The module is looked up on ``sys.path``, then in ``search``; a directory found there is
    appended to ``sys.path`` (for the validation that follows).
    """
    table = spec_to_table(spec)
    directory = _module_directory(_own_callable(spec), search)
    if directory is not None:
        _add_to_sys_path(directory)
        table["python_path"] = directory
    return table


def _module_directory(target: Any, search: tuple[Path, ...]) -> str | None:
    """The directory the module of a ``"module:function"`` string imports from, as a string.

    ``None`` for a callable or torchvision name, a module in site-packages or the standard
    library, or one found nowhere (importing it later fails with its own error).
    """
    if not isinstance(target, str) or ":" not in target:
        return None
    top = target.partition(":")[0].partition(".")[0]
    try:
        found = importlib.util.find_spec(top) or importlib.machinery.PathFinder.find_spec(
            top, [str(directory) for directory in search]
        )
    except (ImportError, ValueError):  # an empty or otherwise invalid module name
        return None
    if found is None:
        return None
    if found.submodule_search_locations:  # a package: the directory holding it
        directory = Path(next(iter(found.submodule_search_locations))).parent
    elif found.has_location and found.origin:
        directory = Path(found.origin).parent
    else:  # built-in or frozen
        return None
    directory = directory.resolve()
    return None if directory in _installed_directories() else str(directory)


def _installed_directories() -> set[Path]:
    """site-packages and the standard library: modules there save no ``python_path``."""
    paths = sysconfig.get_paths()
    candidates = [
        *site.getsitepackages(),
        site.getusersitepackages(),
        *(paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")),
    ]
    return {Path(candidate).resolve() for candidate in candidates}


def _add_to_sys_path(directory: str) -> None:
    """Append ``directory`` to ``sys.path`` (after installed packages, so it shadows none)."""
    if directory not in sys.path:
        sys.path.append(directory)


def _absolute(value: str, path: Path) -> str:
    """A path from a TOML file, made absolute relative to the file's directory."""
    return str(real_path(path.parent / Path(value).expanduser()))


def _is_variant_table(table: Any) -> bool:
    """A dynamic variant's table (PC or recurrent): it names a base, so it loads after them."""
    return isinstance(table, dict) and table.get("variant") in ("pc", "recurrent")


def _one_line(exc: Exception) -> str:
    """The first line of an error, named by its type unless it is a :class:`PcbenchError`."""
    text = str(exc) if isinstance(exc, PcbenchError) else f"{type(exc).__name__}: {exc}"
    return next(iter(text.splitlines()), "")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise PcbenchError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise PcbenchError(f"{path}: invalid TOML: {exc}") from None


def _model_tables(path: Path, allow_empty: bool = False) -> dict[str, Any]:
    """The ``[models.NAME]`` tables of a TOML file; ``allow_empty`` for the user registry."""
    models = _read_toml(path).get("models", {})
    if not isinstance(models, dict) or not (models or allow_empty):
        raise PcbenchError(f"{path}: expected one or more [models.NAME] tables")
    return models


def _saved_tables(target: Path) -> dict[str, Any]:
    """The tables of the user registry file (none before the first ``pcbench register``)."""
    return _model_tables(target, allow_empty=True) if target.exists() else {}


def _write_toml_atomically(path: Path, data: dict[str, Any]) -> None:
    atomic_write(path, lambda handle: tomli_w.dump(data, handle))
