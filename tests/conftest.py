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
