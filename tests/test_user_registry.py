"""The user registry as a hostile user meets it: broken entries, --replace, any directory.

Most tests drive the real command line in subprocesses with their own ``PCBENCH_HOME``: the
registry is loaded afresh in each, as in a user's shell.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
import torch

from pcbench.errors import PcbenchError

MYMODELS = """
from torch import nn


def tiny(num_classes=4):
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(4, num_classes),
    )
"""

TINY_TOML = """
[models.tiny-cnn]
arch = "mymodels:tiny"
num_classes = 4
dataset = "toy"
input_size = 16
weights = "tiny.pt"
description = "{description}"
"""

SCRIPT = Path(sys.executable).with_name("pcbench")
LAUNCHER = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "pcbench"]


def pcbench(home: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the installed ``pcbench`` command with ``home`` as PCBENCH_HOME (no PYTHONPATH)."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["PCBENCH_HOME"] = str(home)
    return subprocess.run([*LAUNCHER, *args], capture_output=True, text=True, cwd=cwd, env=env, check=False)


def assert_one_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def warnings_of(result: subprocess.CompletedProcess) -> list[str]:
    assert "Traceback" not in result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("warning: ")]


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    """Directory A: ``mymodels.py`` with a small builder, and a state dict for it."""
    directory = tmp_path / "A"
    directory.mkdir()
    (directory / "mymodels.py").write_text(MYMODELS)
    loader = importlib.util.spec_from_file_location("mymodels_for_weights", directory / "mymodels.py")
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    torch.manual_seed(0)
    torch.save(module.tiny(4).state_dict(), directory / "tiny.pt")
    return directory


@pytest.fixture
def home(tmp_path: Path) -> Path:
    directory = tmp_path / "home"
    directory.mkdir()
    return directory


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """Directory B: neither holds the module nor is the module's directory."""
    directory = tmp_path / "B"
    directory.mkdir()
    return directory


@pytest.fixture
def fresh_registry(monkeypatch, home: Path):
    """An in-process registry that loads ``home``'s user file on first lookup."""
    from pcbench.registry import registry

    monkeypatch.setenv("PCBENCH_HOME", str(home))
    monkeypatch.setattr(registry, "_REGISTRY", {})
    monkeypatch.setattr(registry, "_BROKEN", {})
    monkeypatch.setattr(registry, "_sources_loaded", False)
    monkeypatch.setattr(sys, "path", list(sys.path))  # python_path entries append to it
    yield registry
    sys.modules.pop("mymodels", None)


def broken_registry(home: Path, models_dir: Path) -> dict[str, str]:
    """Write a hand-edited user registry; return its broken entries with their reasons."""
    (home / "registry.toml").write_text(
        textwrap.dedent(f"""
        [models.good-pcnn]           # before its base: still loads
        variant = "pc"
        base = "good-cnn"
        timesteps = 2
        [models.good-pcnn.pc]
        layers = ["1"]

        [models.good-cnn]
        arch = "mymodels:tiny"
        python_path = "{models_dir}"
        num_classes = 4
        input_size = 16
        weights = "{models_dir / "tiny.pt"}"

        [models.bad-value]
        arch = "mymodels:tiny"
        python_path = "{models_dir}"
        num_classes = 4
        mean = 3

        [models.no-base]
        variant = "pc"
        base = "ghost"
        timesteps = 2
        [models.no-base.pc]
        layers = ["1"]

        [models.gone-module]
        arch = "vanished_module:tiny"
        num_classes = 4

        [models.gone-weights]
        arch = "mymodels:tiny"
        python_path = "{models_dir}"
        num_classes = 4
        weights = "{models_dir / "vanished.pt"}"

        [models.on-broken]
        variant = "pc"
        base = "gone-weights"
        timesteps = 2
        [models.on-broken.pc]
        layers = ["1"]
    """)
    )
    return {
        "bad-value": "models.bad-value.mean = 3 must be a list",
        "no-base": "base = 'ghost' is not registered",
        "gone-module": "cannot import 'vanished_module:tiny': ModuleNotFoundError",
        "gone-weights": "vanished.pt' does not exist",
        "on-broken": "its base 'gone-weights' is broken",
    }


def test_broken_entries_are_skipped_listed_as_warnings_and_removable(home, models_dir, elsewhere):
    broken = broken_registry(home, models_dir)
    listing = pcbench(home, "models", cwd=elsewhere)
    assert listing.returncode == 0, listing.stderr
    names = [line.split()[0] for line in listing.stdout.splitlines()[1:]]
    assert {"digits-cnn", "good-cnn", "good-pcnn"} <= set(names) and not set(broken) & set(names)
    warnings = warnings_of(listing)
    assert len(warnings) == len(broken), listing.stderr
    for (name, reason), warning in zip(broken.items(), warnings, strict=True):
        assert warning.startswith(f"warning: user registry entry '{name}' ({home / 'registry.toml'}) is broken: ")
        assert reason in warning and f"remove it with `pcbench unregister {name}`" in warning

    assert_one_error(pcbench(home, "models", "show", "gone-module"), "'gone-module'", broken["gone-module"])
    assert_one_error(pcbench(home, "unregister", "gone-weights"), "is the base of ['on-broken']")
    for name in reversed(broken):  # on-broken before its base gone-weights
        removed = pcbench(home, "unregister", name)
        assert removed.returncode == 0 and removed.stdout.strip() == f"removed {name}", removed.stderr
    after = pcbench(home, "models")
    assert after.returncode == 0 and warnings_of(after) == [], after.stderr
    assert set(tomllib.loads((home / "registry.toml").read_text())["models"]) == {"good-cnn", "good-pcnn"}


def test_looking_up_a_broken_entry_raises_its_reason(fresh_registry, home, models_dir):
    from pcbench.models.build import build_model
    from pcbench.registry import get_model_spec

    broken = broken_registry(home, models_dir)
    for name, reason in broken.items():
        with pytest.raises(PcbenchError, match=f"user registry entry '{name}' .* is broken: ") as caught:
            get_model_spec(name)
        assert reason in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(PcbenchError, match="unknown model 'ghost'"):
        get_model_spec("ghost")
    with torch.no_grad():
        assert build_model("good-pcnn")(torch.rand(1, 3, 16, 16)).shape == (3, 1, 4)


def test_an_empty_user_registry_loads(fresh_registry, home):
    (home / "registry.toml").write_text("[models]\n")  # what unregistering the last entry leaves
    assert fresh_registry.broken_entries() == []
    assert fresh_registry.get_model_spec("digits-cnn").source == "builtin"


def test_register_replace(home, models_dir):
    toml = models_dir / "tiny.toml"
    toml.write_text(TINY_TOML.format(description="first"))
    first = pcbench(home, "register", str(toml))
    assert first.returncode == 0 and first.stdout.strip() == "registered tiny-cnn (feedforward)", first.stderr

    toml.write_text(TINY_TOML.format(description="second"))
    assert_one_error(pcbench(home, "register", str(toml)), "'tiny-cnn' is already registered", "--replace")
    saved = home / "registry.toml"
    assert tomllib.loads(saved.read_text())["models"]["tiny-cnn"]["description"] == "first"

    (models_dir / "mymodels.py").rename(models_dir / "moved.py")  # the entry breaks...
    toml.write_text(TINY_TOML.format(description="second").replace("mymodels:", "moved:"))
    replaced = pcbench(home, "register", str(toml), "--replace")  # ...and --replace mends it
    assert replaced.returncode == 0, replaced.stderr
    entry = tomllib.loads(saved.read_text())["models"]["tiny-cnn"]
    assert (entry["arch"], entry["description"]) == ("moved:tiny", "second")

    builtin = models_dir / "builtin.toml"
    builtin.write_text(
        TINY_TOML.replace("tiny-cnn", "digits-cnn").format(description="x").replace("mymodels:", "moved:")
    )
    assert_one_error(
        pcbench(home, "register", str(builtin), "--replace"),
        "'digits-cnn' is already registered (source: builtin); only user registry entries can be replaced",
    )
    listing = pcbench(home, "models")
    assert listing.returncode == 0 and warnings_of(listing) == [], listing.stderr
    assert "tiny-cnn" in listing.stdout


def test_a_local_arch_module_works_from_any_directory(home, models_dir, elsewhere):
    (models_dir / "tiny.toml").write_text(TINY_TOML.format(description="local"))
    registered = pcbench(home, "register", "tiny.toml", cwd=models_dir)
    assert registered.returncode == 0, registered.stderr
    entry = tomllib.loads((home / "registry.toml").read_text())["models"]["tiny-cnn"]
    assert entry["python_path"] == str(models_dir.resolve())

    shown = pcbench(home, "models", "show", "tiny-cnn", cwd=elsewhere)
    assert shown.returncode == 0 and "mymodels:tiny" in shown.stdout, shown.stderr
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    build = (
        "import torch; from pcbench.models.build import build_model; "
        "print(tuple(build_model('tiny-cnn')(torch.rand(2, 3, 16, 16)).shape))"
    )
    built = subprocess.run(
        [sys.executable, "-c", build],
        capture_output=True,
        text=True,
        cwd=elsewhere,
        env={**env, "PCBENCH_HOME": str(home)},
        check=False,
    )
    assert built.returncode == 0 and built.stdout.strip() == "(1, 2, 4)", built.stderr


def test_python_path_is_recorded_only_for_modules_that_are_not_installed(
    registry_snapshot, fresh_home, models_dir, elsewhere, monkeypatch
):
    from pcbench.api import register_file
    from pcbench.paths import user_registry_file

    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(elsewhere)
    toml = models_dir / "models.toml"
    toml.write_text(
        TINY_TOML.format(description="local")
        + textwrap.dedent("""
        [models.installed-resnet]
        arch = "torchvision.models:resnet18"
        num_classes = 4
        input_size = 32
    """)
    )
    try:
        register_file(toml)
    finally:
        sys.modules.pop("mymodels", None)
    saved = tomllib.loads(user_registry_file().read_text())["models"]
    assert saved["tiny-cnn"]["python_path"] == str(models_dir.resolve())  # found next to the TOML file
    assert "python_path" not in saved["installed-resnet"]  # torchvision is in site-packages
    assert str(models_dir.resolve()) == sys.path[-1]  # appended: shadows no installed module


def test_an_arch_that_builds_no_module_is_one_error_line(home, models_dir):
    (home / "registry.toml").write_text('[models.dict-arch]\narch = "builtins:dict"\nnum_classes = 4\n')
    listing = pcbench(home, "models")
    assert listing.returncode == 0, listing.stderr
    row = next(line.split() for line in listing.stdout.splitlines() if line.startswith("dict-arch"))
    assert row[3] == "?"
    assert warnings_of(listing) == [
        (
            "warning: cannot build 'dict-arch' to count its parameters: model 'dict-arch': arch "
            "'builtins:dict' returned a dict, not an nn.Module; arch must name a function or class with "
            "arch(num_classes, **arch_kwargs) -> nn.Module"
        )
    ]
    assert_one_error(pcbench(home, "models", "show", "dict-arch"), "model 'dict-arch': arch 'builtins:dict'")

    toml = models_dir / "dict.toml"
    toml.write_text('[models.other-dict]\narch = "builtins:dict"\nnum_classes = 4\ninput_size = 16\n')
    assert_one_error(pcbench(home, "register", str(toml)), "model 'other-dict': arch 'builtins:dict' returned a dict")
    assert "other-dict" not in (home / "registry.toml").read_text()


def test_a_failed_replace_keeps_the_previous_entry(registry_snapshot, fresh_home, models_dir, monkeypatch):
    from pcbench.api import register_file
    from pcbench.paths import user_registry_file
    from pcbench.registry import get_model_spec

    monkeypatch.setattr(sys, "path", list(sys.path))
    toml = models_dir / "tiny.toml"
    variant = '\n[models.tiny-pcnn]\nvariant = "pc"\nbase = "tiny-cnn"\ntimesteps = 2\n'
    variant += '[models.tiny-pcnn.pc]\nlayers = ["1"]\n'
    toml.write_text(TINY_TOML.format(description="first") + variant)
    try:
        register_file(toml)
        before = user_registry_file().read_bytes()
        toml.write_text(TINY_TOML.format(description="second").replace("num_classes = 4", "num_classes = 5") + variant)
        with pytest.raises(PcbenchError, match="model 'tiny-cnn': weights .* do not fit"):
            register_file(toml, replace=True)
        toml.write_text(TINY_TOML.format(description="second"))
        with pytest.raises(PcbenchError, match=r"model 'tiny-cnn' is the base of \['tiny-pcnn'\]"):
            register_file(toml, replace=True)  # its variant would keep the old backbone
    finally:
        sys.modules.pop("mymodels", None)
    assert user_registry_file().read_bytes() == before
    assert get_model_spec("tiny-cnn").description == "first"
    assert get_model_spec("tiny-pcnn").num_classes == 4


def test_transfer_datasets_round_trip_through_a_model_file(tmp_path):
    from pcbench.registry.user_file import read_spec_file, spec_to_table

    path = tmp_path / "models.toml"
    path.write_text(
        textwrap.dedent("""
        [models.t-cnn]
        arch = "resnet18"
        num_classes = 10
        dataset = "cifar10"
        input_size = 32
        transfer_datasets = ["imagefolder", "cifar100"]
    """)
    )
    (spec,) = read_spec_file(path)
    assert spec.transfer_datasets == ("imagefolder", "cifar100")
    assert spec_to_table(spec)["transfer_datasets"] == ["imagefolder", "cifar100"]
    path.write_text(path.read_text().replace('["imagefolder", "cifar100"]', '"imagefolder"'))
    with pytest.raises(PcbenchError, match=r"models.t-cnn.transfer_datasets = 'imagefolder' must be a list"):
        read_spec_file(path)
