"""The run's orchestration stays in small steps: every function of :mod:`pcbench.runner.run`
is under McCabe complexity 10 (ruff's C901), as ``run_suite`` was not (17) before it was split."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pcbench.runner.run

RUFF = Path(sys.executable).parent / "ruff"


def test_every_step_of_a_run_is_under_the_complexity_limit():
    completed = subprocess.run(
        [str(RUFF), "check", "--isolated", "--select", "C901", "--config", "lint.mccabe.max-complexity=10"]
        + ["--output-format", "concise", pcbench.runner.run.__file__],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout
