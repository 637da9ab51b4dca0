"""A full disk and a read-only one, for real: a small tmpfs holds the results directory.

A run that fills the disk stops with one line naming the full directory and the cells this
run committed, leaves no temporary file, and -- once the file system is enlarged -- resumes to
exactly the results of an uninterrupted run. Mounting needs root and a kernel that lets this
process mount tmpfs; elsewhere the tests are skipped with the reason.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from pcbench.runner import run_suite
from pcbench.store import read_predictions, read_scores
from pcbench.suite import load_suite

#: Eight cells of digits-cnn on 20 digits: each stores ~25 kB of scores and ~4 kB of predictions.
SUITE = """
name = "full"
models = ["digits-cnn"]
clean = true
[dataset]
name = "digits"
limit = 20
[[attacks]]
kind = "fgsm"
epsilons = [0.0, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2]
"""
CELLS = 8
PAGE = os.sysconf("SC_PAGE_SIZE")  # tmpfs charges whole pages per file
#: Columns that differ between any two runs (when and by which run a row was made).
RUN_COLUMNS = ["run_id", "created_at", "wall_time_s"]


def _mount(target: Path, options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True, text=True, check=False
    )


@contextmanager
def tmpfs(target: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted at ``target`` with ``options`` for the block; skips the test when it cannot be."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    target.mkdir()
    mounted = _mount(target, options)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True)


def room_for_three_and_a_half_cells(root: Path) -> int:
    """Bytes of a tmpfs that holds the lock's holder file and three of ``root``'s cells, and
    then half a cell more: the fourth cell's files start to be written, and the disk is full."""
    pages = {path.stem: 0 for path in (root / "scores").glob("*.parquet")}
    for path in root.glob("*/*.parquet"):
        pages[path.stem] += -(-path.stat().st_size // PAGE)
    per_cell = max(pages.values())
    return PAGE * (1 + 3 * per_cell + per_cell // 2)


def stored(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores without the per-run columns, and predictions, of the results at ``root``."""
    return read_scores(root).drop(columns=RUN_COLUMNS), read_predictions(root)


def test_a_full_disk_stops_with_one_line_and_the_rerun_completes_the_results(
    tmp_path, fresh_home, monkeypatch, run_main
):
    suite_file = tmp_path / "full.toml"
    suite_file.write_text(SUITE)
    reference = tmp_path / "reference"
    run_suite(load_suite(suite_file), results_dir=reference, device="cpu", progress=False)
    with tmpfs(tmp_path / "disk", f"size={room_for_three_and_a_half_cells(reference / 'full')}") as disk:
        results = disk / "results"
        args = [
            "run",
            str(suite_file),
            "--results",
            str(results),
            "--leaderboards",
            str(tmp_path / "boards"),
            "--device",
            "cpu",
        ]
        status, stderr = run_main(args)
        errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
        assert status == 2 and "Traceback" not in stderr and len(errors) == 1, stderr
        assert stderr.strip().splitlines()[-1] == errors[0]
        match = re.search(
            r"the file system holding (\S+) is full \(ENOSPC\) .*: (\d+) cell\(s\) committed by this run", errors[0]
        )
        assert match is not None, errors[0]
        assert match.group(1) == str(results / "full")
        committed = int(match.group(2))
        assert committed == 3
        assert not [path for path in disk.rglob("*") if path.name.endswith(".tmp")]  # nothing half-written
        done = {path.stem for path in (results / "full" / "scores").glob("*.parquet")}
        assert len(done) == committed

        subprocess.run(["mount", "-o", "remount,size=16m", str(disk)], check=True)  # space is freed
        status, stderr = run_main(args)
        assert status == 0, stderr
        assert f"{CELLS - committed} cells evaluated, {committed} already stored" in stderr
        scores, predictions = stored(results / "full")
        expected_scores, expected_predictions = stored(reference / "full")
        pd.testing.assert_frame_equal(scores, expected_scores)
        pd.testing.assert_frame_equal(predictions, expected_predictions)


def test_results_on_a_read_only_file_system_are_refused_before_anything_runs(
    tmp_path, fresh_home, monkeypatch, run_main
):
    suite_file = tmp_path / "full.toml"
    suite_file.write_text(SUITE)
    with tmpfs(tmp_path / "disk", "ro,size=64k") as disk:
        status, stderr = run_main(["run", str(suite_file), "--results", str(disk / "results")])
        assert status == 2 and "Traceback" not in stderr
        (line,) = stderr.strip().splitlines()
        assert line.startswith(f"error: --results {disk / 'results'}: cannot write in {disk} ("), line
        assert not any(disk.iterdir())


def test_a_full_leaderboards_directory_or_cache_is_named(tmp_path, fresh_home, monkeypatch, run_main):
    suite_file = tmp_path / "full.toml"
    suite_file.write_text(SUITE.replace("[[attacks]]", '[corruptions]\nnames = ["fog"]\nseverities = [1]\n[[attacks]]'))
    results = tmp_path / "results"
    with tmpfs(tmp_path / "boards", f"size={2 * PAGE}") as boards:
        args = ["run", str(suite_file), "--results", str(results), "--leaderboards", str(boards), "--device", "cpu"]
        status, stderr = run_main(args)
        (line,) = [line for line in stderr.splitlines() if line.startswith("error: ")]
        assert status == 2 and "Traceback" not in stderr, stderr
        assert line.startswith(f"error: {boards}: no space left on the device (ENOSPC); free space there"), line
    with tmpfs(tmp_path / "home", f"size={4 * PAGE}") as home:
        monkeypatch.setenv("PCBENCH_HOME", str(home))
        status, stderr = run_main([*args[:3], str(tmp_path / "results-2"), "--leaderboards", str(tmp_path / "b")])
        (line,) = [line for line in stderr.splitlines() if line.startswith("error: ")]
        assert status == 2 and "Traceback" not in stderr, stderr
        assert line.startswith(f"error: {home / 'corruptions' / 'digits' / 'fog'}: no space left on the device"), line
