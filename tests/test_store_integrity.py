"""A cell is done only when both of its files are whole and agree; one writer per results directory.

Real ``pcbench run`` processes on a tiny suite (digits-cnn on 20 test images: clean, fog at
severities 1 and 2), with their own pcbench home:

- a run killed between the predictions and scores renames of a cell (deterministically, by
  the test-only ``tests/hooks/sitecustomize.py``) leaves halves with different keys, while the scores
  half still carries the key the rerun asks for; the rerun recomputes that cell and ends with
  the tables of an uninterrupted run;
- a truncated or deleted half makes the cell "not done" and reading the directory a one-line
  error that names it; a rerun fixes it;
- the lock: ``--no-wait`` fails in one line naming the holder; a run started while another
  holds the lock waits, leaves the holder's temporary files alone, and runs once it is free.
  The holder is another process (not this one: a run refuses a lock its parent holds), and
  every step waits for a file marker, never for a time: the holder's "held", the waiter's
  :data:`WAITING` (written as it blocks on the lock, by the test-only hooks), "release".
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pandas as pd
import pyarrow.parquet as pq
import pytest

from pcbench.errors import PcbenchError
from pcbench.leaderboards.merge import load_results
from pcbench.runner import run_suite
from pcbench.store import CELL_KEY, cell_stem, read_predictions, read_scores, stored_key
from pcbench.suite import load_suite

SUITE = """
name = "tiny"
models = ["digits-cnn"]
clean = true

[dataset]
name = "digits"
split = "test"
limit = 20

[corruptions]
names = ["fog"]
severities = [1, 2]
"""

NAME = "tiny"
RUN_SPECIFIC = ["run_id", "created_at", "wall_time_s"]
BOUND_S = 300  # generous bound on how long a tiny run may take on a loaded 2-core machine


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pcbench home of every run of this module (its corruption cache is shared)."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def suite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("suite") / f"{NAME}.toml"
    path.write_text(SUITE, encoding="utf-8")
    return path


def command(suite_file: Path, results: Path, *args: str) -> list[str]:
    """``pcbench run`` of the tiny suite into ``results`` (leaderboards next to it)."""
    return [
        sys.executable,
        "-m",
        "pcbench",
        "run",
        str(suite_file),
        "--results",
        str(results),
        "--leaderboards",
        str(results.parent / "leaderboards"),
        "--workers",
        "1",
        "--device",
        "cpu",
        *args,
    ]


def environment(home: Path) -> dict[str, str]:
    """This process's environment (with the test-only hooks when the test asked for them)
    and the module's pcbench home."""
    return {**os.environ, "PCBENCH_HOME": str(home)}


def pcbench_run(suite_file: Path, results: Path, home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        command(suite_file, results, *args),
        check=False,
        capture_output=True,
        text=True,
        env=environment(home),
        timeout=BOUND_S,
    )


@pytest.fixture(scope="module")
def stored(suite_file: Path, home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<results>`` of one uninterrupted run of the tiny suite."""
    results = tmp_path_factory.mktemp("stored") / "results"
    finished = pcbench_run(suite_file, results, home)
    assert finished.returncode == 0, finished.stderr
    return results


@pytest.fixture
def results(stored: Path, tmp_path: Path) -> Path:
    """A private copy of the stored ``<results>``, for a test to damage."""
    copy = tmp_path / "results"
    shutil.copytree(stored, copy)
    return copy


def assert_same_tables(results: Path, expected: Path) -> None:
    """Scores (less the run-specific columns) and predictions equal those of ``expected``."""
    root, reference = results / NAME, expected / NAME
    pd.testing.assert_frame_equal(
        read_scores(root).drop(columns=RUN_SPECIFIC), read_scores(reference).drop(columns=RUN_SPECIFIC)
    )
    pd.testing.assert_frame_equal(read_predictions(root), read_predictions(reference))


def one_error_line(stderr: str) -> str:
    """The single ``error:`` line of a failed command's stderr (and no traceback)."""
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    return errors[0]


def test_a_kill_between_the_renames_is_recomputed_and_ends_as_an_uninterrupted_run(
    results: Path, stored: Path, suite_file: Path, home: Path, hooks: ModuleType
) -> None:
    root = results / NAME
    stem = cell_stem("digits-cnn", "fog/2")
    wanted = stored_key(root, stem)
    assert wanted is not None
    # Another seed changes the fog cells' keys (not the clean one's): fog/1 is committed,
    # then the run dies between the renames of fog/2.
    hooks.arm_kill(root, 1)
    killed = pcbench_run(suite_file, results, home, "--seed", "8")
    assert killed.returncode == hooks.KILLED_STATUS, killed.stderr
    hooks.disarm_kill(root)
    keys = {
        kind: pq.read_schema(root / kind / f"{stem}.parquet").metadata[CELL_KEY].decode()
        for kind in ("scores", "predictions")
    }
    assert keys["scores"] == wanted != keys["predictions"]  # the scores half alone would pass for done
    assert stored_key(root, stem) is None
    with pytest.raises(PcbenchError) as error:
        load_results([results], NAME)
    message = str(error.value)
    assert f"{stem} (its two files carry different cell keys)" in message
    assert f"rerun `pcbench run {NAME}`" in message and "\n" not in message
    rerun = pcbench_run(suite_file, results, home)
    assert rerun.returncode == 0, rerun.stderr
    assert "2 cells evaluated, 1 already stored" in rerun.stderr  # fog/1 of the other seed, and fog/2
    assert_same_tables(results, stored)


@pytest.mark.parametrize("kind", ["predictions", "scores"])
@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_a_damaged_half_is_named_by_the_readers_and_recomputed_by_a_rerun(
    results: Path,
    stored: Path,
    suite_file: Path,
    home: Path,
    kind: str,
    damage: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = results / NAME
    stem = cell_stem("digits-cnn", "fog/1")
    path = root / kind / f"{stem}.parquet"
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.unlink()
    assert stored_key(root, stem) is None
    with pytest.raises(PcbenchError) as error:
        load_results([results], NAME)
    message = str(error.value)
    assert stem in message and f"rerun `pcbench run {NAME}`" in message and "\n" not in message
    monkeypatch.setenv("PCBENCH_HOME", str(home))
    summary = run_suite(load_suite(suite_file), results_dir=results, device="cpu", workers=1, progress=False)
    assert summary.evaluated == [stem]
    assert_same_tables(results, stored)


def test_compare_names_a_missing_predictions_file_in_one_line_and_a_rerun_fixes_it(
    results: Path, suite_file: Path, home: Path
) -> None:
    stem = cell_stem("digits-cnn", "clean")
    (results / NAME / "predictions" / f"{stem}.parquet").unlink()
    compare = subprocess.run(
        [
            sys.executable,
            "-m",
            "pcbench",
            "compare",
            NAME,
            "--results",
            str(results),
            "--leaderboards",
            str(results.parent / "leaderboards"),
        ],
        check=False,
        capture_output=True,
        text=True,
        env=environment(home),
        timeout=BOUND_S,
    )
    assert compare.returncode == 2
    line = one_error_line(compare.stderr)
    assert f"{stem} (predictions file missing)" in line and f"rerun `pcbench run {NAME}`" in line
    rerun = pcbench_run(suite_file, results, home)  # builds the leaderboard too, so compare works again
    assert rerun.returncode == 0, rerun.stderr
    assert "1 cells evaluated, 2 already stored" in rerun.stderr


def files_under(root: Path) -> dict[str, bytes]:
    """Every file in the scores and predictions datasets, hidden ones included."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for kind in ("scores", "predictions")
        for p in sorted((root / kind).iterdir())
    }


HOLDER = """
import sys, time
from pathlib import Path
from pcbench.store import results_lock
root, markers = Path(sys.argv[1]), Path(sys.argv[2])
with results_lock(root):
    (markers / "held").touch()
    while not (markers / "release").exists():
        time.sleep(0.01)
"""


@contextmanager
def lock_held_elsewhere(root: Path, markers: Path, home: Path) -> Iterator[subprocess.Popen]:
    """Another process holds ``root``'s lock for the ``with`` block (until the "release" marker)."""
    markers.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(root), str(markers)], env=environment(home))
    try:
        wait_until(lambda: (markers / "held").exists(), holder, "the holder's lock")
        yield holder
    finally:
        (markers / "release").touch()
        assert holder.wait(timeout=BOUND_S) == 0


def test_no_wait_fails_in_one_line_naming_the_holder_and_readers_need_no_lock(
    results: Path, suite_file: Path, home: Path, tmp_path: Path
) -> None:
    root = results / NAME
    before = files_under(root)
    with lock_held_elsewhere(root, tmp_path / "markers", home) as holder:
        refused = pcbench_run(suite_file, results, home, "--no-wait")
        assert len(load_results([results], NAME).scores) == 3  # readers never wait for the lock
    assert refused.returncode == 2
    line = one_error_line(refused.stderr)
    assert f"is in use by another pcbench run, pid {holder.pid} on {socket.gethostname()} since " in line
    assert str(root) in line
    assert files_under(root) == before


def wait_until(condition: Callable[[], bool], process: subprocess.Popen, what: str) -> None:
    """Poll ``condition`` while ``process`` runs (it must not end first), for at most BOUND_S seconds."""
    deadline = time.monotonic() + BOUND_S
    while not condition():
        assert process.poll() is None, f"the process ended (status {process.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} within {BOUND_S} s"
        time.sleep(0.05)


def test_a_second_run_waits_for_the_lock_and_leaves_the_holders_temp_files(
    results: Path, suite_file: Path, home: Path, tmp_path: Path, hooks: ModuleType
) -> None:
    root = results / NAME
    stderr_file = tmp_path / "stderr"
    with lock_held_elsewhere(root, tmp_path / "markers", home) as holder:  # a first run, mid-commit
        in_flight = root / "scores" / f".{cell_stem('digits-cnn', 'clean')}.parquet.abc123.tmp"
        in_flight.write_bytes(b"being written")
        before = files_under(root)
        with stderr_file.open("w") as stderr:
            process = subprocess.Popen(
                command(suite_file, results), stdout=subprocess.DEVNULL, stderr=stderr, env=environment(home)
            )
        try:
            # the run blocks on the lock (it does not end first): whatever it did before, it did now
            wait_until(lambda: (root / hooks.WAITING).exists(), process, "blocking on the lock")
            assert (root / hooks.WAITING).read_text() == str(process.pid)
            assert files_under(root) == before  # the holder's temporary file included
        except BaseException:
            process.kill()
            raise
    assert process.wait(timeout=BOUND_S) == 0, stderr_file.read_text()
    stderr = stderr_file.read_text()
    waiting = [line for line in stderr.splitlines() if "waiting for the lock" in line]
    assert len(waiting) == 1
    assert waiting[0].startswith(
        f"waiting for the lock on {root}, held by pid {holder.pid} on {socket.gethostname()} since "
    )
    assert "0 cells evaluated, 3 already stored" in stderr
    assert not in_flight.exists()  # its writer let go of the lock: stale, removed at start-up
    assert not (root / ".lock.holder").exists()
