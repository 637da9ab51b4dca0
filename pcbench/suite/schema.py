"""Benchmark suite schema: frozen dataclasses and the validation that builds them.

A suite says which models to evaluate, on which data set, at which timesteps, under
which corruptions and attacks. :func:`parse_suite` turns the mapping read from a suite
TOML file into a :class:`Suite`; every problem raises :class:`PcbenchError` with one
line naming the file (``<suite>`` when there is none), the dotted key, the bad value
and what is allowed.
"""

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn, TypeVar

from pcbench.errors import PcbenchError
from pcbench.hashing import hash_json
from pcbench.names import ALLOWED, is_name

#: Attack kinds run through foolbox 3.
FOOLBOX_KINDS = ("fgsm", "pgd-linf", "pgd-l2", "bim-linf")
#: Attack kinds run through AutoAttack (pyautoattack): the ensemble and its single attacks.
AUTOATTACK_KINDS = ("autoattack", "apgd-ce", "apgd-dlr", "apgd-t", "fab-t", "square")
ATTACK_KINDS = FOOLBOX_KINDS + AUTOATTACK_KINDS
#: The norm each foolbox kind bounds its perturbation in (its threat model, with ε); an
#: AutoAttack kind's norm is its ``norm`` key (``AUTOATTACK_NORMS``, lower-cased here).
ATTACK_NORMS = {"fgsm": "linf", "pgd-linf": "linf", "pgd-l2": "l2", "bim-linf": "linf"}
AUTOATTACK_NORMS = ("Linf", "L2")
#: AutoAttack's sub-attacks (pyautoattack's names) and the ones each version runs, in order.
AUTOATTACK_ATTACKS = ("apgd-ce", "apgd-dlr", "apgd-t", "fab", "fab-t", "square")
AUTOATTACK_VERSIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "standard": ("apgd-ce", "apgd-t", "fab-t", "square"),
        "plus": ("apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t"),
        "custom": (),  # the sub-attacks come from the ``attacks`` key
        "rand": ("apgd-ce", "apgd-dlr"),  # for randomised defenses: EOT over RAND_EOT draws
    }
)
#: Draws over which AutoAttack's ``rand`` version averages each APGD gradient (its ``eot_iter``).
RAND_EOT = 20
#: Attack kinds that take ``eot`` (their gradients can be averaged over draws): foolbox's and APGD's.
EOT_KINDS = (*FOOLBOX_KINDS, "autoattack", "apgd-ce", "apgd-dlr", "apgd-t")
GRADIENT_MODES = ("full", "detached")
ATTACK_TIMESTEPS = ("last", "each", "first", "mean", "sum")
SEVERITIES = (1, 2, 3, 4, 5)
CORRUPTION_SOURCES = ("generated", "precomputed")
#: Data sets with a canonical precomputed corruption set, and that set's name.
PRECOMPUTED_SETS: Mapping[str, str] = MappingProxyType(
    {"cifar10": "CIFAR-10-C", "cifar100": "CIFAR-100-C", "imagenet": "ImageNet-C"}
)

#: Data sets a suite may name, mapped to whether they need ``dataset.root``.
DEFAULT_DATASETS: Mapping[str, bool] = MappingProxyType(
    {"digits": False, "cifar10": True, "cifar100": True, "imagenet": True, "imagefolder": True}
)

# kind -> (steps, rel_stepsize, random_start) defaults; foolbox's defaults for pgd/bim.
_ATTACK_DEFAULTS: Mapping[str, tuple[int, float | None, bool]] = MappingProxyType(
    {
        "fgsm": (1, None, False),
        "pgd-linf": (40, 0.01 / 0.3, True),
        "pgd-l2": (50, 0.025, True),
        "bim-linf": (10, 0.2, False),
    }
)

_SUITE_KEYS = (
    "name",
    "description",
    "seed",
    "draws",
    "models",
    "timesteps",
    "clean",
    "dataset",
    "corruptions",
    "attacks",
)
_DATASET_KEYS = ("name", "split", "root", "limit", "seed")
_CORRUPTION_KEYS = ("names", "severities", "source", "root")
_COMMON_ATTACK_KEYS = ("kind", "epsilons", "gradient_mode", "attack_timestep", "limit", "samples", "eot")
_FOOLBOX_KEYS = ("steps", "rel_stepsize", "random_start", "targeted")
#: AutoAttack settings a suite may override (``None`` in :class:`AttackConfig` keeps the
#: standard version's), with the label prefix that records each: ``-i100``, ``-r5``, ...
AUTOATTACK_OVERRIDES: Mapping[str, str] = MappingProxyType(
    {"n_iter": "i", "n_restarts": "r", "n_queries": "q", "n_target_classes": "c"}
)
#: The samples an AutoAttack kind attacks at once (its ``batch_size`` key), unless the suite
#: says otherwise: ``pcbench run --batch-size``'s default. A sample's adversarial image can
#: depend on its batch companions (:mod:`pcbench.perturbations.autoattack`), so the batch size
#: is a suite setting, part of the attack's ``params()`` and so of its cells' keys.
AUTOATTACK_BATCH_SIZE = 128
#: kind -> the keys it takes besides the common ones: each single attack the overrides its
#: AutoAttack object reads (FAB-T runs one restart whatever is set: AutoAttack forces it);
#: the ensemble every override, applied to each of its sub-attacks that has the setting.
#: Every AutoAttack kind also takes ``batch_size``.
_KIND_KEYS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        **{kind: _FOOLBOX_KEYS for kind in FOOLBOX_KINDS},
        "autoattack": ("norm", "version", "attacks", *AUTOATTACK_OVERRIDES, "batch_size"),
        "apgd-ce": ("norm", "n_iter", "n_restarts", "batch_size"),
        "apgd-dlr": ("norm", "n_iter", "n_restarts", "batch_size"),
        "apgd-t": ("norm", "n_iter", "n_restarts", "n_target_classes", "batch_size"),
        "fab-t": ("norm", "n_iter", "n_target_classes", "batch_size"),
        "square": ("norm", "n_restarts", "n_queries", "batch_size"),
    }
)
#: Every key some attack kind takes: a key outside it is "unknown", one inside it but not
#: the kind's "not allowed for" that kind; both errors list the kind's keys only.
_ANY_ATTACK_KEY = frozenset(_COMMON_ATTACK_KEYS).union(*_KIND_KEYS.values())
#: Each sub-attack's settings as AutoAttack's standard version runs it (pyautoattack 0.2.0, L∞
#: and L2); pcbench applies them, so the recorded ``attack_params`` are what ran. The plus
#: version differs only in :data:`_PLUS_RESTARTS`.
_SUB_ATTACK_SETTINGS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "apgd-ce": {"loss": "ce", "n_iter": 100, "n_restarts": 1, "eot_iter": 1, "rho": 0.75},
        "apgd-dlr": {"loss": "dlr", "n_iter": 100, "n_restarts": 1, "eot_iter": 1, "rho": 0.75},
        "apgd-t": {
            "loss": "dlr-targeted",
            "n_iter": 100,
            "n_restarts": 1,
            "n_target_classes": 9,
            "eot_iter": 1,
            "rho": 0.75,
        },
        "fab": {"n_iter": 100, "n_restarts": 1, "alpha_max": 0.1, "eta": 1.05, "beta": 0.9},
        "fab-t": {"n_iter": 100, "n_restarts": 1, "n_target_classes": 9, "alpha_max": 0.1, "eta": 1.05, "beta": 0.9},
        "square": {"loss": "margin", "n_queries": 5000, "n_restarts": 1, "p_init": 0.8, "resc_schedule": False},
    }
)
_PLUS_RESTARTS = MappingProxyType({"apgd-ce": 5, "apgd-dlr": 5, "fab": 5})
#: Settings AutoAttack sets itself while it runs, which no override changes.
_FORCED = frozenset({("fab-t", "n_restarts")})
_AUTOATTACK_FIELDS = ("norm", "version", "sub_attacks", *AUTOATTACK_OVERRIDES)
_OVERRIDES = "overrides"  # the source named in errors raised by Suite.with_overrides

T = TypeVar("T")


@dataclass(frozen=True)
class DatasetConfig:
    """The evaluation data: a known data set, its split, where it lives and which subset.

    ``root`` is an absolute path (``None`` when the data set needs none); ``limit`` keeps
    a random subset of that many samples drawn with ``seed`` (``None`` keeps them all).
    """

    name: str
    split: str = "test"
    root: Path | None = None
    limit: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class CorruptionConfig:
    """The image corruptions (``imagecorruptions`` names) and severities (1..5) to apply.

    ``source`` is ``"generated"`` (imagecorruptions, on the fly, cached) or
    ``"precomputed"`` (the canonical -C files under ``root``, an absolute path).
    """

    names: tuple[str, ...]
    severities: tuple[int, ...]
    source: str = "generated"
    root: Path | None = None


@dataclass(frozen=True)
class AttackConfig:
    """One adversarial attack evaluated at each of its ``epsilons``.

    ``target_offset`` makes the attack targeted at class ``(y + target_offset) mod
    classes``; ``gradient_mode`` says whether gradients flow through the recurrent
    feedback (``"full"``) or not (``"detached"``); ``attack_timestep`` says which
    timestep's output the attack's loss uses.

    AutoAttack kinds (:data:`AUTOATTACK_KINDS`) also have a ``norm`` (``"Linf"`` or
    ``"L2"``), their ``sub_attacks`` in run order (``version`` for ``autoattack``) and
    optional overrides of the standard version's settings (:data:`AUTOATTACK_OVERRIDES`:
    ``n_iter``, ``n_restarts``, ``n_queries``, ``n_target_classes``; ``None`` keeps them),
    applied to every sub-attack that has the setting. Their ``steps`` is derived: the most
    gradient passes a sample can cost (Square's queries count a third), for the ETA.

    ``limit`` attacks only a seeded, class-stratified subset of that many samples of the
    evaluation set (:meth:`pcbench.data.ImageSet.subset` with the suite's seed; the whole set
    when it is smaller): for attacks too costly to run on every sample. Its rows have
    ``n = limit``, and a best-known robust accuracy counts each sample as robust when no
    attack tried *on it* broke it.

    ``samples = "correct"`` (Predify's protocol) attacks only the samples the model
    classifies correctly on clean images at every timestep it is evaluated at (before any
    ``limit`` subset is drawn from them); the set then depends on the model, its rows' ``n``
    says how many there were and ``subset_hash`` which, and the label gets ``-correct``.
    ``"all"`` (the default) attacks every sample.

    ``eot`` (Expectation over Transformation, for stochastic models) averages every gradient
    the attack takes over that many forward passes (draws of the model's randomness): for
    foolbox kinds the loss is averaged over ``eot`` forwards per step, for APGD (alone or in
    an ensemble) it is AutoAttack's ``eot_iter``; FAB and Square take none. The label gets
    ``-eot<n>``; AutoAttack's ``rand`` version defaults to :data:`RAND_EOT`.

    ``batch_size`` (AutoAttack kinds only; ``None`` for foolbox kinds, whose images do not
    depend on their batch and which batch by ``pcbench run --batch-size``) is how many samples
    one AutoAttack run attacks at once (default :data:`AUTOATTACK_BATCH_SIZE`). A sample's
    image can depend on its batch companions, so it is in :meth:`params` (the cells' keys and
    ``attack_params``) and a non-default value adds ``-b<batch_size>`` to the label.
    """

    kind: str
    epsilons: tuple[float, ...]
    steps: int
    rel_stepsize: float | None
    random_start: bool
    target_offset: int | None = None
    gradient_mode: str = "full"
    attack_timestep: str = "last"
    norm: str | None = None
    version: str | None = None
    sub_attacks: tuple[str, ...] = ()
    n_restarts: int | None = None
    n_queries: int | None = None
    n_target_classes: int | None = None
    limit: int | None = None
    n_iter: int | None = None
    samples: str = "all"
    eot: int = 1
    batch_size: int | None = None

    @property
    def label(self) -> str:
        """Label used in file names and leaderboards, e.g. ``bim-linf-t800``, ``fgsm-detached``,
        ``autoattack-linf``, ``square-l2-sum``, ``square-linf-q1000-n40``, ``apgd-ce-linf-i10``:
        overridden AutoAttack settings add ``-i<n_iter>``, ``-r<n_restarts>``, ``-q<n_queries>``,
        ``-c<n_target_classes>`` (:data:`AUTOATTACK_OVERRIDES`), a non-default AutoAttack
        ``batch_size`` adds ``-b<batch_size>`` and an attack ``limit`` adds ``-n<limit>``, so
        entries that differ only there never share a label."""
        label = self.kind
        if self.version not in (None, "standard"):
            label += f"-{self.version}"
        if self.norm is not None:
            label += f"-{self.norm.lower()}"
        for name, prefix in AUTOATTACK_OVERRIDES.items():
            value = getattr(self, name)
            if value is not None:
                label += f"-{prefix}{value}"
        if self.batch_size not in (None, AUTOATTACK_BATCH_SIZE):
            label += f"-b{self.batch_size}"
        if self.limit is not None:
            label += f"-n{self.limit}"
        if self.target_offset is not None:
            label += f"-t{self.target_offset}"
        if self.gradient_mode == "detached":
            label += "-detached"
        if self.attack_timestep != "last":
            label += f"-{self.attack_timestep}"
        if self.samples != "all":
            label += f"-{self.samples}"
        if self.eot != 1:
            label += f"-eot{self.eot}"
        return label

    def params(self) -> dict[str, Any]:
        """Every setting except the epsilons, as a JSON-able dict (for cache keys); for an
        AutoAttack kind also ``autoattack``: its version, norm, sub-attacks and their settings."""
        params = dataclasses.asdict(self)
        del params["epsilons"]
        for name in _AUTOATTACK_FIELDS:
            del params[name]
        if self.limit is None:
            del params["limit"]  # absent, not null: cell keys of attacks without a limit stay as they were
        if self.samples == "all":
            del params["samples"]  # absent by default: cell keys of attacks on every sample stay as they were
        if self.eot == 1:
            del params["eot"]  # absent with one draw: cell keys of attacks without EOT stay as they were
        if self.batch_size is None:
            del params["batch_size"]  # foolbox kinds: their images do not depend on the batch; keys unchanged
        if self.kind in AUTOATTACK_KINDS:
            params["autoattack"] = {
                "version": self.version or "custom",
                "norm": self.norm,
                "attacks": list(self.sub_attacks),
                "settings": self.sub_attack_settings(),
            }
        return params

    def sub_attack_settings(self) -> dict[str, dict[str, Any]]:
        """AutoAttack sub-attack -> the settings it runs with (empty for foolbox kinds): the
        standard version's, the plus version's restarts, then each override the sub-attack has
        (an ensemble's ``n_queries`` reaches Square only, its ``n_restarts`` not FAB-T), and
        ``eot`` as APGD's ``eot_iter``."""
        settings = {}
        for attack in self.sub_attacks:
            values = dict(_SUB_ATTACK_SETTINGS[attack])
            if self.version == "plus" and attack in _PLUS_RESTARTS:
                values["n_restarts"] = _PLUS_RESTARTS[attack]
            for name in AUTOATTACK_OVERRIDES:
                value = getattr(self, name)
                if value is not None and name in values and (attack, name) not in _FORCED:
                    values[name] = value
            if "eot_iter" in values:
                values["eot_iter"] = self.eot
            settings[attack] = values
        return settings


def attack_label_norm(label: str) -> str:
    """The norm (``linf`` or ``l2``) of the attack behind a label made by :attr:`AttackConfig.label`."""
    norms = {norm.lower() for norm in AUTOATTACK_NORMS}
    for kind in sorted(ATTACK_KINDS, key=len, reverse=True):
        if label == kind or label.startswith(f"{kind}-"):
            if kind in ATTACK_NORMS:
                return ATTACK_NORMS[kind]
            norm = next((part for part in label.removeprefix(kind).split("-") if part in norms), None)
            if norm is not None:
                return norm
            break
    raise PcbenchError(
        f"attack label {label!r} does not start with a known kind ({', '.join(ATTACK_KINDS)}) followed by its norm"
    )


@dataclass(frozen=True)
class Suite:
    """A validated benchmark suite.

    ``path`` is the file it was loaded from (``None`` when parsed from a dict);
    ``timesteps`` is ``None`` for each model's default; ``content_hash`` hashes every
    other field except ``path``, so it identifies what the suite evaluates.

    ``draws`` (default 1): how many times each cell of a *stochastic* model (one whose
    outputs differ between two forwards of the same batch, :mod:`pcbench.runner.stochastic`)
    is evaluated, each draw with its own seeds; deterministic models are evaluated once.
    """

    name: str
    description: str
    path: Path | None
    seed: int
    models: tuple[str, ...]
    timesteps: tuple[int, ...] | None
    clean: bool
    dataset: DatasetConfig
    corruptions: CorruptionConfig | None
    attacks: tuple[AttackConfig, ...]
    content_hash: str
    draws: int = 1

    def with_overrides(
        self,
        *,
        seed: int | None = None,
        limit: int | None = None,
        models: Sequence[str] | None = None,
        timesteps: int | Sequence[int] | None = None,
    ) -> "Suite":
        """A copy with the suite seed, the data subset size, the models or the timesteps
        (T, or a list) replaced."""
        changes: dict[str, Any] = {}
        if timesteps is not None:
            changes["timesteps"] = _parse_timesteps(
                _OVERRIDES, list(timesteps) if isinstance(timesteps, (list, tuple)) else timesteps
            )
        if seed is not None:
            changes["seed"] = _require_int(_OVERRIDES, "seed", seed, minimum=0)
        if limit is not None:
            limit = _require_int(_OVERRIDES, "dataset.limit", limit, minimum=1)
            changes["dataset"] = dataclasses.replace(self.dataset, limit=limit)
        if models is not None:
            changes["models"] = _require_list(_OVERRIDES, "models", models, _require_str)
        return _with_hash(dataclasses.replace(self, **changes))


def parse_suite(
    data: Mapping[str, Any],
    *,
    source: str = "<suite>",
    base_dir: Path | None = None,
    datasets: Mapping[str, bool] = DEFAULT_DATASETS,
) -> Suite:
    """Validate a parsed suite mapping and build a :class:`Suite` (with ``path=None``).

    ``source`` names the suite in error messages; a relative ``dataset.root`` is taken
    relative to ``base_dir`` (the working directory when ``None``); ``datasets`` maps
    each allowed data set name to whether it needs a ``root`` (one that needs none needs no
    precomputed ``corruptions.root`` either: how ``pcbench run --dry-run`` plans without the data).
    """
    table = _table(source, "", data, _SUITE_KEYS)
    name = _require_str(source, "name", _required(source, table, "", "name"))
    if not is_name(name):
        _fail(source, "name", name, ALLOWED)
    corruptions = table.get("corruptions")
    dataset = _parse_dataset(source, _required(source, table, "", "dataset"), base_dir, datasets)
    suite = Suite(
        name=name,
        description=_require_str(source, "description", table.get("description", ""), empty=True),
        path=None,
        seed=_require_int(source, "seed", table.get("seed", 0), minimum=0),
        draws=_require_int(source, "draws", table.get("draws", 1), minimum=1),
        models=_require_list(source, "models", _required(source, table, "", "models"), _require_str),
        timesteps=_parse_timesteps(source, table.get("timesteps")),
        clean=_require_bool(source, "clean", table.get("clean", True)),
        dataset=dataset,
        corruptions=None
        if corruptions is None
        else _parse_corruptions(source, corruptions, base_dir, dataset.name, datasets[dataset.name]),
        attacks=_parse_attacks(source, table.get("attacks", [])),
        content_hash="",
    )
    return _with_hash(suite)


def _with_hash(suite: Suite) -> Suite:
    """``suite`` with ``content_hash`` computed from every field but ``path``."""
    content = dataclasses.asdict(suite)
    del content["path"], content["content_hash"]
    if suite.draws == 1:
        del content["draws"]  # absent by default: the hashes of suites without draws stay as they were
    content["attacks"] = [{"epsilons": list(attack.epsilons), **attack.params()} for attack in suite.attacks]
    root = suite.dataset.root
    content["dataset"]["root"] = None if root is None else str(root)
    return dataclasses.replace(suite, content_hash=hash_json(content))


# --- sections -------------------------------------------------------------------------


def _parse_timesteps(src: str, value: object) -> tuple[int, ...] | None:
    """``None`` (absent), an int T meaning 0..T, or a list of distinct ints, sorted."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return tuple(range(_require_int(src, "timesteps", value, minimum=0) + 1))
    if isinstance(value, (list, tuple)):
        check = partial(_require_int, minimum=0)
        return tuple(sorted(_require_list(src, "timesteps", value, check, distinct=True)))
    _fail(src, "timesteps", value, "an integer T >= 0 (timesteps 0..T) or a non-empty list of distinct integers >= 0")


def _parse_dataset(src: str, value: object, base_dir: Path | None, datasets: Mapping[str, bool]) -> DatasetConfig:
    """The ``[dataset]`` table; checks that a needed root is given and exists."""
    table = _table(src, "dataset", value, _DATASET_KEYS)
    name = _require_choice(src, "dataset.name", _required(src, table, "dataset", "name"), tuple(datasets))
    raw_root = table.get("root")
    if raw_root is None and datasets[name]:
        raise PcbenchError(
            f"{src}: dataset.root is missing; data set {name!r} needs "
            "root = a directory holding its files (or pass pcbench run --root DIR)"
        )
    limit = table.get("limit")
    return DatasetConfig(
        name=name,
        split=_require_str(src, "dataset.split", table.get("split", "test")),
        root=None if raw_root is None else _resolve_root(src, raw_root, base_dir, name),
        limit=None if limit is None else _require_int(src, "dataset.limit", limit, minimum=1),
        seed=_require_int(src, "dataset.seed", table.get("seed", 0), minimum=0),
    )


def _resolve_root(src: str, value: object, base_dir: Path | None, dataset: str) -> Path:
    """``dataset.root`` with ``~`` expanded, made absolute against ``base_dir``; must exist."""
    return _existing_path(src, "dataset.root", value, base_dir, f"a directory holding the {dataset} data set")


def _existing_path(src: str, key: str, value: object, base_dir: Path | None, expected: str) -> Path:
    """A path with ``~`` expanded, made absolute against ``base_dir``; must exist."""
    raw = _require_str(src, key, value)
    path = Path(raw).expanduser()
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    if not path.exists():
        resolved = "" if str(path) == raw else f" (resolved to {str(path)!r})"
        raise PcbenchError(f"{src}: {key} = {raw!r}{resolved} does not exist; expected {expected}")
    return path.resolve()


def _parse_corruptions(
    src: str, value: object, base_dir: Path | None, dataset: str, needs_root: bool
) -> CorruptionConfig:
    """The ``[corruptions]`` table: names (``"all"``, ``"common"`` or a list), severities,
    and the source: ``generated`` (default) or ``precomputed`` from ``root`` (the data set's
    canonical -C set, which must exist)."""
    table = _table(src, "corruptions", value, _CORRUPTION_KEYS)
    names = table.get("names", "all")
    if names in ("all", "common"):
        names = _corruption_names(names)
    elif isinstance(names, (list, tuple)):
        check = partial(_require_choice, choices=_corruption_names("all"))
        names = _require_list(src, "corruptions.names", names, check)
    else:
        _fail(src, "corruptions.names", names, "'all', 'common' or a non-empty list of corruption names")
    check_severity = partial(_require_int, minimum=SEVERITIES[0], maximum=SEVERITIES[-1])
    severities = _require_list(src, "corruptions.severities", table.get("severities", list(SEVERITIES)), check_severity)
    source = _require_choice(src, "corruptions.source", table.get("source", "generated"), CORRUPTION_SOURCES)
    raw_root = table.get("root")
    if source == "generated":
        if raw_root is not None:
            _fail(
                src, "corruptions.root", raw_root, "no root with source = 'generated' (the root of precomputed files)"
            )
        return CorruptionConfig(names=names, severities=severities)
    if dataset not in PRECOMPUTED_SETS:
        _fail(
            src,
            "corruptions.source",
            source,
            f"'generated' for dataset {dataset!r}: precomputed sets exist for {', '.join(PRECOMPUTED_SETS)}",
        )
    if raw_root is None and not needs_root:  # a plan without the data (pcbench run --dry-run)
        return CorruptionConfig(names=names, severities=severities, source=source)
    if raw_root is None:
        raise PcbenchError(
            f"{src}: corruptions.root is missing; source = 'precomputed' needs "
            f"root = the directory holding {PRECOMPUTED_SETS[dataset]} "
            "(or pass pcbench run --corruptions-root DIR)"
        )
    root = _existing_path(
        src, "corruptions.root", raw_root, base_dir, f"a directory holding {PRECOMPUTED_SETS[dataset]}"
    )
    return CorruptionConfig(names=names, severities=severities, source=source, root=root)


@cache
def _corruption_names(subset: str) -> tuple[str, ...]:
    """``imagecorruptions`` names of a subset, in its order (imported lazily: it is slow)."""
    from imagecorruptions import get_corruption_names

    return tuple(get_corruption_names(subset))


def _parse_attacks(src: str, value: object) -> tuple[AttackConfig, ...]:
    """The ``[[attacks]]`` tables; their labels must be distinct."""
    if not isinstance(value, (list, tuple)):
        _fail(src, "attacks", value, "an array of tables ([[attacks]])")
    attacks = tuple(_parse_attack(src, f"attacks[{i}]", item) for i, item in enumerate(value))
    first_with_label: dict[str, int] = {}
    for i, attack in enumerate(attacks):
        j = first_with_label.setdefault(attack.label, i)
        if j == i:
            continue
        if attack == attacks[j]:
            raise PcbenchError(
                f"{src}: attacks[{i}] repeats attacks[{j}] ({attack.label!r} with identical settings); remove one"
            )
        raise PcbenchError(
            f"{src}: attacks[{j}] and attacks[{i}] share the label {attack.label!r}; merge "
            "them into one table (list all epsilons) or change targeted, norm, version, gradient_mode "
            "or attack_timestep in one of them"
        )
    return attacks


def _parse_attack(src: str, key: str, value: object) -> AttackConfig:
    """One ``[[attacks]]`` table, with the kind's defaults filled in."""
    if not isinstance(value, Mapping):
        _fail(src, key, value, "a table")
    kind = _require_choice(src, f"{key}.kind", _required(src, value, key, "kind"), ATTACK_KINDS)
    table = _attack_table(src, key, value, kind)
    if kind in AUTOATTACK_KINDS:
        return _parse_autoattack(src, key, table, kind)
    default_steps, default_rel_stepsize, default_random_start = _ATTACK_DEFAULTS[kind]
    steps = _require_int(src, f"{key}.steps", table.get("steps", default_steps), minimum=1)
    rel_stepsize = table.get("rel_stepsize", default_rel_stepsize)
    if kind == "fgsm":
        if steps != 1:
            _fail(src, f"{key}.steps", steps, "1 (fgsm takes a single step)")
        if rel_stepsize is not None:
            _fail(src, f"{key}.rel_stepsize", rel_stepsize, "none for fgsm (its step is epsilon)")
    else:
        rel_stepsize = _require_number(src, f"{key}.rel_stepsize", rel_stepsize, minimum=0.0, inclusive=False)
    targeted = table.get("targeted")
    return AttackConfig(
        kind=kind,
        epsilons=_require_list(
            src, f"{key}.epsilons", _required(src, table, key, "epsilons"), partial(_require_number, minimum=0.0)
        ),
        steps=steps,
        rel_stepsize=rel_stepsize,
        random_start=_require_bool(src, f"{key}.random_start", table.get("random_start", default_random_start)),
        target_offset=None if targeted is None else _require_int(src, f"{key}.targeted", targeted, minimum=1),
        gradient_mode=_require_choice(src, f"{key}.gradient_mode", table.get("gradient_mode", "full"), GRADIENT_MODES),
        attack_timestep=_require_choice(
            src, f"{key}.attack_timestep", table.get("attack_timestep", "last"), ATTACK_TIMESTEPS
        ),
        limit=_attack_limit(src, key, table),
        samples=_attack_samples(src, key, table),
        eot=_attack_eot(src, key, table, kind),
    )


def _attack_table(src: str, key: str, table: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    """``table`` once each of its keys is one ``kind`` takes; the error lists that kind's keys only."""
    allowed = (*_COMMON_ATTACK_KEYS, *_KIND_KEYS[kind])
    for name in table:
        if name in allowed:
            continue
        if name not in _ANY_ATTACK_KEY:
            raise PcbenchError(f"{src}: unknown key '{key}.{name}'; kind {kind!r} takes: {', '.join(allowed)}")
        raise PcbenchError(
            f"{src}: {key}.{name} = {table[name]!r} is not allowed for kind {kind!r}; its keys: {', '.join(allowed)}"
        )
    return table


def _attack_limit(src: str, key: str, table: Mapping[str, Any]) -> int | None:
    """An attack's optional ``limit``: a positive number of samples."""
    return None if "limit" not in table else _require_int(src, f"{key}.limit", table["limit"], minimum=1)


#: What an attack's ``samples`` may be: every sample, or those correct at every timestep.
ATTACK_SAMPLES = ("all", "correct")


def _attack_samples(src: str, key: str, table: Mapping[str, Any]) -> str:
    """An attack's ``samples``: ``"all"`` (default) or ``"correct"`` (see :class:`AttackConfig`)."""
    return _require_choice(src, f"{key}.samples", table.get("samples", "all"), ATTACK_SAMPLES)


def _attack_eot(src: str, key: str, table: Mapping[str, Any], kind: str, default: int = 1) -> int:
    """An attack's ``eot``: draws per gradient (``default`` when absent), for :data:`EOT_KINDS` only."""
    if "eot" not in table:
        return default
    if kind not in EOT_KINDS:
        _fail(
            src,
            f"{key}.eot",
            table["eot"],
            f"no eot for kind {kind!r} (eot averages gradients of {', '.join(EOT_KINDS)})",
        )
    return _require_int(src, f"{key}.eot", table["eot"], minimum=1)


def _parse_autoattack(src: str, key: str, table: Mapping[str, Any], kind: str) -> AttackConfig:
    """An AutoAttack ``[[attacks]]`` table (its keys already checked against the kind's)."""
    norm = _require_choice(src, f"{key}.norm", table.get("norm", "Linf"), AUTOATTACK_NORMS)
    version, sub_attacks = _autoattack_version(src, key, table, kind)
    overrides = {
        name: _require_int(src, f"{key}.{name}", table[name], minimum=1)
        for name in AUTOATTACK_OVERRIDES
        if name in table
    }
    config = AttackConfig(
        kind=kind,
        epsilons=_require_list(
            src, f"{key}.epsilons", _required(src, table, key, "epsilons"), partial(_require_epsilon, norm=norm)
        ),
        steps=1,
        rel_stepsize=None,
        random_start=False,
        gradient_mode=_require_choice(src, f"{key}.gradient_mode", table.get("gradient_mode", "full"), GRADIENT_MODES),
        attack_timestep=_require_choice(
            src, f"{key}.attack_timestep", table.get("attack_timestep", "last"), ATTACK_TIMESTEPS
        ),
        limit=_attack_limit(src, key, table),
        samples=_attack_samples(src, key, table),
        eot=_attack_eot(src, key, table, kind, RAND_EOT if version == "rand" else 1),
        batch_size=_require_int(src, f"{key}.batch_size", table.get("batch_size", AUTOATTACK_BATCH_SIZE), minimum=1),
        norm=norm,
        version=version,
        sub_attacks=sub_attacks,
        **overrides,
    )
    return dataclasses.replace(config, steps=_gradient_passes(config))


def _autoattack_version(src: str, key: str, table: Mapping[str, Any], kind: str) -> tuple[str | None, tuple[str, ...]]:
    """The version (``None`` for a single attack) and the sub-attacks it runs, in order."""
    if kind != "autoattack":
        return None, (kind,)
    version = _require_choice(src, f"{key}.version", table.get("version", "standard"), tuple(AUTOATTACK_VERSIONS))
    if version == "custom":
        check = partial(_require_choice, choices=AUTOATTACK_ATTACKS)
        return version, _require_list(src, f"{key}.attacks", _required(src, table, key, "attacks"), check)
    if "attacks" in table:
        _fail(
            src,
            f"{key}.attacks",
            table["attacks"],
            f"no attacks with version = {version!r}, which runs {', '.join(AUTOATTACK_VERSIONS[version])}; "
            "choose them with version = 'custom'",
        )
    return version, AUTOATTACK_VERSIONS[version]


def _require_epsilon(src: str, key: str, value: object, *, norm: str) -> float:
    """An AutoAttack budget: a finite number > 0, at most 1 in L∞ (images lie in [0, 1])."""
    ok = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value > 0
        and (norm != "Linf" or value <= 1)
    )
    if not ok:
        _fail(
            src,
            key,
            value,
            "a number in (0, 1] for norm 'Linf' (images lie in [0, 1])"
            if norm == "Linf"
            else f"a finite number > 0 for norm {norm!r}",
        )
    return float(value)


def _gradient_passes(config: AttackConfig) -> int:
    """The most gradient passes one sample can cost (the sample survives every sub-attack);
    Square's forward-only queries count a third of a pass."""
    passes = 0
    for attack, settings in config.sub_attack_settings().items():
        if attack == "square":
            passes += settings["n_queries"] * settings["n_restarts"] // 3
        else:
            passes += settings["n_iter"] * settings["n_restarts"] * settings.get("n_target_classes", 1)
    return max(passes, 1)


# --- generic checkers -----------------------------------------------------------------


def _fail(src: str, key: str, value: object, allowed: str) -> NoReturn:
    """Raise the standard one-line error for a bad value."""
    raise PcbenchError(f"{src}: {key} = {value!r} is not allowed: {allowed}")


def _dotted(prefix: str, name: object) -> str:
    """``prefix.name``, or just ``name`` at the top level."""
    return f"{prefix}.{name}" if prefix else str(name)


def _table(src: str, key: str, value: object, allowed: Sequence[str]) -> Mapping[str, Any]:
    """Check that ``value`` is a table whose keys are all in ``allowed``."""
    if not isinstance(value, Mapping):
        _fail(src, key or "suite", value, "a table")
    for name in value:
        if name not in allowed:
            raise PcbenchError(f"{src}: unknown key {_dotted(key, name)!r}; allowed: {', '.join(allowed)}")
    return value


def _required(src: str, table: Mapping[str, Any], prefix: str, name: str) -> Any:
    """``table[name]``, or an error naming the missing key."""
    if name not in table:
        raise PcbenchError(f"{src}: missing required key {_dotted(prefix, name)!r}")
    return table[name]


def _require_int(src: str, key: str, value: object, *, minimum: int, maximum: int | None = None) -> int:
    """An int (not a bool) in ``minimum..maximum``."""
    in_range = (
        isinstance(value, int)
        and not isinstance(value, bool)
        and value >= minimum
        and (maximum is None or value <= maximum)
    )
    if not in_range:
        _fail(
            src,
            key,
            value,
            f"an integer >= {minimum}" if maximum is None else f"an integer from {minimum} to {maximum}",
        )
    return value


def _require_number(src: str, key: str, value: object, *, minimum: float, inclusive: bool = True) -> float:
    """A finite int or float (not a bool) ``>= minimum`` (``> minimum`` unless inclusive)."""
    ok = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value >= minimum if inclusive else value > minimum)
    )
    if not ok:
        _fail(src, key, value, f"a finite number {'>=' if inclusive else '>'} {minimum:g}")
    return float(value)


def _require_bool(src: str, key: str, value: object) -> bool:
    """A bool."""
    if not isinstance(value, bool):
        _fail(src, key, value, "true or false")
    return value


def _require_str(src: str, key: str, value: object, *, empty: bool = False) -> str:
    """A string, non-empty unless ``empty``."""
    if not isinstance(value, str) or not (empty or value):
        _fail(src, key, value, "a string" if empty else "a non-empty string")
    return value


def _require_choice(src: str, key: str, value: object, choices: Sequence[str]) -> str:
    """One of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        _fail(src, key, value, f"one of {', '.join(choices)}")
    return value


def _require_list(
    src: str, key: str, value: object, check_item: Callable[[str, str, object], T], *, distinct: bool = False
) -> tuple[T, ...]:
    """A non-empty list whose items pass ``check_item(src, item_key, item)``.

    Repeated items are dropped (keeping the first), or rejected when ``distinct``.
    """
    if not isinstance(value, (list, tuple)) or not value:
        _fail(src, key, value, "a non-empty list")
    items: dict[T, None] = {}
    for index, item in enumerate(value):
        checked = check_item(src, f"{key}[{index}]", item)
        if distinct and checked in items:
            _fail(src, f"{key}[{index}]", item, f"a value not already in {key}")
        items[checked] = None
    return tuple(items)
