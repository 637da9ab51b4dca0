"""Where weight files live: the user's weights directory and messages for missing files.

pcbench never downloads weights. A spec may name a file in the *weights directory* as
``"$PCBENCH_WEIGHTS/<file>"``: the directory is ``$PCBENCH_WEIGHTS`` when set, else
``$PCBENCH_HOME/weights``. The zoo uses this for torchvision's ImageNet files (under their
published names, e.g. ``vgg16-397923af.pth``) and for feedback weights
(``<pc model>-feedback.pt``, written by ``pcbench train-feedback``). The spec hash keeps the
reference, not the resolved path, so moving the directory changes no result keys.

Weights that ship inside the package (the embedded digits models) are named
``"pcbench:<path inside the package>"`` (e.g. ``"pcbench:models/weights/digits-cnn.pt"``),
so their spec hash does not depend on where pcbench is installed.
"""

from __future__ import annotations

import os
from pathlib import Path

from pcbench.files import file_problem
from pcbench.paths import pcbench_home
from pcbench.registry.spec import ModelSpec, callable_path

WEIGHTS_ENV = "PCBENCH_WEIGHTS"
WEIGHTS_PREFIX = f"${WEIGHTS_ENV}/"
PACKAGE_PREFIX = "pcbench:"
PACKAGE_DIR = Path(__file__).resolve().parent.parent
TORCHVISION_DOWNLOADS = "https://download.pytorch.org/models/"


def weights_dir() -> Path:
    """The weights directory: ``$PCBENCH_WEIGHTS`` or ``$PCBENCH_HOME/weights``."""
    env = os.environ.get(WEIGHTS_ENV)
    return Path(env).expanduser() if env else pcbench_home() / "weights"


def in_weights_dir(file_name: str) -> str:
    """The spec reference ``"$PCBENCH_WEIGHTS/<file_name>"``."""
    return WEIGHTS_PREFIX + file_name


def in_package(relative: str) -> str:
    """The spec reference ``"pcbench:<relative>"`` of a file shipped inside the package."""
    return PACKAGE_PREFIX + relative


def resolve_weights(reference: str) -> Path:
    """The path a spec's ``weights`` string names (weights-directory and package references
    resolved)."""
    if reference.startswith(WEIGHTS_PREFIX):
        return weights_dir() / reference[len(WEIGHTS_PREFIX) :]
    if reference.startswith(PACKAGE_PREFIX):
        return PACKAGE_DIR / reference[len(PACKAGE_PREFIX) :]
    return Path(reference)


def missing_weights_message(spec: ModelSpec, path: Path) -> str:
    """One line: which file is expected where, and how to obtain it (or what is in its place:
    a directory, a symlink loop, a FIFO, a device, ...)."""
    assert spec.weights is not None
    problem = file_problem(path)
    if problem not in (None, "does not exist"):
        return (
            f"model '{spec.name}': weights '{path}' {problem}; expected a state dict file, saved "
            "with torch.save(model.state_dict(), path)"
        )
    if spec.weights.startswith(PACKAGE_PREFIX):
        return (
            f"model '{spec.name}': weights file '{path}', which ships with pcbench, is missing: "
            "the installation is incomplete; reinstall pcbench"
        )
    if not spec.weights.startswith(WEIGHTS_PREFIX):
        return (
            f"model '{spec.name}': weights file '{path}' does not exist; expected a state dict "
            "saved with torch.save(model.state_dict(), path)"
        )
    where = f"'{path.name}' not found in {path.parent} (${WEIGHTS_ENV})"
    if spec.variant == "pc":
        return (
            f"model '{spec.name}': feedback weights {where}; train them with "
            f"`pcbench train-feedback {spec.name}` (or register a variant without weights to "
            "evaluate untrained, seeded predictors)"
        )
    if isinstance(spec.arch, str) and ":" not in spec.arch:
        return (
            f"model '{spec.name}': weights {where}; put torchvision's pretrained file of that "
            f"name there ({TORCHVISION_DOWNLOADS}{path.name})"
        )
    return (
        f"model '{spec.name}': weights {where}; put a state dict of "
        f"{callable_path(spec.arch)} trained on {spec.dataset} there"
    )
