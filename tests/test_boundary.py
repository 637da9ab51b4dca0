"""The process error boundary (:mod:`pcbench.boundary`) on its own, without a command line."""

from __future__ import annotations

import errno
from collections.abc import Callable

import click
import pytest

from pcbench import __version__
from pcbench.boundary import environment_error, guarded
from pcbench.errors import PcbenchError, TasksFailed


def exit_of(command: Callable[[], object], capsys: pytest.CaptureFixture[str]) -> tuple[int | None, str]:
    """(exit status or None when ``guarded`` returned, stderr)."""
    capsys.readouterr()
    try:
        guarded(command)
        status = None
    except SystemExit as exit:
        status = exit.code
    return status, capsys.readouterr().err


def raising(error: BaseException) -> Callable[[], object]:
    def command() -> object:
        raise error

    return command


def test_a_command_that_returns_passes_through(capsys):
    assert exit_of(lambda: 0, capsys) == (None, "")


@pytest.mark.parametrize(
    ("error", "status", "line"),
    [
        (PcbenchError("suite.toml: seed = -1\n   must be >= 0"), 2, "error: suite.toml: seed = -1 must be >= 0\n"),
        (TasksFailed("2 tasks failed"), 1, "error: 2 tasks failed\n"),
        (click.exceptions.Abort(), 130, "interrupted: finished cells are saved; run the same command to resume\n"),
        (
            OSError(errno.EROFS, "Read-only file system", "/mnt/ro/x"),
            2,
            "error: /mnt/ro/x: read-only file system (EROFS); choose a path on a writable file system\n",
        ),
    ],
    ids=["bad input", "failed tasks", "ctrl-c", "environment"],
)
def test_expected_failures_are_one_line_with_their_status(error, status, line, capsys):
    assert exit_of(raising(error), capsys) == (status, line)


def test_a_usage_error_points_at_the_commands_help(capsys):
    context = click.Context(click.Command("run"), info_name="pcbench run")
    status, stderr = exit_of(raising(click.UsageError("No such option: --bogus", ctx=context)), capsys)
    assert (status, stderr) == (2, "error: No such option: --bogus (see pcbench run --help)\n")


@pytest.mark.parametrize("error", [ZeroDivisionError("division by zero"), OSError(errno.EIO, "Input/output error")])
def test_anything_else_is_a_bug_with_its_traceback(error, capsys):
    status, stderr = exit_of(raising(error), capsys)
    lines = stderr.strip().splitlines()
    assert status == 1 and lines[0] == "Traceback (most recent call last):" and str(error) in lines[-2]
    assert lines[-1] == f"pcbench {__version__} hit an internal error; please report it with the traceback above"


def test_a_full_disk_names_the_directory_of_the_file_written(tmp_path):
    message = environment_error(OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "part.tmp")))
    assert message == (
        f"{tmp_path}: no space left on the device (ENOSPC); free space there and rerun the same command "
        "(finished work is kept)"
    )
    assert environment_error(OSError(errno.EIO, "Input/output error")) is None
