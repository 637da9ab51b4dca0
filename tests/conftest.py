"""Test-session set-up: an isolated pcbench home, a registry restored after each test, and the
test-only fault injection of ``tests/hooks`` for the processes a test starts."""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path
from types import ModuleType

import pytest

#: The test-only ``sitecustomize`` of the fault injection (``tests/hooks/sitecustomize.py``).
HOOKS = Path(__file__).parent / "hooks"

# Before pcbench is imported anywhere: caches and the user registry go to a throw-away home
# shared by the whole session.
os.environ["PCBENCH_HOME"] = tempfile.mkdtemp(prefix="pcbench-test-home-")


@pytest.fixture(scope="session")
def hook_module() -> ModuleType:
    """``tests/hooks/sitecustomize.py`` loaded here (nothing installed in this process): its
    markers and helpers (``environment``, ``arm_kill``, ``disarm_kill``, ``KILLED_STATUS``)."""
    spec = importlib.util.spec_from_file_location("pcbench_test_hooks", HOOKS / "sitecustomize.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def hooks(hook_module: ModuleType, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Every Python process this test starts (subprocesses, spawned workers, SLURM tasks)
    loads the test-only fault injection of ``tests/hooks``; returns its module."""
    monkeypatch.setenv("PYTHONPATH", hook_module.environment(os.environ)["PYTHONPATH"])
    return hook_module


@pytest.fixture
def registry_snapshot():
    """Let a test register models; the registry is restored afterwards."""
    from pcbench.registry import registry

    registry.list_model_specs()  # load built-ins first
    saved = dict(registry._REGISTRY)
    yield registry
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)


@pytest.fixture
def fresh_home(tmp_path, monkeypatch):
    """A fresh pcbench home, so that its caches and user registry start empty."""
    home = tmp_path / "pcbench-home"
    home.mkdir()
    monkeypatch.setenv("PCBENCH_HOME", str(home))
    return home


@pytest.fixture
def run_main(monkeypatch, capsys):
    """``run_main(args)``: ``pcbench ARGS`` through the real entry point, in-process; returns
    (exit status, stderr)."""
    import sys

    from pcbench.cli import main

    def run(args: list[str]) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["pcbench", *args])
        capsys.readouterr()
        try:
            main()
            status = 0
        except SystemExit as exit:
            status = exit.code if isinstance(exit.code, int) else 1
        return status, capsys.readouterr().err

    return run


@pytest.fixture
def register_quantised(registry_snapshot, tmp_path):
    """``register_quantised(levels)``: register ``digits-quantised``, digits-cnn's weights behind
    an input quantiser ``round(x * levels) / levels`` (zero gradient everywhere: a masking model)."""
    import dataclasses

    import torch
    from torch import nn

    from pcbench.models.build import load_state_dict, weights_path
    from pcbench.models.digits import digits_cnn

    def register(levels: int) -> None:
        class Quantise(nn.Module):
            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return torch.round(x * levels) / levels

        def quantised_digits_cnn(num_classes: int = 10) -> nn.Module:
            return nn.Sequential(Quantise(), digits_cnn(num_classes))

        cnn = registry_snapshot.get_model_spec("digits-cnn")
        state = {f"1.{key}": value for key, value in load_state_dict(weights_path(cnn)).items()}
        torch.save(state, tmp_path / "quantised.pt")
        registry_snapshot.register_model(
            dataclasses.replace(
                cnn,
                name="digits-quantised",
                arch=quantised_digits_cnn,
                weights=str(tmp_path / "quantised.pt"),
                weights_sha256=None,
                source="python",
            )
        )

    return register
