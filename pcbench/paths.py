"""Where pcbench keeps its cache and the user model registry."""

import os
from pathlib import Path

import platformdirs


def pcbench_home() -> Path:
    """The pcbench home directory: ``$PCBENCH_HOME`` or the per-user cache directory."""
    env = os.environ.get("PCBENCH_HOME")
    home = Path(env).expanduser() if env else Path(platformdirs.user_cache_dir("pcbench"))
    home.mkdir(parents=True, exist_ok=True)
    return home


def user_registry_file() -> Path:
    """The TOML file where ``pcbench register`` saves user model entries."""
    return pcbench_home() / "registry.toml"
