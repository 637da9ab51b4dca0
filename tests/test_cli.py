"""The command line as a user meets it: help, listings, dry runs and one-line errors."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from pcbench.cli import cli


def pcbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pcbench", *args], capture_output=True, text=True)


def commands(command: click.Command = cli, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every command of the command line, groups included, with the words that call it."""
    found = [(path, command)]
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            found += commands(sub, (*path, name))
    return found


@pytest.mark.parametrize(("path", "command"), commands(), ids=[" ".join(path) or "pcbench" for path, _ in commands()])
def test_every_command_explains_itself(path, command):
    """Its help names it, says what it does (its docstring's first paragraph), and lists every
    argument, every option (both spellings of a flag) and every subcommand."""
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    usage, *rest = result.output.splitlines()
    assert usage.startswith("Usage: ") and " ".join(path) in usage
    text = " ".join(" ".join(rest).split())
    summary = (command.help or "").split("\n\n")[0]
    assert summary and " ".join(summary.split()) in text, summary
    for param in command.params:
        if isinstance(param, click.Argument):
            assert param.make_metavar(click.Context(command)) in usage, param.name
        elif not param.hidden:
            for spelling in (*param.opts, *param.secondary_opts):
                assert spelling in text, spelling
    if isinstance(command, click.Group):
        listed = {line.split()[0] for line in rest if line.startswith("  ") and line.split()}
        assert set(command.commands) <= listed, set(command.commands) - listed


def conv(in_channels: int, out_channels: int, kernel: int) -> int:
    """Parameters of a (transposed) 2-d convolution with a bias: weights and one bias per output channel."""
    return in_channels * out_channels * kernel * kernel + out_channels


#: digits-cnn (pcbench/models/digits.py): conv 3→16, 16→32, 32→64 (3×3), linear 64·4·4 → 10.
BACKBONE_PARAMETERS = conv(3, 16, 3) + conv(16, 32, 3) + conv(32, 64, 3) + (64 * 4 * 4 * 10 + 10)
#: digits-pcnn's predictors: ConvT 16→3 (k5), 32→16 (k4), 64→32 (k4).
FEEDBACK_PARAMETERS = conv(16, 3, 5) + conv(32, 16, 4) + conv(64, 32, 4)


def test_models_lists_the_embedded_pair():
    result = CliRunner().invoke(cli, ["models"])
    assert result.exit_code == 0
    header, *rows = result.output.splitlines()
    assert header.split() == ["name", "variant", "base", "parameters", "T", "source"]
    assert rows[0].split() == ["digits-cnn", "feedforward", "-", f"{BACKBONE_PARAMETERS:,}", "0", "builtin"]
    assert rows[1].split()[:3] == ["digits-pcnn", "pc", "digits-cnn"]


def test_models_show_prints_the_pcoder_table():
    result = CliRunner().invoke(cli, ["models", "show", "digits-pcnn"])
    assert result.exit_code == 0
    assert "0.4                        0.8     0.1   0.01" in result.output
    assert f"{BACKBONE_PARAMETERS:,} backbone + {FEEDBACK_PARAMETERS:,} feedback" in result.output


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
