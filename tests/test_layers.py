"""The import direction is one way: each layer imports only the layers below it.

For every layer, a fresh interpreter imports all modules of that layer and the layers
below, then lists the pcbench modules it loaded: none may belong to a higher layer. A module
of a lower layer that imported a higher one (directly, lazily at import time, or through
the package ``__init__``) would show up here. The layout in docs/design.md states the same order.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

import pcbench

#: Bottom to top; a module belongs to the first layer one of whose prefixes it starts with.
LAYERS: list[tuple[str, ...]] = [
    (
        "pcbench.errors",
        "pcbench.names",
        "pcbench.validation",
        "pcbench.hashing",
        "pcbench.paths",
        "pcbench.files",
        "pcbench.processes",
        "pcbench.parallel",
        "pcbench.array_cache",
        "pcbench.streams",
    ),
    ("pcbench.suite", "pcbench.registry", "pcbench.store"),
    ("pcbench.data", "pcbench.models"),
    ("pcbench.training", "pcbench.perturbations"),
    ("pcbench.runner", "pcbench.leaderboards"),
    ("pcbench.executors",),
    ("pcbench.api",),
    ("pcbench.cli", "pcbench.boundary", "pcbench.__main__"),
]


def layer_of(module: str) -> int:
    for index, prefixes in enumerate(LAYERS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes):
            return index
    raise AssertionError(f"module {module} belongs to no layer: add it to LAYERS and the Layout of docs/design.md")


def all_modules() -> list[str]:
    found = [info.name for info in pkgutil.walk_packages(pcbench.__path__, "pcbench.")]
    return sorted(name for name in found if name != "pcbench.__main__")


def test_every_module_has_a_layer():
    for module in all_modules():
        layer_of(module)


@pytest.mark.parametrize("layer", range(len(LAYERS) - 1))
def test_a_layer_imports_nothing_above_it(layer):
    modules = [module for module in all_modules() if layer_of(module) <= layer]
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('pcbench.'))))\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(completed.stdout.splitlines()[-1])
    above = [module for module in loaded if module in all_modules() and layer_of(module) > layer]
    assert not above, f"layer {LAYERS[layer]} imports higher layers: {above}"


def test_import_pcbench_loads_neither_torch_nor_the_layers():
    code = "import json, sys, pcbench; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert "torch" not in loaded and not [m for m in loaded if m.startswith("pcbench.")]
