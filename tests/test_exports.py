"""``import pcbench``'s lazy exports: every one is also imported under ``TYPE_CHECKING`` from
the module that defines it, so editors and type checkers see its signature."""

from __future__ import annotations

import ast
import inspect
import types
from pathlib import Path

import pcbench


def type_checking_imports() -> dict[str, str]:
    """Name -> module of the ``from M import N`` statements in ``pcbench/__init__.py``'s
    ``if TYPE_CHECKING:`` block."""
    tree = ast.parse(Path(pcbench.__file__).read_text(encoding="utf-8"))
    blocks = [node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"]
    assert len(blocks) == 1
    return {
        alias.name: statement.module
        for statement in blocks[0].body
        if isinstance(statement, ast.ImportFrom) and statement.module is not None
        for alias in statement.names
    }


def test_every_lazy_export_is_imported_for_type_checkers_from_its_module():
    assert type_checking_imports() == pcbench._EXPORTS


def test_each_export_resolves_to_the_object_its_module_defines():
    import importlib

    for name, module in pcbench._EXPORTS.items():
        assert getattr(pcbench, name) is getattr(importlib.import_module(module), name)


def literal_values(annotation: str) -> tuple[object, ...]:
    """The values of the ``Literal`` types in a parameter's annotation (aliases resolved)."""
    import typing

    from pcbench import api
    from pcbench.leaderboards.merge import OnConflict
    from pcbench.leaderboards.summary import TimestepChoice

    hint = eval(annotation, {**vars(api), "OnConflict": OnConflict, "TimestepChoice": TimestepChoice})
    parts = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    return tuple(value for part in parts if typing.get_origin(part) is typing.Literal for value in part.__args__)


def test_the_apis_string_choices_are_literal_types_of_exactly_the_values_it_accepts():
    from pcbench.executors.options import EXECUTORS
    from pcbench.leaderboards.merge import ON_CONFLICT
    from pcbench.leaderboards.summary import CHOICES
    from pcbench.models.precision import PRECISIONS
    from pcbench.registry.spec import VARIANTS

    accepted = {
        ("run", "executor"): EXECUTORS,
        ("run", "precision"): PRECISIONS,
        ("plan", "precision"): PRECISIONS,
        ("evaluate", "precision"): PRECISIONS,
        ("list_models", "variant"): VARIANTS,
        ("load_results", "on_conflict"): ON_CONFLICT,
        ("leaderboard", "on_conflict"): ON_CONFLICT,
        ("leaderboard", "timestep"): CHOICES,
        ("schema", "kind"): ("suite", "models"),
    }
    for (function, parameter), values in accepted.items():
        annotation = inspect.signature(getattr(pcbench, function)).parameters[parameter].annotation
        assert literal_values(annotation) == values, (function, parameter, annotation)
