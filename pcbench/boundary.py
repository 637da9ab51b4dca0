"""The process error boundary: how an exception leaving a command becomes what the user sees.

Every expected failure becomes one line on stderr, ``error: <what, where, what is allowed>``,
and an exit status: a :class:`~pcbench.errors.PcbenchError` (its ``exit_status``, 2 for bad
input), a usage error of the command line (a bad option or command; 2), and an OSError of the
environment (:data:`ENVIRONMENT_ERRNOS`: a full disk, a path this user may not use; 2). Ctrl-C
exits with status 130. Any other exception is a bug: its traceback, then a line asking to
report it, exit status 1. :func:`pcbench.cli.main` runs every command inside :func:`guarded`.
"""

from __future__ import annotations

import errno
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import NoReturn

import click

from pcbench.errors import PcbenchError

_FREE_SPACE = "free space there and rerun the same command (finished work is kept)"
_ACCESS = "give this user access or choose another path"
#: What an OSError's errno means when it comes from the user's environment -- a full disk, a path
#: this user may not use, a file where a directory belongs, a path that does not exist -- rather
#: than from a bug: (what happened, what to do). :func:`guarded` prints these as one ``error:``
#: line with exit status 2; an OSError with any other errno is treated as a bug.
ENVIRONMENT_ERRNOS: Mapping[int, tuple[str, str]] = MappingProxyType(
    {
        errno.ENOSPC: ("no space left on the device", _FREE_SPACE),
        errno.EDQUOT: ("disk quota exceeded", _FREE_SPACE),
        errno.EACCES: ("permission denied", _ACCESS),
        errno.EPERM: ("operation not permitted", _ACCESS),
        errno.EROFS: ("read-only file system", "choose a path on a writable file system"),
        errno.ENOTDIR: (
            "not a directory (a part of the path is a file)",
            "choose a path whose folders are directories",
        ),
        errno.EISDIR: ("is a directory", "name a file"),
        errno.EEXIST: ("already exists and is not a directory", "remove it or choose another path"),
        errno.ENOENT: ("no such file or directory", "check the path"),
        errno.ENAMETOOLONG: ("file name too long", "choose a shorter path"),
    }
)


def environment_error(error: OSError) -> str | None:
    """The one-line message for an OSError listed in :data:`ENVIRONMENT_ERRNOS`, else ``None``.

    It names the path the system reports (for a full disk, the directory of the file being
    written).

    Example::

        environment_error(OSError(errno.EROFS, "Read-only file system", "/mnt/ro/x"))
        # '/mnt/ro/x: read-only file system (EROFS); choose a path on a writable file system'
    """
    if error.errno not in ENVIRONMENT_ERRNOS:
        return None
    what, advice = ENVIRONMENT_ERRNOS[error.errno]
    what = f"{what} ({errno.errorcode[error.errno]})"
    paths = [str(name) for name in (error.filename, error.filename2) if name is not None]
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        if not paths:  # e.g. a write to an open file: the system names none
            return (
                f"{what} while writing; free space where pcbench writes (--results, --leaderboards, "
                "$PCBENCH_HOME) and rerun the same command (finished work is kept)"
            )
        paths = [name if Path(name).is_dir() else str(Path(name).parent) for name in paths[:1]]
    return f"{' -> '.join(paths)}: {what}; {advice}" if paths else f"{what}; {advice}"


def guarded(command: Callable[[], object]) -> None:
    """Run ``command`` (a click command line in ``standalone_mode=False``); return when it
    does, else exit as the module docstring says, with one ``error:`` line on stderr.

    Example::

        guarded(lambda: cli.main(standalone_mode=False))
    """
    try:
        command()
    except PcbenchError as exc:
        _fail(str(exc), exc.exit_status)
    except click.exceptions.Abort:
        click.echo("interrupted: finished cells are saved; run the same command to resume", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        context = exc.ctx if isinstance(exc, click.UsageError) else None
        hint = f" (see {context.command_path} --help)" if context is not None else ""
        _fail(f"{exc.format_message()}{hint}", 2)
    except OSError as exc:
        message = environment_error(exc)
        if message is None:
            _report_bug()
        _fail(message, 2)
    except Exception:  # noqa: BLE001 -- the boundary: anything else is a bug in pcbench
        _report_bug()


def _fail(message: str, status: int) -> NoReturn:
    """Print ``error: <message>`` on one line (its line breaks and runs of spaces collapsed) and exit."""
    click.echo(f"error: {' '.join(message.split())}", err=True)
    sys.exit(status)


def _report_bug() -> NoReturn:
    """Print the exception being handled with its traceback, ask for a report and exit with status 1."""
    from pcbench import __version__

    traceback.print_exc()
    click.echo(f"pcbench {__version__} hit an internal error; please report it with the traceback above", err=True)
    sys.exit(1)
