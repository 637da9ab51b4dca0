"""Validation by pydantic v2, with pcbench's one-line errors.

Suites (:mod:`pcbench.suite.tables`) and model files (:mod:`pcbench.registry.user_file`) are
pydantic models built from the pieces here; the same models give their JSON Schemas
(``pcbench schema suite|models``).

- :func:`rule` wraps a type so that any failure of it is one error carrying the text that
  says what is allowed (``"is not allowed: an integer >= 0"``, ``"must be a list ..."``);
  errors of a list's items keep their index. :func:`allowed` is a suite's form of it.
- :class:`Table` is a TOML table: unknown keys are refused with the keys it takes (its
  fields' names, or their aliases), a non-table value with ``"a table"``.
- :func:`fail` raises a check of several fields (``fgsm`` takes one step) at a key of the
  table, with a message template.
- :func:`validated` validates and turns the first :class:`~pydantic.ValidationError` error
  into one :class:`~pcbench.errors.PcbenchError` line: file, dotted key, value, what is
  allowed. :func:`check_fields` validates a dataclass built in Python (``ModelSpec``, ...)
  and raises :class:`~pcbench.errors.InvalidValue` naming the object instead.

Example::

    class Limits(Table):
        seed: Annotated[int, Strict(), Field(ge=0), allowed("an integer >= 0")] = 0

    validated(Limits, {"seed": -1}, "s.toml")
    # PcbenchError: s.toml: seed = -1 is not allowed: an integer >= 0
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, NoReturn, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, WrapValidator, model_validator
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from pcbench.errors import InvalidValue, PcbenchError

M = TypeVar("M", bound=BaseModel)

#: The error type of :func:`rule`: ``ctx["requirement"]`` follows ``<key> = <value>``.
RULE = "pcbench_rule"
#: The error type of :func:`fail`: ``ctx["template"]`` is the message after ``<source>: ``.
MESSAGE = "pcbench_message"


def rule(requirement: str | Callable[[], str], *, items: bool = True) -> WrapValidator:
    """An annotation: the value must pass the type before it, else ``<key> = <value> <requirement>``.

    ``requirement`` (or, computed when it fails, what it returns) ends the error line. A
    list's items carry their own rules: their errors keep the item's index and pass through
    (``items=False``: an item's error is the whole value's).

    Example::

        Seed = Annotated[int, Strict(), Field(ge=0), rule("must be an integer >= 0")]
    """

    def check(value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            if items and any(error["loc"] for error in exc.errors()):
                raise  # an item's (or a table key's) own error
            text = requirement if isinstance(requirement, str) else requirement()
            raise PydanticCustomError(RULE, "{requirement}", {"requirement": text}) from None

    return WrapValidator(check)


def allowed(text: str | Callable[[], str], *, items: bool = True) -> WrapValidator:
    """:func:`rule` in a suite's words: ``<key> = <value> is not allowed: <text>``."""
    return rule(
        f"is not allowed: {text}" if isinstance(text, str) else lambda: f"is not allowed: {text()}", items=items
    )


def fail(template: str, *, at: str | None = None, value: Any = None) -> NoReturn:
    """Raise a pydantic error whose one line is ``template`` (after ``<source>: ``).

    ``at`` is a key of the table being validated that the error is about (``"steps"``,
    ``"epsilons[1]"``), ``value`` its value. The template (``str.format``) may name ``{key}``
    (the dotted key, ``at`` included), ``{table}`` (the table's dotted key), ``{name}``
    (``at`` alone) and ``{value}``, with ``!r`` for their reprs.

    Example::

        fail("{key} = {value!r} is not allowed: 1 (fgsm takes a single step)", at="steps", value=3)
    """
    raise PydanticCustomError(MESSAGE, "{template}", {"template": template, "at": at, "value": value})


class Table(BaseModel):
    """A TOML table: unknown keys are refused, naming the keys it takes.

    The error lists the fields (by alias where one is set) in declaration order; a subclass
    sets :attr:`UNKNOWN` for other words (the model files' form lists them sorted) or
    overrides :meth:`unknown_key`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: What a table key no field names raises (see :func:`fail`), ``{keys}`` the keys it takes.
    UNKNOWN: ClassVar[str] = "unknown key {key!r}; allowed: {keys}"
    #: Whether :attr:`UNKNOWN` lists the keys sorted (else in declaration order).
    SORTED_KEYS: ClassVar[bool] = False

    @classmethod
    def keys(cls) -> list[str]:
        """The keys this table takes, in declaration order."""
        return [field.alias or name for name, field in cls.model_fields.items()]

    @classmethod
    def unknown_key(cls, key: str, value: Any, table: Mapping[str, Any]) -> NoReturn:
        """Raise the error for ``key`` of ``table``, which no field names."""
        keys = sorted(cls.keys()) if cls.SORTED_KEYS else cls.keys()
        fail(cls.UNKNOWN.replace("{keys}", ", ".join(keys)), at=key, value=value)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise PydanticCustomError(RULE, "{requirement}", {"requirement": cls.not_a_table()})
        keys = cls.keys()
        for key, value in data.items():
            if key not in keys:
                cls.unknown_key(key, value, data)
        return data

    @classmethod
    def not_a_table(cls) -> str:
        """The requirement when the value is not a table at all."""
        return "is not allowed: a table"


def validated(model: type[M], data: Any, source: str, prefix: str = "", context: Any = None) -> M:
    """``model`` validated from ``data``; the first error as one :class:`PcbenchError` line.

    ``source`` names the file (``<source>: ...``); ``prefix`` is the dotted key of ``data``
    within it (``"models.my-cnn"``); ``context`` reaches the validators (pydantic's).

    Example::

        validated(SuiteFile, {"name": "t"}, "s.toml")
        # PcbenchError: s.toml: missing required key 'models'
    """
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise PcbenchError(f"{source}: {error_line(exc.errors()[0], prefix)}") from None


def error_line(error: Mapping[str, Any], prefix: str = "") -> str:
    """One pydantic error as pcbench's words (without the source): the dotted key, the value,
    what is allowed."""
    table = dotted(prefix, error["loc"])
    ctx = error.get("ctx") or {}
    if error["type"] == MESSAGE:
        at = ctx["at"]
        key = table if at is None else f"{table}{at}" if at.startswith("[") else f"{table}.{at}" if table else at
        return ctx["template"].format(key=key, table=table, name=at, value=ctx["value"])
    if error["type"] == RULE:
        return f"{table} = {error['input']!r} {ctx['requirement']}"
    if error["type"] == "missing":
        return f"missing required key {table!r}"
    return f"{table} = {error['input']!r} is not allowed: {error['msg']}"


def dotted(prefix: str, loc: tuple[Any, ...]) -> str:
    """A pydantic location as a dotted TOML key: ``attacks[0].steps``. Union branches
    (pydantic's ``function-wrap[...]``, pcbench's ``<tag>``) are left out.

    Example::

        >>> dotted("models.m", ("pc", "layers", 1, "beta"))
        'models.m.pc.layers[1].beta'
    """
    key = prefix
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        elif part.startswith("<") or "[" in part:
            continue
        else:
            key = f"{key}.{part}" if key else part
    return key


def check_fields(model: type[BaseModel], obj: Any, where: str) -> BaseModel:
    """Validate a dataclass ``obj`` built in Python by ``model`` (fields by name or alias), in
    pydantic's strict mode: a tuple field holds a tuple (the dataclasses are frozen and hashable).

    Raises :class:`InvalidValue` (``<where>: <key> = <value> <requirement>``; a tuple shown
    as a list) for a bad field, :class:`PcbenchError` ``<where>: ...`` for a check of
    several; returns the validated model.

    Example::

        check_fields(PredictorTable, PredictorSpec(kernel=0), "predictor")
        # InvalidValue: predictor: kernel = 0 must be an integer >= 1
    """
    aliases = {name: field.alias or name for name, field in model.model_fields.items()}
    data = {aliases[f.name]: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.name in aliases}
    try:
        return model.model_validate(data, strict=True)
    except ValidationError as exc:
        error = exc.errors()[0]
        if error["type"] == RULE:
            value = error["input"]
            key = dotted("", error["loc"])
            raise InvalidValue(
                where, key, list(value) if isinstance(value, tuple) else value, error["ctx"]["requirement"]
            ) from None
        raise PcbenchError(f"{where}: {error_line(error)}") from None


class TomlJsonSchema(GenerateJsonSchema):
    """JSON Schema of a TOML file: TOML has no null, so an optional key is just absent (no
    ``null`` branch, no ``null`` default), and keys carry no generated titles."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        generated = super().default_schema(schema)
        if generated.get("default", ...) is None:
            del generated["default"]
        return generated

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the TOML file ``model`` validates.

    Example::

        json_schema(SuiteTable)["properties"]["seed"]  # {'default': 0, 'minimum': 0, 'type': 'integer', ...}
    """
    return {"$schema": GenerateJsonSchema.schema_dialect, **model.model_json_schema(schema_generator=TomlJsonSchema)}
