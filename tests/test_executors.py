"""Executors: the same cells, keys and numbers from a local run, local worker processes, a
real local Ray cluster and the project's own single-node SLURM cluster; resume after a
killed task; one-line errors for what cannot run."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import pcbench
from pcbench.errors import PcbenchError, TasksFailed
from pcbench.executors import ExecutorOptions, RayOptions, SlurmOptions
from pcbench.executors.units import plan_units
from pcbench.store import read_predictions, read_scores

REPO = Path(__file__).resolve().parents[1]
SLURM_SCRIPT = REPO / "tests" / "cluster" / "slurm_local.sh"
SUITE = """\
name = "small"
models = ["digits-cnn", "digits-pcnn"]
timesteps = 2
seed = 0
[dataset]
name = "digits"
limit = 24
[corruptions]
names = ["gaussian_noise", "fog"]
severities = [2]
[[attacks]]
kind = "fgsm"
epsilons = [0.1]
"""
CELLS = 4  # per model: clean, gaussian_noise/2, fog/2, fgsm@0.1
#: Columns that say who computed a row and when, not what: they differ between any two runs.
PROVENANCE = ["run_id", "created_at", "wall_time_s", "device"]


@pytest.fixture(scope="module")
def suite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("suite") / "small.toml"
    path.write_text(SUITE)
    return path


@pytest.fixture(scope="module")
def local_results(suite_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    results = tmp_path_factory.mktemp("local")
    pcbench.run(suite_file, results=results, leaderboards=results / "lb", device="cpu", progress=False, workers=1)
    return results


def same_results(expected: Path, actual: Path) -> None:
    """Stored scores and predictions equal cell for cell (keys and numbers)."""
    scores = [read_scores(root / "small").drop(columns=PROVENANCE) for root in (expected, actual)]
    pd.testing.assert_frame_equal(scores[0], scores[1])
    predictions = [read_predictions(root / "small") for root in (expected, actual)]
    pd.testing.assert_frame_equal(predictions[0], predictions[1])
    for name in ("small.csv", "small-timesteps.csv", "small-summary.csv"):
        assert (expected / "lb" / name).read_bytes() == (actual / "lb" / name).read_bytes(), name


def distributed(suite_file: Path, results: Path, options: ExecutorOptions) -> pcbench.api.RunSummary:
    return pcbench.run(
        suite_file, results=results, leaderboards=results / "lb", device="cpu", progress=False, executor=options
    )


def test_units_group_by_model_in_grid_order():
    assert plan_units({"a": ["clean", "fog/1", "fog/2"], "b": ["clean"]}, 2) == [
        ("a", ("clean", "fog/1")),
        ("a", ("fog/2",)),
        ("b", ("clean",)),
    ]
    with pytest.raises(PcbenchError, match="--cells-per-task 0"):
        plan_units({"a": ["clean"]}, 0)


def test_local_worker_processes_give_the_local_results_and_resume_after_a_killed_task(
    suite_file, local_results, tmp_path, hooks
):
    options = ExecutorOptions("local", cells_per_task=2, devices=("cpu", "cpu"))
    hooks.arm_kill(tmp_path / "small", 1)  # each worker dies in its second commit
    with pytest.raises(TasksFailed, match=r"task\(s\) failed .* rerun the same command"):
        distributed(suite_file, tmp_path, options)
    status = pcbench.status(suite_file, results=tmp_path)
    assert sum(counts["done"] for counts in status.counts.values()) >= 1
    assert status.failed, status.format()
    left = sum(CELLS - counts["done"] for counts in status.counts.values())
    hooks.disarm_kill(tmp_path / "small")
    summary = distributed(suite_file, tmp_path, options)
    assert len(summary.evaluated) == left  # only what the killed tasks left
    same_results(local_results, tmp_path)
    after = pcbench.status(suite_file, results=tmp_path)
    assert all(counts["done"] == CELLS for counts in after.counts.values()), after.format()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


RAY_AUTH = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "0" * 64}


@pytest.fixture(scope="module")
def ray_cluster(hook_module):
    """A real Ray cluster on 127.0.0.1, started with ``ray start --head`` with token
    authentication (Ray reads the mode when it is imported, so the drivers of this test are
    ``pcbench`` processes given the cluster's mode and token), and with the test-only hooks
    on its workers' PYTHONPATH (armed per results directory); its address."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("ray is not installed")
    ray = [sys.executable, "-c", "from ray.scripts.scripts import main; main()"]  # the ray command
    port = free_port()
    subprocess.run(
        [*ray, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2",
         "--include-dashboard=false", "--disable-usage-stats"],
        check=True, capture_output=True, timeout=180, env=hook_module.environment({**os.environ, **RAY_AUTH}),
    )  # fmt: skip
    yield f"127.0.0.1:{port}"
    subprocess.run([*ray, "stop", "--force"], capture_output=True, timeout=180)


def pcbench_cli(args: list[str]) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pcbench", *args]
    env = {**os.environ, **RAY_AUTH}
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)


def test_local_ray_cluster_started_by_pcbench_gives_the_local_results(suite_file, local_results, tmp_path):
    """Without --ray-address pcbench starts a local Ray cluster (``ray.init``) for the run."""
    pytest.importorskip("ray")
    distributed(suite_file, tmp_path, ExecutorOptions("ray", cells_per_task=4, ray=RayOptions(cluster_cpus=2)))
    same_results(local_results, tmp_path)


def test_ray_cluster_gives_the_local_results_and_resumes_after_a_killed_task(
    suite_file, local_results, ray_cluster, tmp_path, hook_module
):
    """A running cluster, reached through ``pcbench run --executor ray --ray-address``."""
    args = ["run", str(suite_file), "--results", str(tmp_path), "--leaderboards", str(tmp_path / "lb"),
            "--device", "cpu", "--executor", "ray", "--ray-address", ray_cluster, "--cells-per-task", "3"]  # fmt: skip
    hook_module.arm_kill(tmp_path / "small", 1)  # each Ray worker process dies in its second commit
    killed = pcbench_cli(args)
    assert killed.returncode == 1 and "task(s) failed" in killed.stderr and " log " in killed.stderr, killed.stderr
    before = pcbench.status(suite_file, results=tmp_path)
    left = sum(CELLS - counts["done"] for counts in before.counts.values())
    assert 0 < left < 2 * CELLS, before.format()
    hook_module.disarm_kill(tmp_path / "small")
    rerun = pcbench_cli(args)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{left} cells evaluated, {2 * CELLS - left} already stored" in rerun.stderr
    same_results(local_results, tmp_path)


@pytest.fixture(scope="module")
def slurm_cluster():
    """The project's own single-node SLURM cluster (tests/cluster/slurm_local.sh)."""
    pytest.importorskip("submitit")
    up = subprocess.run(["bash", SLURM_SCRIPT, "up"], capture_output=True, text=True, timeout=600)
    if up.returncode == 3:
        pytest.skip(f"no SLURM here: {up.stderr.strip().splitlines()[-1]}")
    assert up.returncode == 0, up.stderr[-2000:]
    conf = next(line.split("=", 1)[1] for line in up.stdout.splitlines() if line.startswith("export SLURM_CONF="))
    os.environ["SLURM_CONF"] = conf.strip().strip("'\"")
    yield
    subprocess.run(["bash", SLURM_SCRIPT, "down"], capture_output=True, timeout=300)


def test_slurm_job_array_gives_the_local_results_and_resumes_after_a_killed_task(
    suite_file, local_results, slurm_cluster, tmp_path, hooks
):
    options = ExecutorOptions("slurm", cells_per_task=3)
    hooks.arm_kill(tmp_path / "small", 1)  # sbatch passes this process's PYTHONPATH to the tasks
    with pytest.raises(TasksFailed, match="log "):
        distributed(suite_file, tmp_path, options)
    before = pcbench.status(suite_file, results=tmp_path)
    left = sum(CELLS - counts["done"] for counts in before.counts.values())
    assert 0 < left < 10, before.format()
    assert any((tmp_path / "small" / ".jobs").rglob("*.out")), "submitit's logs go under .jobs"
    hooks.disarm_kill(tmp_path / "small")
    summary = distributed(suite_file, tmp_path, options)
    assert len(summary.evaluated) == left
    same_results(local_results, tmp_path)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(path): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--executor", "ray", "--ray-address", "127.0.0.1:1"], "--ray-address 127.0.0.1:1: no Ray cluster answers"),
        (["--executor", "ray", "--ray-address", "nonsense"], "--ray-address 'nonsense' is not allowed"),
        (["--executor", "slurm", "--slurm-opt", "qos="], "--slurm-opt 'qos=' is not allowed"),
        (["--devices", "cuda:7"], "'cuda:7' is not a device of this machine"),
        (["--executor", "ray", "--detach"], "--detach needs --executor slurm"),
        (["--executor", "ray", "--devices", "cpu,cpu"], "--devices is for --executor local"),
        (["--slurm-partition", "gpu"], "--slurm-partition is for --executor slurm, not --executor local"),
        (["--executor", "slurm", "--ray-num-gpus", "1"], "--ray-num-gpus is for --executor ray, not --executor slurm"),
    ],
)
def test_what_cannot_run_is_one_line_and_touches_nothing(run_main, suite_file, local_results, args, expected):
    before = snapshot(local_results)
    status, err = run_main(["run", str(suite_file), "--results", str(local_results), *args])
    assert status == 2 and err.count("\n") == 1 and expected in err, err
    assert snapshot(local_results) == before


def test_missing_sbatch_and_missing_extras_are_one_line(run_main, suite_file, local_results, monkeypatch):
    before = snapshot(local_results)
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))  # no sbatch there
    status, err = run_main(["run", str(suite_file), "--results", str(local_results), "--executor", "slurm"])
    assert status == 2 and "sbatch is not on PATH" in err, err
    for module, extra in (("ray", "pcbench[ray]"), ("submitit", "pcbench[slurm]")):
        monkeypatch.setitem(sys.modules, module, None)  # as if the extra were not installed
        kind = "ray" if module == "ray" else "slurm"
        status, err = run_main(["run", str(suite_file), "--results", str(local_results), "--executor", kind])
        assert status == 2 and f"pip install '{extra}'" in err and err.count("\n") == 1, err
    assert snapshot(local_results) == before
    assert shutil.which("sbatch") is None


def test_slurm_detach_returns_the_job_id_refuses_a_second_run_and_status_follows_the_tasks(
    suite_file, local_results, slurm_cluster, tmp_path
):
    import time

    held = ExecutorOptions("slurm", cells_per_task=4, detach=True, slurm=SlurmOptions(extra=(("hold", True),)))
    summary = distributed(suite_file, tmp_path, held)  # sbatch --hold: queued until released
    assert summary.job_id and summary.job_id.isdigit() and not summary.evaluated
    manifest = next((tmp_path / "small" / ".jobs").glob("*/manifest.json")).read_text()
    assert f'"job_id": "{summary.job_id}"' in manifest
    counts = pcbench.status(suite_file, results=tmp_path).counts
    assert all(model["queued"] == CELLS for model in counts.values()), counts
    with pytest.raises(PcbenchError, match=rf"job {summary.job_id}\) still has 0 running and 2 queued task"):
        distributed(suite_file, tmp_path, ExecutorOptions("slurm"))  # would write beside the held tasks
    subprocess.run(["scontrol", "release", summary.job_id], check=True, capture_output=True)
    for _ in range(600):  # the tasks run on their own; wait for them through status alone
        counts = pcbench.status(suite_file, results=tmp_path).counts
        if all(model["done"] == CELLS for model in counts.values()) or any(m["failed"] for m in counts.values()):
            break
        time.sleep(0.5)
    assert all(model["done"] == CELLS for model in counts.values()), counts
    for _ in range(600):  # until SLURM no longer lists the array (its tasks exit after their last commit)
        if not slurm_job_active(summary.job_id):
            break
        time.sleep(0.5)
    again = distributed(suite_file, tmp_path, ExecutorOptions("slurm"))
    assert again.evaluated == [] and again.job_id is None
    same_results(local_results, tmp_path)


def slurm_job_active(job_id: str) -> bool:
    from pcbench.executors.slurm import job_active

    return job_active(job_id)


def test_no_resume_recomputes_every_cell_in_a_distributed_run(suite_file, local_results, tmp_path):
    options = ExecutorOptions("local", cells_per_task=4, devices=("cpu", "cpu"))
    distributed(suite_file, tmp_path, options)
    summary = pcbench.run(
        suite_file, results=tmp_path, leaderboards=None, device="cpu", progress=False, executor=options, resume=False
    )
    assert len(summary.evaluated) == 2 * CELLS and not summary.skipped
    same_results(local_results, tmp_path)


def fake_run(results: Path, executor: str, job_id: str, host: str) -> None:
    """A jobs folder of a run of ``small`` whose one task says it is running on ``host``."""
    import json

    run_dir = results / "small" / ".jobs" / "20261202T000000Z-feedface"
    run_dir.mkdir(parents=True)
    task = {"index": 0, "model": "digits-cnn", "cells": ["clean"], "log": str(run_dir / "task-0.log")}
    manifest = {"run_id": run_dir.name, "executor": executor, "job_id": job_id, "tasks": [task]}
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    state = {"index": 0, "model": "digits-cnn", "state": "running", "host": host, "pid": 1, "cell": "x", "log": "l"}
    (run_dir / "task-0.json").write_text(json.dumps(state))


def test_a_task_running_elsewhere_blocks_a_new_run_until_its_job_is_gone(suite_file, tmp_path, monkeypatch):
    from pcbench.executors.coordinator import check_no_active_tasks
    from pcbench.executors.jobs import jobs_root

    fake_run(tmp_path / "ray", "ray", "ray:01000000", "another-host")
    with pytest.raises(PcbenchError, match="still has 1 running and 0 queued task"):
        check_no_active_tasks(jobs_root(tmp_path / "ray", "small"))

    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))  # no squeue: SLURM lists no job
    fake_run(tmp_path / "slurm", "slurm", "424242", "another-host")
    check_no_active_tasks(jobs_root(tmp_path / "slurm", "small"))  # its job is gone: nothing writes
    status = pcbench.status(suite_file, results=tmp_path / "slurm")
    assert status.counts["digits-cnn"]["failed"] == 1 and "SLURM job ended" in status.failed[0].error
