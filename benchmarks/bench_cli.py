"""How fast the command line answers: ``pcbench --help``, ``pcbench suites`` and a bad-argument
error, each against a bare ``python -c pass`` measured in the same run (best of N).

    python benchmarks/bench_cli.py [--repeats 5]

Target: each under one second on the 2-core machine, i.e. no torch import on these paths.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

PCBENCH = [sys.executable, "-m", "pcbench"]
COMMANDS = {
    "python -c pass (baseline)": [sys.executable, "-c", "pass"],
    "pcbench --help": [*PCBENCH, "--help"],
    "pcbench suites": [*PCBENCH, "suites"],
    "pcbench run quick --batch-size 0": [*PCBENCH, "run", "quick", "--batch-size", "0"],
}


def best_time(command: list[str], repeats: int) -> float:
    """Fastest wall time of ``repeats`` runs of ``command`` (output discarded)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=Path(__file__).parent)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    baseline = None
    for label, command in COMMANDS.items():
        seconds = best_time(command, args.repeats)
        baseline = baseline or seconds
        print(f"{label:<36} {seconds:6.3f} s   ×{seconds / baseline:5.1f} of bare python")


if __name__ == "__main__":
    main()
