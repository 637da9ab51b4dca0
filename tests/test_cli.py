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


def test_dry_run_prints_the_grid_and_passes_without_evaluating(tmp_path):
    result = CliRunner().invoke(cli, ["run", "quick", "--dry-run", "--limit", "20", "--results", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "20 samples, 107 perturbations × 2 models = 214 cells" in result.output
    rows = {line.split()[0]: line.split()[1:] for line in result.output.splitlines()[2:4]}
    # 20 images × 11 timesteps × 107 cells; attack gradients: 20 × 11 × (3 FGSM × 1 + 4 PGD × 10
    # steps + APGD-CE's 100 + Square's 200 queries / 3) through the whole unroll, plus 20 × 1 × 2
    # PGD × 10 steps on the feedforward pass
    assert rows["digits-pcnn"][:4] == ["10", "107", "23,540", "46,380"]
    assert rows["digits-cnn"][:4] == ["0", "107", "2,140", "4,580"]
    # each model's estimate (a number and a unit) comes from timing it on a dummy batch
    assert all(len(row) == 6 and row[5] in ("s", "min", "h") and float(row[4]) >= 0 for row in rows.values())
    assert "estimate: this machine's CPU time" in result.output
    assert not any(tmp_path.iterdir())


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
