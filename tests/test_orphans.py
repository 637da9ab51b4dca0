"""A killed coordinator leaves no worker behind: after a real SIGKILL of ``pcbench run
--devices cpu,cpu``, its device workers and manager die with it (``PR_SET_PDEATHSIG``), and
the next run completes with results equal to an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import pcbench
from pcbench.store import read_predictions, read_scores

SUITE = """\
name = "orphans"
models = ["digits-cnn", "digits-pcnn"]
timesteps = 4
seed = 0
[dataset]
name = "digits"
limit = 16
[corruptions]
names = ["gaussian_noise"]
severities = [2]
[[attacks]]
kind = "pgd-linf"
epsilons = [0.05, 0.1]
steps = 5
"""
PROVENANCE = ["run_id", "created_at", "wall_time_s", "device"]

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals are Linux's")


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid``, from ``/proc``."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(condition, what: str, limit: float = 120.0) -> None:
    """Poll ``condition`` (a bound on a hang, not a timing assertion)."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def test_sigkill_of_a_devices_coordinator_leaves_no_worker_and_the_rerun_equals_a_clean_run(tmp_path):
    suite = tmp_path / "orphans.toml"
    suite.write_text(SUITE)
    results = tmp_path / "killed"
    args = ["run", str(suite), "--results", str(results), "--leaderboards", str(tmp_path / "lb1")]
    coordinator = subprocess.Popen(
        [sys.executable, "-m", "pcbench", *args, "--devices", "cpu,cpu", "--cells-per-task", "1", "--device", "cpu"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    root = results / "orphans"
    wait_for(lambda: any(root.glob("scores/*.parquet")) or coordinator.poll() is not None, "the first committed cell")
    workers = descendants(coordinator.pid)
    assert coordinator.poll() is None and len(workers) >= 3, "the run ended before it could be killed"
    os.kill(coordinator.pid, signal.SIGKILL)
    coordinator.wait()
    wait_for(lambda: not any(alive(pid) for pid in workers), "the workers to die with their coordinator", 10.0)

    rerun = pcbench.run(suite, results=results, leaderboards=tmp_path / "lb1", device="cpu", progress=False, workers=1)
    assert rerun.skipped  # the cells committed before the kill are kept
    clean = tmp_path / "clean"
    pcbench.run(suite, results=clean, leaderboards=tmp_path / "lb2", device="cpu", progress=False, workers=1)
    for read in (read_scores, read_predictions):
        killed, uninterrupted = (read(directory / "orphans") for directory in (results, clean))
        killed = killed.drop(columns=[c for c in PROVENANCE if c in killed.columns])
        uninterrupted = uninterrupted.drop(columns=[c for c in PROVENANCE if c in uninterrupted.columns])
        pd.testing.assert_frame_equal(killed, uninterrupted)
