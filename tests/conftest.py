"""Test-session set-up: an isolated pcbench home, and a registry restored after each test."""

from __future__ import annotations

import os
import tempfile

import pytest

# Before pcbench is imported anywhere: caches and the user registry go to a throw-away home
# shared by the whole session.
os.environ["PCBENCH_HOME"] = tempfile.mkdtemp(prefix="pcbench-test-home-")


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
