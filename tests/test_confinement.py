"""pcbench writes only where it manages files, and runs where ``git`` is missing: a planted
``.lock.holder`` link is replaced, not followed; results or leaderboards that overlap the
pcbench home are refused in one line; no ``git`` on PATH is no crash (issue 19)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

SUITE = """name = "conf"
models = ["digits-cnn"]
[dataset]
name = "digits"
split = "test"
limit = 10
[[attacks]]
kind = "fgsm"
epsilons = [0.05]
"""


@pytest.fixture
def suite_file(tmp_path):
    path = tmp_path / "conf.toml"
    path.write_text(SUITE)
    return path


def snapshot(*folders: Path) -> dict[str, str]:
    """Path -> SHA-256 of every file below ``folders`` (links as their target text)."""
    found = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_symlink():
                found[str(path)] = "link:" + os.readlink(path)
            elif path.is_file():
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def test_a_planted_holder_link_is_replaced_not_followed(suite_file, tmp_path, run_main):
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "precious.txt"
    victim.write_text("keep me")
    root = tmp_path / "results" / "conf"
    root.mkdir(parents=True)
    (root / ".lock.holder").symlink_to(victim)
    args = ["run", str(suite_file), "--results", str(tmp_path / "results"), "--leaderboards", str(tmp_path / "lb")]
    status, err = run_main(args)
    assert status == 0, err
    assert victim.read_text() == "keep me"
    assert not (root / ".lock.holder").exists()  # removed when the run ended, as always


@pytest.mark.parametrize("where", ["inside", "home itself", "containing"])
def test_results_or_leaderboards_overlapping_the_pcbench_home_are_refused(
    suite_file, tmp_path, fresh_home, run_main, where
):
    target = {"inside": fresh_home / "corruptions", "home itself": fresh_home, "containing": tmp_path}[where]
    before = snapshot(tmp_path)
    for option in ("--results", "--leaderboards"):
        others = ["--leaderboards", str(tmp_path / "elsewhere-lb")] if option == "--results" else []
        args = ["run", str(suite_file), option, str(target), *others]
        if option == "--leaderboards":
            args += ["--results", str(fresh_home.parent / "elsewhere")]
        status, err = run_main(args)
        lines = err.strip().splitlines()
        assert status == 2 and len(lines) == 1 and "the pcbench home" in lines[0], err
        assert lines[0].startswith(f"error: {option} {target} ")
    assert snapshot(tmp_path) == before


def test_pcbench_runs_with_no_git_on_path(suite_file, tmp_path):
    bare = tmp_path / "bin"
    bare.mkdir()  # a PATH without git (nor anything else)
    done = subprocess.run(
        [sys.executable, "-m", "pcbench", "run", str(suite_file), "--results", str(tmp_path / "r"), "--leaderboards"]
        + [str(tmp_path / "lb")],
        capture_output=True,
        text=True,
        env={**{k: v for k, v in os.environ.items() if k != "GIT_PYTHON_REFRESH"}, "PATH": str(bare)},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr


def test_detach_with_a_plain_local_run_is_refused_not_ignored(suite_file, tmp_path, run_main):
    status, err = run_main(["run", str(suite_file), "--results", str(tmp_path / "r"), "--detach"])
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and "--detach needs --executor slurm" in lines[0], err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("service", ["http", "silent"])
def test_a_ray_address_where_another_service_answers_is_refused(service, suite_file, tmp_path, run_main):
    pytest.importorskip("ray")
    import http.server
    import socket
    import threading

    class Quiet(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # the server's own log would go to our stderr
            pass

    if service == "http":
        server = http.server.HTTPServer(("127.0.0.1", 0), Quiet)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
    else:  # accepts connections, never says a word
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
    args = ["run", str(suite_file), "--results", str(tmp_path / "r"), "--executor", "ray"]
    status, err = run_main([*args, "--ray-address", f"127.0.0.1:{port}"])
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and "is not a Ray head (it does not speak gRPC)" in lines[0], err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("kind", ["directory", "fifo"])
def test_a_suite_path_that_is_not_a_file_is_named(kind, tmp_path, run_main):
    path = tmp_path / "suite.toml"
    path.mkdir() if kind == "directory" else os.mkfifo(path)
    status, err = run_main(["run", str(path), "--results", str(tmp_path / "r")])
    words = {"directory": "is a directory", "fifo": "is a named pipe (FIFO)"}[kind]
    assert status == 2 and err.strip() == (
        f"error: {path}: the suite file {words}; allowed: a suite TOML file or a built-in suite name"
    )


def test_an_sbatch_that_prints_no_job_id_is_named_with_what_it_printed(suite_file, tmp_path, run_main, monkeypatch):
    pytest.importorskip("submitit")
    site = tmp_path / "site-bin"
    site.mkdir()
    wrapper = site / "sbatch"  # a site's wrapper that exits 0 but prints no "Submitted batch job <id>"
    wrapper.write_text("#!/bin/sh\necho 'queued by the site scheduler'\n")
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{site}{os.pathsep}{os.environ['PATH']}")
    status, err = run_main(["run", str(suite_file), "--results", str(tmp_path / "r"), "--executor", "slurm"])
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1, err
    assert lines[0].startswith(
        "error: --executor slurm: sbatch printed no job id (it printed 'queued by the site scheduler')"
    )
    assert not list((tmp_path / "r").rglob("*.parquet"))


def test_an_unknown_split_names_the_suite_file(tmp_path, run_main):
    suite = tmp_path / "split.toml"
    suite.write_text('name = "split"\nmodels = ["digits-cnn"]\n[dataset]\nname = "digits"\nsplit = "validation"\n')
    status, err = run_main(["run", str(suite), "--results", str(tmp_path / "r"), "--leaderboards", str(tmp_path / "l")])
    assert status == 2 and err.strip() == (
        f"error: {suite}: dataset.split = 'validation' for digits; allowed: train, test"
    )


def test_a_planted_task_log_link_is_not_written_through(suite_file, tmp_path):
    import pcbench
    from pcbench.executors.units import WorkUnit
    from pcbench.runner.settings import RunSettings

    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    run_dir = tmp_path / "results" / "conf" / ".jobs" / "run"
    run_dir.mkdir(parents=True)
    (run_dir / "task-0.log").symlink_to(victim)
    unit = WorkUnit(
        run_id="run",
        index=0,
        suite=pcbench.load_suite(suite_file),
        model="digits-cnn",
        cells=("clean",),
        settings=RunSettings(tmp_path / "results", device="cpu", progress=False, workers=1),
        jobs=str(run_dir),
    )
    with pytest.raises(OSError, match="Too many levels of symbolic links"):
        pcbench.run_task(unit)
    assert victim.read_text() == "keep me"
    assert not (tmp_path / "results" / "conf" / "scores").exists()
