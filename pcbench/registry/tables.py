"""The pieces of the model-file tables (pydantic, see :mod:`pcbench.validation`).

Model files say what is wrong in their own words: ``<key> = <value> must be ...``, and an
unknown key as ``models.<name>: unknown key 'colour'; allowed: <the keys, sorted>``.
:class:`EntryTable` is a model-file table; :func:`must` a field's rule.

Example::

    class Size(EntryTable):
        input_size: Annotated[int, Strict(), Field(ge=1), must("an integer >= 1")] = 32
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar

from pydantic import Field, PlainValidator, Strict, WithJsonSchema, WrapValidator

from pcbench.validation import Table, rule


def must(requirement: str, *, items: bool = True) -> WrapValidator:
    """:func:`pcbench.validation.rule` in a model file's words: ``<key> = <value> must be <requirement>``.

    ``items=False``: a list's bad item is reported as the whole list being bad.
    """
    return rule(f"must be {requirement}", items=items)


class EntryTable(Table):
    """A table of a model file (or the fields of a registry dataclass built in Python)."""

    UNKNOWN: ClassVar[str] = "{table}: unknown key {name!r}; allowed: {keys}"
    SORTED_KEYS: ClassVar[bool] = True

    @classmethod
    def not_a_table(cls) -> str:
        return "must be a table"


def instance_of(cls: type, requirement: str) -> Any:
    """A field holding an instance of ``cls`` (a dataclass built in Python), else ``must be <requirement>``."""

    def check(value: Any) -> Any:
        if not isinstance(value, cls):
            raise ValueError(requirement)
        return value

    return Annotated[Any, PlainValidator(check), must(requirement)]


def importable(requirement: str, check: Callable[[str], bool]) -> Any:
    """A string that ``check`` accepts (``"module:function"``, ...) or a callable given in Python;
    a string in the JSON Schema."""

    def validate(value: Any) -> Any:
        if not (callable(value) or (isinstance(value, str) and check(value))):
            raise ValueError(requirement)
        return value

    return Annotated[
        Any, PlainValidator(validate), must(requirement), WithJsonSchema({"type": "string", "minLength": 1})
    ]


NonNegativeInt = Annotated[int, Strict(), Field(ge=0), must("an integer >= 0")]
PositiveInt = Annotated[int, Strict(), Field(ge=1), must("an integer >= 1")]
Flag = Annotated[bool, Strict(), must("true or false")]
