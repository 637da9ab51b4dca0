"""The command line as a user meets it: help, listings, dry runs and one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from pcbench.cli import cli


def pcbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pcbench", *args], capture_output=True, text=True)


@pytest.mark.parametrize(
    "command", [[], ["run"], ["compare"], ["models"], ["models", "show"], ["register"], ["unregister"], ["suites"]]
)
def test_every_command_explains_itself(command):
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage: " in result.output and len(result.output.splitlines()) > 3


def test_models_lists_the_embedded_pair():
    result = CliRunner().invoke(cli, ["models"])
    assert result.exit_code == 0
    header, *rows = result.output.splitlines()
    assert header.split() == ["name", "variant", "base", "parameters", "T", "source"]
    assert rows[0].split() == ["digits-cnn", "feedforward", "-", "33,834", "0", "builtin"]
    assert rows[1].split()[:3] == ["digits-pcnn", "pc", "digits-cnn"]


def test_models_show_prints_the_pcoder_table():
    result = CliRunner().invoke(cli, ["models", "show", "digits-pcnn"])
    assert result.exit_code == 0
    assert "0.4                        0.8     0.1   0.01" in result.output
    assert "33,834 backbone + 42,211 feedback" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "no-such-suite"], "error: unknown suite 'no-such-suite'"),
        (["run", "quick", "-m", "ghost", "--dry-run"], "error: unknown model 'ghost'"),
        (["run", "quick", "--device", "tpu", "--limit", "5"], "error: --device 'tpu' is not allowed"),
        (["compare", "never-ran", "--results", "/nonexistent"], "error: "),
        (["models", "show", "ghost"], "error: unknown model 'ghost'"),
    ],
)
def test_bad_input_is_one_line_without_traceback(args, message):
    result = pcbench(*args)
    assert result.returncode == 2
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
