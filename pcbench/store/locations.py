"""Where a run's files go: the name a suite's results are stored under, and the output
directories (``--results``, ``--leaderboards``) checked before anything is evaluated."""

from __future__ import annotations

import os
from pathlib import Path

from pcbench.errors import PcbenchError
from pcbench.files import real_path
from pcbench.paths import pcbench_home
from pcbench.suite import Suite, load_suite


def suite_name(suite: str | Path | Suite) -> str:
    """The name results of ``suite`` are stored under: a Suite's name, a TOML file's
    ``name``, or the built-in name as given.

    Example::

        suite_name("quick")              # 'quick'
        suite_name("suites/tiny.toml")   # the file's name = "..."
    """
    if isinstance(suite, Suite):
        return suite.name
    candidate = Path(suite)
    return load_suite(suite).name if candidate.suffix == ".toml" or candidate.is_file() else str(suite)


def check_output_dir(option: str, path: Path) -> None:
    """Refuse an output directory that cannot become one, naming ``option``: ``path`` or a folder
    above it is a file, the deepest existing folder is not writable (permissions, read-only),
    or it overlaps the pcbench home (inside it, or containing it), whose cache pcbench clears.

    Example::

        check_output_dir("results", Path("results"))   # returns, or raises PcbenchError
    """
    existing = path.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        where = "is a file" if existing == path.absolute() else f"lies below {existing}, which is a file"
        raise PcbenchError(f"--{option} {path} {where}, not a directory; allowed: a directory (created if missing)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PcbenchError(
            f"--{option} {path}: cannot write in {existing} (permission denied or a read-only file "
            "system); allowed: a directory this user can write"
        )
    home, target = real_path(pcbench_home()), real_path(path)
    if target == home or home in target.parents or target in home.parents:
        where = "contains" if target in home.parents else "lies inside"
        raise PcbenchError(
            f"--{option} {path} {where} the pcbench home {home} (its cache and user registry, which "
            "cache clear deletes from); allowed: a directory apart from it"
        )
