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

A ``weights`` path is relative to the file, except ``"$PCBENCH_WEIGHTS/<file>"``, which
names a file in the weights directory (see :mod:`pcbench.models.weight_files`).

The user registry (``$PCBENCH_HOME/registry.toml``) is rewritten atomically (temporary file
plus rename), so an interrupted ``pcbench register`` never leaves it half-written.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

from pcbench.errors import PcbenchError
from pcbench.files import atomic_write
from pcbench.models.weight_files import WEIGHTS_PREFIX
from pcbench.paths import user_registry_file
from pcbench.registry.predictor_spec import PredictorSpec
from pcbench.registry.registry import get_model_spec, register_model, unregister_model
from pcbench.registry.spec import (
    PAPER_ALPHA, PAPER_BETA, PAPER_LAMBDA, ModelSpec, PCConfig, PCLayer, callable_path,
)

_MODEL_KEYS = {
    "arch", "arch_kwargs", "num_classes", "dataset", "input_size", "mean", "std", "weights",
    "weights_sha256", "variant", "base", "pc", "timesteps", "description",
}
_PC_KEYS = {"layers", "beta", "lambda", "alpha", "gradient_scaling", "predictors"}
_LAYER_KEYS = {"module", "beta", "lambda", "alpha", "predictor"}
_PREDICTOR_KEYS = {"kind", "kernel", "stride", "padding", "upsample", "relu"}


def read_spec_file(path: Path, source: str = "user") -> list[ModelSpec]:
    """Parse a TOML model file into specs (weights paths made absolute, not yet registered)."""
    models = _read_toml(path).get("models")
    if not isinstance(models, dict) or not models:
        raise PcbenchError(f"{path}: expected one or more [models.NAME] tables")
    return [
        _spec_from_table(name, table, path, source) for name, table in models.items()
    ]


def load_user_specs() -> list[ModelSpec]:
    """Specs saved in the user registry file (none if it does not exist yet)."""
    path = user_registry_file()
    return read_spec_file(path) if path.exists() else []


def register_from_file(path: Path) -> list[ModelSpec]:
    """Validate the models in ``path`` and save them in the user registry.

    Each model is registered, built with its weights and run once on a dummy input; only
    when every model passes is the registry file rewritten (atomically).
    """
    from pcbench.models.build import validate_model

    specs = read_spec_file(path)
    registered: list[ModelSpec] = []
    try:
        for spec in specs:
            registered.append(register_model(spec))
            check_savable(registered[-1])
            validate_model(registered[-1])
    except Exception:
        for spec in reversed(registered):
            unregister_model(spec.name)
        raise
    target = user_registry_file()
    saved = _read_toml(target).get("models", {}) if target.exists() else {}
    saved.update({spec.name: spec_to_table(spec) for spec in specs})
    _write_toml_atomically(target, {"models": saved})
    return registered


def save_user_spec(spec: ModelSpec, replace: bool = False) -> ModelSpec:
    """Register ``spec``, build and run it once, then save it in the user registry.

    ``replace`` lets ``spec`` take the place of the user entry of the same name; if the
    new spec fails, the previous entry stays registered and the file is left untouched.
    """
    from pcbench.models.build import validate_model

    check_savable(spec)
    target = user_registry_file()
    saved = _read_toml(target).get("models", {}) if target.exists() else {}
    previous = unregister_model(spec.name) if replace and spec.name in saved else None
    registered = None
    try:
        registered = register_model(spec)
        validate_model(registered)
    except Exception:
        if registered is not None:
            unregister_model(spec.name)
        if previous is not None:
            register_model(previous)
        raise
    saved[spec.name] = spec_to_table(spec)
    _write_toml_atomically(target, {"models": saved})
    return registered


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
    """Delete ``name`` from the user registry file (atomically)."""
    target = user_registry_file()
    saved = _read_toml(target).get("models", {}) if target.exists() else {}
    if name not in saved:
        raise PcbenchError(f"model '{name}' is not in the user registry {target}")
    unregister_model(name)
    del saved[name]
    _write_toml_atomically(target, {"models": saved})


def spec_to_table(spec: ModelSpec) -> dict[str, Any]:
    """The TOML table of a spec, as written to the user registry (PC fields not inherited)."""
    if not isinstance(spec.arch, str) and spec.variant == "feedforward":
        raise PcbenchError(f"model '{spec.name}': only an importable 'arch' string can be saved")
    table: dict[str, Any] = {"variant": spec.variant, "timesteps": spec.timesteps}
    if spec.variant == "feedforward":
        table.update(
            arch=spec.arch, arch_kwargs=spec.arch_kwargs, num_classes=spec.num_classes,
            dataset=spec.dataset, input_size=spec.input_size,
            mean=list(spec.mean), std=list(spec.std),
        )
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
    return {k: v for k, v in table.items() if v is not None}


def _spec_from_table(name: str, table: Any, path: Path, source: str) -> ModelSpec:
    where = f"{path}: models.{name}"
    table = _check_table(table, _MODEL_KEYS, where)
    fields = dict(table)
    if "weights" in fields and not str(fields["weights"]).startswith(WEIGHTS_PREFIX):
        fields["weights"] = str((path.parent / Path(fields["weights"]).expanduser()).resolve())
    for key in ("mean", "std"):
        if key in fields:
            fields[key] = tuple(fields[key])
    if "pc" in fields:
        fields["pc"] = _pc_from_table(fields["pc"], f"{where}.pc")
    try:
        return ModelSpec(name=name, source=source, **fields)
    except TypeError as exc:
        raise PcbenchError(f"{where}: {exc}") from None
    except PcbenchError as exc:
        raise PcbenchError(f"{path}: {exc}") from None


def _pc_from_table(table: Any, where: str) -> PCConfig:
    table = _check_table(table, _PC_KEYS, where)
    shared = {
        "beta": table.get("beta", PAPER_BETA),
        "lam": table.get("lambda", PAPER_LAMBDA),
        "alpha": table.get("alpha", PAPER_ALPHA),
    }
    layers = table.get("layers")
    if not isinstance(layers, list) or not layers:
        raise PcbenchError(f"{where}.layers must be a non-empty list of module paths or tables")
    parsed = []
    for index, item in enumerate(layers):
        if isinstance(item, str):
            parsed.append(PCLayer(module=item, **shared))
            continue
        item = _check_table(item, _LAYER_KEYS, f"{where}.layers[{index}]")
        if "module" not in item:
            raise PcbenchError(f"{where}.layers[{index}] needs a 'module' (a dotted module path)")
        overrides = {"lam" if k == "lambda" else k: v for k, v in item.items() if k != "module"}
        if "predictor" in item:
            overrides["predictor"] = _predictor_from_table(
                item["predictor"], f"{where}.layers[{index}].predictor"
            )
        parsed.append(PCLayer(module=item["module"], **{**shared, **overrides}))
    return PCConfig(
        layers=tuple(parsed),
        predictors=table.get("predictors"),
        gradient_scaling=bool(table.get("gradient_scaling", False)),
    )


def _predictor_from_table(table: Any, where: str) -> PredictorSpec:
    table = _check_table(table, _PREDICTOR_KEYS, where)
    try:
        return PredictorSpec(**table)
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


def _check_table(table: Any, allowed: set[str], where: str) -> Mapping[str, Any]:
    if not isinstance(table, dict):
        raise PcbenchError(f"{where} must be a table")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise PcbenchError(
            f"{where}: unknown key '{unknown[0]}'; allowed: {', '.join(sorted(allowed))}"
        )
    return table


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise PcbenchError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise PcbenchError(f"{path}: invalid TOML: {exc}") from None


def _write_toml_atomically(path: Path, data: dict[str, Any]) -> None:
    atomic_write(path, lambda handle: tomli_w.dump(data, handle))
