"""A suite file's tables: pydantic models that validate it, and :func:`parse_suite`, which
turns them into a :class:`~pcbench.suite.schema.Suite`.

Every problem raises :class:`~pcbench.errors.PcbenchError` with one line naming the file
(``<suite>`` when there is none), the dotted key, the bad value and what is allowed
(:mod:`pcbench.validation`). What spans several keys or the disk (a root must exist, attack
labels must differ) is checked after the tables. :class:`SuiteTable`'s JSON Schema is what
``pcbench schema suite`` prints.

Example::

    suite = parse_suite({"name": "t", "models": ["digits-cnn"], "dataset": {"name": "digits"}})
    suite.timesteps  # None: each model's default T
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, NoReturn, Union, get_args

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    Strict,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from pcbench.errors import PcbenchError
from pcbench.names import ALLOWED, NAME_PATTERN
from pcbench.suite.schema import (
    ATTACK_KINDS,
    ATTACK_SAMPLES,
    ATTACK_TIMESTEPS,
    AUTOATTACK_ATTACKS,
    AUTOATTACK_BATCH_SIZE,
    AUTOATTACK_NORMS,
    AUTOATTACK_OVERRIDES,
    AUTOATTACK_VERSIONS,
    CORRUPTION_SOURCES,
    DEFAULT_DATASETS,
    EOT_KINDS,
    FOOLBOX_KINDS,
    GRADIENT_MODES,
    PRECOMPUTED_SETS,
    RAND_EOT,
    SEVERITIES,
    AttackConfig,
    CorruptionConfig,
    DatasetConfig,
    Suite,
    with_content_hash,
)
from pcbench.validation import RULE, Table, allowed, fail, validated

# kind -> (steps, rel_stepsize, random_start) defaults; foolbox's defaults for pgd/bim.
_ATTACK_DEFAULTS: Mapping[str, tuple[int, float | None, bool]] = MappingProxyType(
    {
        "fgsm": (1, None, False),
        "pgd-linf": (40, 0.01 / 0.3, True),
        "pgd-l2": (50, 0.025, True),
        "bim-linf": (10, 0.2, False),
    }
)

_OVERRIDES = "overrides"  # the source named in errors raised by with_overrides
_TIMESTEPS = "an integer T >= 0 (timesteps 0..T) or a non-empty list of distinct integers >= 0"


def parse_suite(
    data: Mapping[str, Any],
    *,
    source: str = "<suite>",
    base_dir: Path | None = None,
    datasets: Mapping[str, bool] = DEFAULT_DATASETS,
) -> Suite:
    """Validate a parsed suite mapping (:class:`SuiteTable`) and build a :class:`Suite` (with ``path=None``).

    ``source`` names the suite in error messages; a relative ``dataset.root`` is taken
    relative to ``base_dir`` (the working directory when ``None``); ``datasets`` maps
    each allowed data set name to whether it needs a ``root`` (one that needs none needs no
    precomputed ``corruptions.root`` either: how ``pcbench run --dry-run`` plans without the data).

    Example::

        parse_suite({"name": "t", "models": ["digits-cnn"], "dataset": {"name": "digits"}}).timesteps  # None
    """
    table = validated(SuiteTable, data, source, context={"datasets": datasets})
    dataset = _dataset(source, table.dataset, base_dir, datasets[table.dataset.name])
    corruptions = table.corruptions
    suite = Suite(
        name=table.name,
        description=table.description,
        path=None,
        seed=table.seed,
        draws=table.draws,
        models=table.models,
        timesteps=table.timesteps,
        clean=table.clean,
        dataset=dataset,
        corruptions=None
        if corruptions is None
        else _corruptions(source, corruptions, base_dir, dataset.name, datasets[dataset.name]),
        attacks=_distinct_labels(source, tuple(attack.to_config() for attack in table.attacks)),
        content_hash="",
    )
    return with_content_hash(suite)


# --- what the tables leave to check: files on disk, labels ---------------------------


def _dataset(src: str, table: DatasetTable, base_dir: Path | None, needs_root: bool) -> DatasetConfig:
    """The ``[dataset]`` table; checks that a needed root is given and exists."""
    if table.root is None and needs_root:
        raise PcbenchError(
            f"{src}: dataset.root is missing; data set {table.name!r} needs "
            "root = a directory holding its files (or pass pcbench run --root DIR)"
        )
    root = table.root
    return DatasetConfig(
        name=table.name,
        split=table.split,
        root=None
        if root is None
        else _existing_path(src, "dataset.root", root, base_dir, f"a directory holding the {table.name} data set"),
        limit=table.limit,
        seed=table.seed,
    )


def _existing_path(src: str, key: str, raw: str, base_dir: Path | None, expected: str) -> Path:
    """A path with ``~`` expanded, made absolute against ``base_dir``; must exist."""
    path = Path(raw).expanduser()
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    if not path.exists():
        resolved = "" if str(path) == raw else f" (resolved to {str(path)!r})"
        raise PcbenchError(f"{src}: {key} = {raw!r}{resolved} does not exist; expected {expected}")
    return path.resolve()


def _corruptions(
    src: str, table: CorruptionsTable, base_dir: Path | None, dataset: str, needs_root: bool
) -> CorruptionConfig:
    """The ``[corruptions]`` table: the source ``generated`` takes no root, ``precomputed``
    needs the data set's canonical -C set under ``root`` (unless the data set needs no root)."""
    names, severities, source = tuple(table.names), tuple(table.severities), table.source
    if source == "generated":
        if table.root is not None:
            raise PcbenchError(
                f"{src}: corruptions.root = {table.root!r} is not allowed: no root with source = 'generated' "
                "(the root of precomputed files)"
            )
        return CorruptionConfig(names=names, severities=severities)
    if dataset not in PRECOMPUTED_SETS:
        raise PcbenchError(
            f"{src}: corruptions.source = {source!r} is not allowed: 'generated' for dataset {dataset!r}: "
            f"precomputed sets exist for {', '.join(PRECOMPUTED_SETS)}"
        )
    if table.root is None and not needs_root:  # a plan without the data (pcbench run --dry-run)
        return CorruptionConfig(names=names, severities=severities, source=source)
    if table.root is None:
        raise PcbenchError(
            f"{src}: corruptions.root is missing; source = 'precomputed' needs "
            f"root = the directory holding {PRECOMPUTED_SETS[dataset]} "
            "(or pass pcbench run --corruptions-root DIR)"
        )
    root = _existing_path(
        src, "corruptions.root", table.root, base_dir, f"a directory holding {PRECOMPUTED_SETS[dataset]}"
    )
    return CorruptionConfig(names=names, severities=severities, source=source, root=root)


def _distinct_labels(src: str, attacks: tuple[AttackConfig, ...]) -> tuple[AttackConfig, ...]:
    """``attacks``, whose labels must be distinct."""
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


@cache
def _corruption_names(subset: str) -> tuple[str, ...]:
    """``imagecorruptions`` names of a subset, in its order (imported lazily: it is slow)."""
    from imagecorruptions import get_corruption_names

    return tuple(get_corruption_names(subset))


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


# --- the suite file's tables (pydantic; pcbench.validation) ------------------------------


def _integer(minimum: int, maximum: int | None = None) -> Any:
    """An int (not a bool) in ``minimum..maximum``."""
    text = f"an integer >= {minimum}" if maximum is None else f"an integer from {minimum} to {maximum}"
    return Annotated[int, Strict(), Field(ge=minimum, le=maximum), allowed(text)]


def _number(minimum: float, inclusive: bool = True) -> Any:
    """A finite int or float (not a bool) ``>= minimum`` (``> minimum`` unless inclusive), as a float."""
    bound = Field(ge=minimum, allow_inf_nan=False) if inclusive else Field(gt=minimum, allow_inf_nan=False)
    return Annotated[float, Strict(), bound, allowed(f"a finite number {'>=' if inclusive else '>'} {minimum:g}")]


def _choice(choices: Sequence[str]) -> Any:
    """One of ``choices``."""
    return Annotated[Literal[tuple(choices)], allowed(f"one of {', '.join(choices)}")]


def _drop_repeats(items: list[Any]) -> tuple[Any, ...]:
    """The items in order, each once (the first)."""
    return tuple(dict.fromkeys(items))


def _distinct(items: list[Any]) -> tuple[Any, ...]:
    """The items, refusing a repeated one."""
    for index, item in enumerate(items):
        if item in items[:index]:
            fail("{key} = {value!r} is not allowed: a value not already in {table}", at=f"[{index}]", value=item)
    return tuple(items)


def _items(item: Any, *, distinct: bool = False) -> Any:
    """A non-empty list of ``item`` as a tuple: repeated items dropped (keeping the first), or
    refused when ``distinct``."""
    return Annotated[
        list[item],
        Field(min_length=1),
        allowed("a non-empty list"),
        AfterValidator(_distinct if distinct else _drop_repeats),
    ]


def _by_type(value: Any) -> str:
    """The union branch of a value that is a list or a single one (pcbench's ``<tags>``)."""
    return "<list>" if isinstance(value, (list, tuple)) else "<one>"


Text = Annotated[str, Strict(), Field(min_length=1), allowed("a non-empty string")]
Flag = Annotated[bool, Strict(), allowed("true or false")]
Seed = _integer(0)
Count = _integer(1)
Timesteps = Annotated[
    Annotated[
        Annotated[int, Strict(), Field(ge=0), allowed(_TIMESTEPS), AfterValidator(lambda t: tuple(range(t + 1)))],
        Tag("<one>"),
    ]
    | Annotated[
        Annotated[_items(_integer(0), distinct=True), AfterValidator(lambda t: tuple(sorted(t)))], Tag("<list>")
    ],
    Discriminator(_by_type),
    Field(description="T (timesteps 0..T) or a list of timesteps; absent: each model's default T."),
]


class _CorruptionNames:
    """The JSON Schema of a corruption name: imagecorruptions' names (imported when asked)."""

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        return {"enum": list(_corruption_names("all"))}


def _known_corruption(name: str) -> str:
    if name not in _corruption_names("all"):
        raise ValueError(name)
    return name


CorruptionName = Annotated[
    str,
    Strict(),
    AfterValidator(_known_corruption),
    allowed(lambda: f"one of {', '.join(_corruption_names('all'))}"),
    _CorruptionNames,
]


class DatasetTable(Table):
    """The ``[dataset]`` table: the evaluation data."""

    name: str = Field(description="The data set.", json_schema_extra={"enum": list(DEFAULT_DATASETS)})
    split: Text = Field("test", description="Its split.")
    root: Text | None = Field(None, description="Directory holding it (relative to the suite file; not digits).")
    limit: Count | None = Field(None, description="A seeded random subset of that many samples.")
    seed: Seed = Field(0, description="Seed of that subset.")

    @field_validator("name", mode="wrap")
    @classmethod
    def _known(cls, value: Any, handler: Any, info: ValidationInfo) -> str:
        datasets = (info.context or {}).get("datasets", DEFAULT_DATASETS)
        if not isinstance(value, str) or value not in datasets:
            raise PydanticCustomError(
                RULE, "{requirement}", {"requirement": f"is not allowed: one of {', '.join(datasets)}"}
            )
        return handler(value)


class CorruptionsTable(Table):
    """The ``[corruptions]`` table: imagecorruptions' corruptions and severities."""

    names: Annotated[
        Annotated[
            Annotated[Literal["all", "common"], allowed("'all', 'common' or a non-empty list of corruption names")],
            AfterValidator(_corruption_names),
            Tag("<one>"),
        ]
        | Annotated[_items(CorruptionName), Tag("<list>")],
        Discriminator(_by_type),
    ] = Field("all", description="'all' (19), 'common' (15) or a list of imagecorruptions names.")
    severities: _items(_integer(SEVERITIES[0], SEVERITIES[-1])) = Field(SEVERITIES, description="Severities 1..5.")
    source: _choice(CORRUPTION_SOURCES) = Field(
        "generated", description="generated (imagecorruptions, cached) or precomputed (the canonical -C files)."
    )
    root: Text | None = Field(None, description="Directory of the precomputed -C set (relative to the suite file).")


class _AttackTable(Table):
    """The keys every ``[[attacks]]`` table takes; a table per kind (or kinds) adds its own."""

    kind: str
    epsilons: _items(_number(0.0)) = Field(description="The budgets ε, each evaluated.")
    gradient_mode: _choice(GRADIENT_MODES) = Field(
        "full", description="full: gradients flow through the feedback; detached: they do not."
    )
    attack_timestep: _choice(ATTACK_TIMESTEPS) = Field(
        "last", description="The timestep(s) whose output the loss uses."
    )
    limit: Count | None = Field(None, description="Attack a seeded, class-stratified subset of that many samples.")
    samples: _choice(ATTACK_SAMPLES) = Field("all", description="all, or correct: those right at every timestep.")
    eot: Count | None = Field(None, description="Draws each gradient is averaged over (stochastic models).")

    @classmethod
    def unknown_key(cls, key: str, value: Any, table: Mapping[str, Any]) -> NoReturn:
        keys, kind = ", ".join(cls.keys()), table["kind"]
        if key in _attack_keys():
            fail(f"{{key}} = {{value!r}} is not allowed for kind {kind!r}; its keys: {keys}", at=key, value=value)
        fail(f"unknown key {{key!r}}; kind {kind!r} takes: {keys}", at=key, value=value)

    def common(self) -> dict[str, Any]:
        """The :class:`AttackConfig` fields every kind has."""
        return {
            "kind": self.kind,
            "epsilons": tuple(self.epsilons),
            "gradient_mode": self.gradient_mode,
            "attack_timestep": self.attack_timestep,
            "limit": self.limit,
            "samples": self.samples,
            "eot": 1 if self.eot is None else self.eot,
        }


class FoolboxAttack(_AttackTable):
    """A foolbox attack: ``steps``, ``rel_stepsize`` and ``random_start`` default by kind."""

    kind: Literal[FOOLBOX_KINDS] = Field(description="The attack.")
    steps: Count | None = Field(None, description="Iterations (fgsm: 1; pgd-linf 40, pgd-l2 50, bim-linf 10).")
    rel_stepsize: _number(0.0, inclusive=False) | None = Field(
        None, description="Step size relative to ε (none for fgsm)."
    )
    random_start: Flag | None = Field(None, description="Start from a random point in the ε-ball (pgd: true).")
    targeted: Count | None = Field(None, description="Target class (y + targeted) mod classes; absent: untargeted.")

    @model_validator(mode="after")
    def _single_step_fgsm(self) -> FoolboxAttack:
        if self.kind == "fgsm" and self.steps not in (None, 1):
            fail("{key} = {value!r} is not allowed: 1 (fgsm takes a single step)", at="steps", value=self.steps)
        if self.kind == "fgsm" and self.rel_stepsize is not None:
            fail(
                "{key} = {value!r} is not allowed: none for fgsm (its step is epsilon)",
                at="rel_stepsize",
                value=self.rel_stepsize,
            )
        return self

    def to_config(self) -> AttackConfig:
        steps, rel_stepsize, random_start = _ATTACK_DEFAULTS[self.kind]
        return AttackConfig(
            **self.common(),
            steps=steps if self.steps is None else self.steps,
            rel_stepsize=rel_stepsize if self.rel_stepsize is None else self.rel_stepsize,
            random_start=random_start if self.random_start is None else self.random_start,
            target_offset=self.targeted,
        )


Norm = _choice(AUTOATTACK_NORMS)
Override = Annotated[Count | None, Field(description="Overrides the standard version's setting.")]
BatchSize = Annotated[Count, Field(description="Samples one AutoAttack run attacks at once.")]


class _AutoAttackTable(_AttackTable):
    """An AutoAttack kind: its ``norm`` bounds the ε (at most 1 in L∞); ``eot`` for APGD only."""

    epsilons: _items(_number(0.0, inclusive=False)) = Field(description="The budgets ε (norm Linf: at most 1).")
    norm: Norm = Field("Linf", description="The threat model's norm.")

    @model_validator(mode="after")
    def _epsilons_within_the_norm(self) -> _AutoAttackTable:
        if self.norm == "Linf":
            for index, epsilon in enumerate(self.epsilons):
                if epsilon > 1:
                    fail(
                        "{key} = {value!r} is not allowed: a number in (0, 1] for norm 'Linf' (images lie in [0, 1])",
                        at=f"epsilons[{index}]",
                        value=epsilon,
                    )
        if self.eot is not None and self.kind not in EOT_KINDS:
            fail(
                f"{{key}} = {{value!r}} is not allowed: no eot for kind {self.kind!r} (eot averages gradients of "
                f"{', '.join(EOT_KINDS)})",
                at="eot",
                value=self.eot,
            )
        return self

    def to_config(self) -> AttackConfig:
        version, sub_attacks = self.version_and_attacks()
        common = self.common()
        if self.eot is None and version == "rand":
            common["eot"] = RAND_EOT
        overrides = {name: getattr(self, name, None) for name in AUTOATTACK_OVERRIDES}
        config = AttackConfig(
            **common,
            steps=1,
            rel_stepsize=None,
            random_start=False,
            batch_size=self.batch_size,
            norm=self.norm,
            version=version,
            sub_attacks=sub_attacks,
            **overrides,
        )
        return dataclasses.replace(config, steps=_gradient_passes(config))

    def version_and_attacks(self) -> tuple[str | None, tuple[str, ...]]:
        """The version (``None`` for a single attack) and the sub-attacks it runs, in order."""
        return None, (self.kind,)


class AutoAttackEnsemble(_AutoAttackTable):
    """``kind = "autoattack"``: a version's sub-attacks (or ``custom``'s ``attacks``)."""

    kind: Literal["autoattack"] = Field(description="The attack.")
    version: _choice(tuple(AUTOATTACK_VERSIONS)) = Field("standard", description="The sub-attacks AutoAttack runs.")
    attacks: _items(_choice(AUTOATTACK_ATTACKS)) | None = Field(
        None, description="version = 'custom': the sub-attacks."
    )
    n_iter: Override = None
    n_restarts: Override = None
    n_queries: Override = None
    n_target_classes: Override = None
    batch_size: BatchSize = AUTOATTACK_BATCH_SIZE

    @model_validator(mode="after")
    def _attacks_with_custom(self) -> AutoAttackEnsemble:
        if self.version == "custom" and self.attacks is None:
            fail("missing required key {key!r}", at="attacks")
        if self.version != "custom" and self.attacks is not None:
            fail(
                f"{{key}} = {{value!r}} is not allowed: no attacks with version = {self.version!r}, which runs "
                f"{', '.join(AUTOATTACK_VERSIONS[self.version])}; choose them with version = 'custom'",
                at="attacks",
                value=list(self.attacks),
            )
        return self

    def version_and_attacks(self) -> tuple[str | None, tuple[str, ...]]:
        return self.version, self.attacks or AUTOATTACK_VERSIONS[self.version]


class ApgdAttack(_AutoAttackTable):
    """APGD with the cross-entropy or DLR loss."""

    kind: Literal["apgd-ce", "apgd-dlr"] = Field(description="The attack.")
    n_iter: Override = None
    n_restarts: Override = None
    batch_size: BatchSize = AUTOATTACK_BATCH_SIZE


class ApgdTargetedAttack(_AutoAttackTable):
    """Targeted APGD (DLR loss), over ``n_target_classes`` targets."""

    kind: Literal["apgd-t"] = Field(description="The attack.")
    n_iter: Override = None
    n_restarts: Override = None
    n_target_classes: Override = None
    batch_size: BatchSize = AUTOATTACK_BATCH_SIZE


class FabTargetedAttack(_AutoAttackTable):
    """Targeted FAB (one restart: AutoAttack forces it)."""

    kind: Literal["fab-t"] = Field(description="The attack.")
    n_iter: Override = None
    n_target_classes: Override = None
    batch_size: BatchSize = AUTOATTACK_BATCH_SIZE


class SquareAttack(_AutoAttackTable):
    """Square, a score-based black-box attack."""

    kind: Literal["square"] = Field(description="The attack.")
    n_restarts: Override = None
    n_queries: Override = None
    batch_size: BatchSize = AUTOATTACK_BATCH_SIZE


_ATTACK_TABLES: tuple[type[_AttackTable], ...] = (
    FoolboxAttack,
    AutoAttackEnsemble,
    ApgdAttack,
    ApgdTargetedAttack,
    FabTargetedAttack,
    SquareAttack,
)


#: kind -> the tag of its table in :data:`Attack`.
_TABLE_TAGS = {
    kind: f"<{table.__name__}>" for table in _ATTACK_TABLES for kind in get_args(table.model_fields["kind"].annotation)
}


def _attack_tag(table: Any) -> str:
    return _TABLE_TAGS[table["kind"]]


def _attack_kind(table: Any) -> Any:
    """An ``[[attacks]]`` table whose ``kind`` is known (checked first: it says which keys it takes)."""
    if not isinstance(table, Mapping):
        raise PydanticCustomError(RULE, "{requirement}", {"requirement": "is not allowed: a table"})
    if "kind" not in table:
        fail("missing required key {key!r}", at="kind")
    if table["kind"] not in ATTACK_KINDS:
        fail(f"{{key}} = {{value!r}} is not allowed: one of {', '.join(ATTACK_KINDS)}", at="kind", value=table["kind"])
    return table


@cache
def _attack_keys() -> frozenset[str]:
    """Every key some attack kind takes: one outside it is "unknown", one inside it but not
    the kind's "not allowed for" that kind."""
    return frozenset(key for table in _ATTACK_TABLES for key in table.keys())


Attack = Annotated[
    Union[tuple(Annotated[table, Tag(f"<{table.__name__}>")] for table in _ATTACK_TABLES)],  # noqa: UP007
    Discriminator(_attack_tag),
    BeforeValidator(_attack_kind),
]


class SuiteTable(Table):
    """A benchmark suite: the models, data, timesteps, corruptions and attacks to evaluate."""

    name: Annotated[str, Strict(), Field(pattern=f"^{NAME_PATTERN.pattern}$"), allowed(ALLOWED)] = Field(
        description="The suite's name (its results directory)."
    )
    description: Annotated[str, Strict(), allowed("a string")] = Field("", description="One line for listings.")
    seed: Seed = Field(0, description="Seed of every random choice.")
    draws: Count = Field(1, description="Evaluations of each cell of a stochastic model, each with its own seeds.")
    models: _items(Text) = Field(description="Registered model names.")
    timesteps: Timesteps | None = None
    clean: Flag = Field(True, description="Evaluate on clean images.")
    dataset: DatasetTable = Field(description="The evaluation data.")
    corruptions: CorruptionsTable | None = Field(None, description="Image corruptions; absent: none.")
    attacks: Annotated[list[Attack], allowed("an array of tables ([[attacks]])")] = Field(
        [], description="Adversarial attacks, one table each."
    )


class _Overrides(Table):
    """What :func:`with_overrides` replaces, checked as the suite's keys are."""

    seed: Seed | None = None
    limit: Count | None = Field(None, alias="dataset.limit")
    models: _items(Text) | None = None
    timesteps: Timesteps | None = None


def with_overrides(
    suite: Suite,
    *,
    seed: int | None = None,
    limit: int | None = None,
    models: Sequence[str] | None = None,
    timesteps: int | Sequence[int] | None = None,
) -> Suite:
    """A copy of ``suite`` with the suite seed, the data subset size, the models or the
    timesteps (T, or a list) replaced and its content hash recomputed; the values given are
    checked as a suite's keys are (errors name ``overrides``).

    Example::

        with_overrides(load_suite("quick"), limit=10, timesteps=2)  # timesteps (0, 1, 2)
    """
    given = {"seed": seed, "dataset.limit": limit, "models": models, "timesteps": timesteps}
    if isinstance(timesteps, Sequence):
        given["timesteps"] = list(timesteps)
    checked = validated(_Overrides, {key: value for key, value in given.items() if value is not None}, _OVERRIDES)
    values = {name: getattr(checked, name) for name in _Overrides.model_fields}  # tuples, as validated
    changes = {name: value for name, value in values.items() if value is not None}
    if "limit" in changes:
        changes["dataset"] = dataclasses.replace(suite.dataset, limit=changes.pop("limit"))
    return with_content_hash(dataclasses.replace(suite, **changes))
