"""The coordinator's lease: a task of a foreground run writes nothing once its coordinator
stops renewing the lease (:mod:`pcbench.executors.lease`), on a clock the test drives."""

from __future__ import annotations

import json

import pytest

import pcbench
from pcbench.executors import lease as lease_module
from pcbench.executors.lease import LEASE_FILE, LeaseLost, held, renew
from pcbench.executors.units import WorkUnit
from pcbench.runner.settings import RunSettings


class Clock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_lease_that_is_renewed_holds_and_one_that_is_not_is_lost(tmp_path):
    clock = Clock()
    renew(tmp_path, 0)
    with held(tmp_path / LEASE_FILE, timeout_s=60, clock=clock) as check:
        clock.now = 59
        check()  # quiet for 59 s: still held
        renew(tmp_path, 1)
        clock.now = 100
        check()  # the counter moved (seen now): held again for 60 s from here
        clock.now = 159
        check()
        clock.now = 161
        with pytest.raises(LeaseLost, match="stopped renewing .* 61 s ago"):
            check()


def test_no_lease_never_stops_a_task():
    with held(None, timeout_s=0) as check:
        check()


SUITE = """name = "leased"
models = ["digits-cnn"]
[dataset]
name = "digits"
split = "test"
limit = 10
"""


def test_a_task_whose_coordinator_is_gone_commits_nothing(tmp_path, monkeypatch):
    suite_file = tmp_path / "leased.toml"
    suite_file.write_text(SUITE)
    run_dir = tmp_path / "results" / "leased" / ".jobs" / "run"
    run_dir.mkdir(parents=True)
    renew(run_dir, 0)  # ... and never again: the coordinator was killed
    monkeypatch.setattr(lease_module, "LEASE_TIMEOUT_S", -1.0)  # any quiet time is too long
    unit = WorkUnit(
        run_id="run",
        index=0,
        suite=pcbench.load_suite(suite_file),
        model="digits-cnn",
        cells=("clean",),
        settings=RunSettings(tmp_path / "results", device="cpu", progress=False, workers=1),
        jobs=str(run_dir),
        lease=str(run_dir / LEASE_FILE),
    )
    with pytest.raises(LeaseLost):
        pcbench.run_task(unit)
    assert not (tmp_path / "results" / "leased" / "scores").exists()
    record = json.loads((run_dir / "task-0.json").read_text())
    assert record["state"] == "failed" and record["error"].startswith("LeaseLost: the coordinator of this run")
    monkeypatch.setattr(lease_module, "LEASE_TIMEOUT_S", 3600.0)
    pcbench.run_task(unit)  # with a live coordinator the same task commits its cell
    assert len(list((tmp_path / "results" / "leased" / "scores").glob("*.parquet"))) == 1


def test_the_coordinator_renews_from_a_thread_of_its_own(tmp_path):
    import time

    from pcbench.executors.lease import renewing

    with renewing(tmp_path, every_s=0.01):
        deadline = time.monotonic() + 30  # a bound on a hang, not a timing assertion
        while (tmp_path / LEASE_FILE).read_text() in ("0", "1") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert int((tmp_path / LEASE_FILE).read_text()) >= 2  # renewed again and again, unprompted
