"""Import feedback weights saved by Predify's reference code (``pcbench import-feedback``).

Three formats are read, each detected from the file's content, always with
``torch.load(weights_only=True)`` (:func:`pcbench.models.build.load_state_dict`):

- **predictor** — one file per PCoder holding its ``pmodule``'s state dict (Predify's
  released ``…_pc{n}_pmodule.pth`` files);
- **training checkpoint** — one file per PCoder, ``{"pcoderweights": PCoder state dict,
  "optimizer": …, "epoch": int}``, whose keys are the ``pmodule`` keys prefixed ``pmodule.``;
- **network** — one whole network's state dict, keys ``backbone.…`` (ignored: the model's
  base supplies the backbone) and ``pcoder{n}.pmodule.…``, plus the per-PCoder
  hyperparameters ``ffm{n}`` (β), ``fbm{n}`` (λ), ``erm{n}`` (α) where the network holds
  them as tensors (learned parameters or buffers).

Per-PCoder files are given in PCoder order (n = 1..N, bottom-up); a network file alone.
PCoder n's parameters go to the model's predictor n: by key where the key sets are equal,
else in the file's order where the last components agree (Predify's bare first
``ConvTranspose2d`` has ``weight``, a pcbench predictor ``nn.Sequential`` has ``0.weight``).
Every shape is checked before anything is written; a mismatch, a missing or an unexpected
key is one line naming the PCoder, the file and the key. Imported hyperparameters are
recorded, not applied: the model keeps its own β, λ, α (see docs/tutorials/predify.md).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pcbench.errors import PcbenchError
from pcbench.files import file_problem
from pcbench.hashing import hash_file
from pcbench.models.build import build_pc_model, load_state_dict
from pcbench.models.checkpoints import save_feedback_weights
from pcbench.registry.spec import ModelSpec
from pcbench.store.provenance import package_versions
from pcbench.training.feedback import output_path

PREDICTOR, TRAINING_CHECKPOINT, NETWORK = "predictor", "training checkpoint", "network"
#: Predify's per-PCoder hyperparameter attributes and pcbench's names for them.
HYPERPARAMETERS = {"ffm": "beta", "fbm": "lambda", "erm": "alpha"}
_PCODER_KEY = re.compile(r"pcoder(\d+)\.pmodule\.(.+)")
_HYPERPARAMETER_KEY = re.compile(r"(ffm|fbm|erm)(\d+)")


@dataclass(frozen=True)
class Source:
    """One file's predictor parameters: ``pcoders[n]`` maps the local (``pmodule``) key to
    the key as written in the file and its tensor."""

    path: Path
    format: str
    pcoders: dict[int, dict[str, tuple[str, torch.Tensor]]]
    hyperparameters: dict[str, dict[int, float]] = field(default_factory=dict)
    epoch: int | None = None


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_feedback` wrote: the feedback file and the training record in it."""

    weights: Path
    record: dict[str, Any]


def import_feedback(spec: ModelSpec, files: Sequence[Path], out: Path | None = None) -> ImportResult:
    """Map the predictor parameters in ``files`` onto PC variant ``spec``'s predictors and
    save them as pcbench feedback weights whose training record says ``imported`` and holds
    each file's SHA-256. ``out`` defaults to the file the model loads
    (:func:`pcbench.training.feedback.output_path`); nothing is written unless every file fits.
    """
    if spec.variant != "pc" or spec.pc is None:
        raise PcbenchError(
            f"model '{spec.name}' is a feedforward model; import-feedback imports a PC variant's predictors"
        )
    out = output_path(spec, out)
    targets = predictor_shapes(spec)
    sources = _read_sources(files, len(targets))
    state: dict[str, torch.Tensor] = {}
    for source in sources:
        for n, parameters in source.pcoders.items():
            mapped = _map_pcoder(spec.name, n, source.path, parameters, targets[n - 1])
            state.update({f"{n - 1}.{key}": tensor for key, tensor in mapped.items()})
    record = _record(spec, sources, len(targets))
    save_feedback_weights(out, state, record)
    return ImportResult(out, record)


def predictor_shapes(spec: ModelSpec) -> list[dict[str, tuple[int, ...]]]:
    """Per PCoder, the model's predictor keys and shapes (a weightless build on the meta
    device: nothing is downloaded or allocated)."""
    with torch.device("meta"):
        model = build_pc_model(spec, base_weights=False)
    return [{key: tuple(value.shape) for key, value in p.state_dict().items()} for p in model.predictors]


def read_source(path: Path, pcoder: int) -> Source:
    """The parameters in ``path``, its format detected; a per-PCoder file is PCoder ``pcoder``."""
    problem = file_problem(path)
    if problem is not None:  # a FIFO would block torch.load forever
        raise PcbenchError(f"cannot import '{path}': the file {problem}; allowed: a file written by torch.save")
    try:
        state = load_state_dict(path)
    except OSError as exc:
        raise PcbenchError(f"cannot read '{path}': {exc.strerror or exc}") from None
    if "pcoderweights" in state:
        return _training_checkpoint(path, state, pcoder)
    if any(key.startswith("backbone.") or _PCODER_KEY.fullmatch(key) for key in state):
        return _network(path, state)
    return Source(path, PREDICTOR, {pcoder: {key: (key, _tensor(path, key, value)) for key, value in state.items()}})


def _read_sources(files: Sequence[Path], count: int) -> list[Source]:
    """Every file read: one network file, or ``count`` per-PCoder files in PCoder order."""
    if not files:
        raise PcbenchError("import-feedback needs at least one file")
    sources = [read_source(Path(path), n) for n, path in enumerate(files, start=1)]
    networks = [source for source in sources if source.format == NETWORK]
    if networks and len(sources) > 1:
        raise PcbenchError(
            f"'{networks[0].path}' is a whole network's state dict; give it alone, or {count} per-PCoder files"
        )
    if networks:
        found = sorted(networks[0].pcoders)
        missing = sorted(set(range(1, count + 1)) - set(found))
        extra = sorted(set(found) - set(range(1, count + 1)))
        if missing or extra:
            problem = f"has no pcoder{missing[0]}.pmodule.* keys" if missing else f"has pcoder{extra[0]}.pmodule.*"
            raise PcbenchError(f"'{networks[0].path}' {problem}; the model has PCoders 1..{count}")
    elif len(sources) != count:
        raise PcbenchError(
            f"{len(sources)} per-PCoder files given, but the model has {count} PCoders; give one file per PCoder, "
            "in PCoder order (n = 1..N)"
        )
    return sources


def _training_checkpoint(path: Path, state: dict[str, Any], pcoder: int) -> Source:
    weights = state["pcoderweights"]
    if not isinstance(weights, dict):
        raise PcbenchError(f"'{path}': 'pcoderweights' holds a {type(weights).__name__}, not a state dict")
    parameters = {}
    for key, value in weights.items():
        if not str(key).startswith("pmodule."):
            raise PcbenchError(f"PCoder {pcoder}: '{path}' has unexpected key 'pcoderweights/{key}' (not pmodule.*)")
        parameters[key.removeprefix("pmodule.")] = (f"pcoderweights/{key}", _tensor(path, key, value))
    epoch = state.get("epoch")
    return Source(path, TRAINING_CHECKPOINT, {pcoder: parameters}, epoch=epoch if isinstance(epoch, int) else None)


def _network(path: Path, state: dict[str, Any]) -> Source:
    pcoders: dict[int, dict[str, tuple[str, torch.Tensor]]] = {}
    hyperparameters: dict[str, dict[int, float]] = {}
    for key, value in state.items():
        if key.startswith("backbone."):
            continue
        pcoder = _PCODER_KEY.fullmatch(key)
        hyperparameter = _HYPERPARAMETER_KEY.fullmatch(key)
        if pcoder is not None:
            pcoders.setdefault(int(pcoder.group(1)), {})[pcoder.group(2)] = (key, _tensor(path, key, value))
        elif hyperparameter is not None:
            tensor = _tensor(path, key, value)
            if tensor.numel() != 1:
                raise PcbenchError(f"'{path}': key '{key}' has shape {tuple(tensor.shape)}, expected one number")
            name = HYPERPARAMETERS[hyperparameter.group(1)]
            hyperparameters.setdefault(name, {})[int(hyperparameter.group(2))] = float(tensor)
        else:
            raise PcbenchError(
                f"'{path}' has unexpected key '{key}' (a network state dict holds backbone.*, "
                "pcoder<n>.pmodule.*, ffm<n>, fbm<n>, erm<n>)"
            )
    return Source(path, NETWORK, pcoders, hyperparameters)


def _tensor(path: Path, key: str, value: Any) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise PcbenchError(f"'{path}': key '{key}' holds a {type(value).__name__}, not a tensor")
    return value


def _map_pcoder(
    model: str,
    n: int,
    path: Path,
    parameters: dict[str, tuple[str, torch.Tensor]],
    target: dict[str, tuple[int, ...]],
) -> dict[str, torch.Tensor]:
    """PCoder ``n``'s parameters under the model's predictor keys, every shape checked."""
    if set(parameters) == set(target):
        pairs = [(key, parameters[key]) for key in target]
    else:
        _check_keys(model, n, path, list(parameters), list(target))
        pairs = list(zip(target, parameters.values(), strict=True))
    mapped = {}
    for key, (written, tensor) in pairs:
        if tuple(tensor.shape) != target[key]:
            raise PcbenchError(
                f"PCoder {n}: '{path}' key '{written}' has shape {tuple(tensor.shape)}, but {model}'s predictor "
                f"{n} expects {target[key]} (its '{key}')"
            )
        mapped[key] = tensor
    return mapped


def _check_keys(model: str, n: int, path: Path, found: list[str], expected: list[str]) -> None:
    """Keys that differ must pair up in order with equal last components."""
    for index in range(max(len(found), len(expected))):
        have = found[index] if index < len(found) else None
        want = expected[index] if index < len(expected) else None
        if have is None or want is None or have.rsplit(".", 1)[-1] != want.rsplit(".", 1)[-1]:
            problem = (
                f"is missing a key for '{want}'"
                if have is None
                else f"has unexpected key '{have}'"
                if want is None
                else f"has key '{have}' where {model}'s predictor {n} has '{want}'"
            )
            raise PcbenchError(f"PCoder {n}: '{path}' {problem} (the predictor's keys: {', '.join(expected)})")


def _record(spec: ModelSpec, sources: list[Source], count: int) -> dict[str, Any]:
    """The training record: ``imported``, from which files (SHA-256, format, PCoders)."""
    files = []
    for source in sources:
        entry: dict[str, Any] = {
            "file": str(source.path),
            "sha256": hash_file(source.path),
            "format": source.format,
            "pcoders": sorted(source.pcoders),
        }
        if source.epoch is not None:
            entry["epoch"] = source.epoch
        files.append(entry)
    record: dict[str, Any] = {
        "model": spec.name,
        "base": spec.base,
        "objective": "imported (predictor weights trained elsewhere, not by pcbench)",
        "imported": files,
        "pcbench": package_versions()["pcbench_version"],
        "torch": str(torch.__version__),
        "created_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    hyperparameters = {name: values for source in sources for name, values in source.hyperparameters.items()}
    if hyperparameters:
        record["imported_hyperparameters"] = {
            name: [values.get(n) for n in range(1, count + 1)] for name, values in hyperparameters.items()
        }
    return record
