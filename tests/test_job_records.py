"""Job records are input: ``pcbench status`` and ``pcbench run`` read a damaged ``.jobs``
record as one warning naming the file and what is wrong (never a traceback, never a run
blocked forever), and ``status --forget`` clears a run whose task died on another host."""

from __future__ import annotations

import json

import pytest

SUITE = """name = "jobs"
models = ["digits-cnn"]
[dataset]
name = "digits"
split = "test"
limit = 10
"""
RUN = "20261207T000000Z-deadbeef"


@pytest.fixture
def suite_file(tmp_path):
    path = tmp_path / "jobs.toml"
    path.write_text(SUITE)
    return path


def manifest(**changes):
    record = {
        "run_id": RUN,
        "executor": "ray",
        "job_id": None,
        "created_at": "2026-12-07T00:00:00+00:00",
        "tasks": [{"index": 0, "model": "digits-cnn", "cells": ["clean"], "log": "task-0.log"}],
    }
    record.update(changes)
    return json.dumps(record).encode()


def task(**changes):
    record = {"index": 0, "model": "digits-cnn", "state": "running", "host": "elsewhere", "pid": 1, "cell": None}
    record.update({"log": "task-0.log", **changes})
    return json.dumps(record).encode()


DAMAGED = {
    "garbage manifest": ({"manifest.json": b"{not json"}, "manifest.json: not JSON (empty, truncated or binary)"),
    "empty manifest": ({"manifest.json": b""}, "manifest.json: not JSON (empty, truncated or binary)"),
    "manifest without executor": (
        {"manifest.json": manifest(executor=None)},
        "manifest.json: executor = None; allowed: a str",
    ),
    "unknown executor": ({"manifest.json": manifest(executor="k8s")}, "executor = 'k8s'; allowed: local, slurm, ray"),
    "tasks as a string": ({"manifest.json": manifest(tasks="0,1")}, "manifest.json: tasks = '0,1'; allowed: a list"),
    "a list manifest": ({"manifest.json": b"[1, 2]"}, "manifest.json: a list, not a JSON object"),
    "binary task file": (
        {"manifest.json": manifest(), "task-0.json": bytes(range(256))},
        "task-0.json: not JSON (empty, truncated or binary)",
    ),
    "unparsable task name": (
        {"manifest.json": manifest(), "task-x.json": task()},
        "task-x.json: the file name is not task-<index>.json",
    ),
    "bad task state": (
        {"manifest.json": manifest(), "task-0.json": task(state="zombie")},
        "task-0.json: state = 'zombie'; allowed: running, done, failed",
    ),
}


def write_run(root, files):
    run_dir = root / "jobs" / ".jobs" / RUN
    run_dir.mkdir(parents=True)
    for name, content in files.items():
        (run_dir / name).write_bytes(content)
    return run_dir


@pytest.mark.parametrize("case", DAMAGED)
def test_the_status_command_on_a_damaged_record_exits_0_without_a_traceback(case, suite_file, tmp_path, run_main):
    write_run(tmp_path / "results", DAMAGED[case][0])
    status, err = run_main(["status", str(suite_file), "--results", str(tmp_path / "results")])
    assert status == 0 and "Traceback" not in err, err


@pytest.mark.parametrize("case", DAMAGED)
def test_the_status_warning_names_file_and_fault(case, suite_file, tmp_path):
    import pcbench

    files, what = DAMAGED[case]
    run_dir = write_run(tmp_path / "results", files)
    shown = pcbench.status(suite_file, results=tmp_path / "results").format()
    (warning,) = [line for line in shown.splitlines() if line.startswith("warning: ")]
    assert warning.startswith(f"warning: damaged job record {run_dir}/") and what in warning
    assert "pcbench status SUITE --forget" in warning
    assert "digits-cnn" in shown.splitlines()[1] and shown.splitlines()[1].split()[-1] == "1"  # 1 missing


def test_a_damaged_record_blocks_no_distributed_run(suite_file, tmp_path, capsys):
    import pcbench

    write_run(tmp_path / "results", {"manifest.json": b"\x00\x01garbage"})
    options = pcbench.ExecutorOptions("local", devices=("cpu",))
    summary = pcbench.run(suite_file, results=tmp_path / "results", leaderboards=None, executor=options, progress=False)
    assert len(summary.evaluated) + len(summary.skipped) == 1
    assert "warning: damaged job record" in capsys.readouterr().err


def test_a_task_running_on_another_host_blocks_until_forgotten(suite_file, tmp_path, run_main):
    import pcbench

    results = tmp_path / "results"
    run_dir = write_run(results, {"manifest.json": manifest(), "task-0.json": task()})
    options = pcbench.ExecutorOptions("local", devices=("cpu",))
    with pytest.raises(pcbench.PcbenchError) as refused:
        pcbench.run(suite_file, results=results, leaderboards=None, executor=options, progress=False)
    message = str(refused.value)
    assert (
        "1 running and 0 queued task(s) writing into this results directory (running on elsewhere)" in message
        and "ray job stop" in message
        and "scancel" not in message
    )
    assert "pcbench status SUITE --forget" in message
    (results / "jobs" / "keep.txt").write_text("a file of the user's")
    status, err = run_main(["status", str(suite_file), "--results", str(results), "--forget"])
    assert status == 0 and f"forgot run {RUN}" in err
    assert not run_dir.exists() and (results / "jobs" / "keep.txt").read_text() == "a file of the user's"
    summary = pcbench.run(suite_file, results=results, leaderboards=None, executor=options, progress=False)
    assert len(summary.evaluated) == 1


def test_a_plain_run_is_refused_while_a_task_of_this_host_still_runs(suite_file, tmp_path):
    import os
    import socket

    import pcbench

    results = tmp_path / "results"
    alive = task(host=socket.gethostname(), pid=os.getpid())  # a live process of this host
    write_run(results, {"manifest.json": manifest(executor="local"), "task-0.json": alive})
    with pytest.raises(
        pcbench.PcbenchError,
        match=r"still has 1 running and 0 queued task\(s\) writing into this results directory \(running on ",
    ):
        pcbench.run(suite_file, results=results, leaderboards=None, progress=False)
    assert not (results / "jobs" / "scores").exists()


def test_evaluate_is_refused_while_a_task_of_this_host_still_runs(suite_file, tmp_path):
    import os
    import socket

    from torch import nn

    import pcbench

    results = tmp_path / "results"
    alive = task(host=socket.gethostname(), pid=os.getpid())
    write_run(results, {"manifest.json": manifest(executor="local"), "task-0.json": alive})
    with pytest.raises(pcbench.PcbenchError, match=r"still has 1 running and 0 queued task"):
        pcbench.evaluate(nn.Linear(2, 2), suite_file, name="mine", results=results)
    assert not (results / "jobs" / "scores").exists()
