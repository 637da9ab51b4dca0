"""``import pcbench``'s lazy exports: every one is also imported under ``TYPE_CHECKING`` from
the module that defines it, so editors and type checkers see its signature."""

from __future__ import annotations

import ast
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
