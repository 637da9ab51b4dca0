"""Load a suite from a TOML file or by built-in name (``quick``, ...)."""

import dataclasses
import tomllib
from collections.abc import Mapping
from pathlib import Path

from pcbench.errors import PcbenchError
from pcbench.files import file_problem, real_path
from pcbench.suite.schema import DEFAULT_DATASETS, Suite
from pcbench.suite.tables import parse_suite

_HERE = Path(__file__).resolve()
# Built-in suites: the repository's suites/ folder (source or editable install), then the
# copy that a wheel carries inside the package (hatch force-include).
_BUILTIN_DIRS = (_HERE.parents[2] / "suites", _HERE.parents[1] / "builtin_suites")


def builtin_suite_names() -> list[str]:
    """Names of the built-in suites, sorted."""
    return sorted({path.stem for folder in _BUILTIN_DIRS if folder.is_dir() for path in folder.glob("*.toml")})


def load_suite(
    path_or_name: str | Path,
    *,
    dataset_root: str | Path | None = None,
    corruptions_root: str | Path | None = None,
    datasets: Mapping[str, bool] = DEFAULT_DATASETS,
) -> Suite:
    """Load and validate a suite from an existing file path, else by built-in name.

    A relative ``dataset.root`` is taken relative to the suite file's folder;
    ``dataset_root`` (``pcbench run --root``) replaces it before validation, so a built-in
    suite for on-disk data runs without editing its file; ``corruptions_root``
    (``--corruptions-root``) likewise replaces ``corruptions.root``. ``datasets`` is passed on to
    :func:`parse_suite`.
    """
    path = Path(path_or_name).expanduser()
    source = str(path_or_name)
    problem = file_problem(path)
    if problem not in (None, "does not exist") and source not in builtin_suite_names():
        raise PcbenchError(f"{source}: the suite file {problem}; allowed: a suite TOML file or a built-in suite name")
    if problem is not None:
        path = _builtin_path(source)
        source = path.name
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PcbenchError(f"{source}: invalid TOML: {_one_line(exc)}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PcbenchError(f"{source}: cannot read suite file: {_one_line(exc)}") from None
    if dataset_root is not None and isinstance(data.get("dataset"), dict):
        data["dataset"]["root"] = str(real_path(dataset_root))
    if corruptions_root is not None and isinstance(data.get("corruptions"), dict):
        data["corruptions"]["root"] = str(real_path(corruptions_root))
    suite = parse_suite(data, source=source, base_dir=path.parent, datasets=datasets)
    return dataclasses.replace(suite, path=real_path(path))  # path is not hashed


def _builtin_path(name: str) -> Path:
    """The file of built-in suite ``name``; an error when there is none."""
    looks_like_path = name.endswith(".toml") or "/" in name or "\\" in name
    if looks_like_path:
        raise PcbenchError(f"{name}: no such suite file")
    for folder in _BUILTIN_DIRS:
        candidate = folder / f"{name}.toml"
        if candidate.is_file():
            return candidate
    raise PcbenchError(
        f"unknown suite {name!r}: not a file and not a built-in suite; "
        f"built-in suites: {', '.join(builtin_suite_names()) or 'none'}"
    )


def _one_line(exc: Exception) -> str:
    """An exception's message with line breaks collapsed."""
    return " ".join(str(exc).split())
