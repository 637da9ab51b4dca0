"""What produced a result: package versions and a run identifier."""

from __future__ import annotations

import platform
import uuid
from datetime import UTC, datetime
from functools import cache
from importlib.metadata import PackageNotFoundError, version

_PACKAGES = ("pcbench", "torch", "torchvision", "foolbox", "imagecorruptions-imaug", "numpy", "pyautoattack")


@cache
def package_versions() -> dict[str, str]:
    """Versions recorded in every row, as ``<package>_version`` columns."""
    versions = {"python_version": platform.python_version()}
    for package in _PACKAGES:
        try:
            installed = version(package)
        except PackageNotFoundError:
            installed = "not installed"
        versions[f"{package.replace('-imaug', '').replace('-', '_')}_version"] = installed
    return versions


def new_run_id() -> str:
    """A sortable, unique id for one ``pcbench run`` invocation."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
