"""One evaluation set per results directory: a run on another set is refused and changes no
stored byte; ``--replace`` drops the run's own cells of the other set; ``compare`` refuses
to compare models evaluated on different sample sets."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from pcbench.cli import cli
from pcbench.store import read_scores

SUITE = """name = "mix"
models = ["digits-cnn", "digits-pcnn"]
timesteps = [0, 2]
[dataset]
name = "digits"
split = "test"
limit = 30
[corruptions]
names = ["fog"]
severities = [2]
"""


def run(*args: str):
    return CliRunner().invoke(cli, ["run", *args, "--device", "cpu", "--workers", "1"])


def snapshot(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` (hidden ones included) with the SHA-256 of its bytes."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A results directory holding the suite at limit 30."""
    root = tmp_path_factory.mktemp("mix")
    (root / "mix.toml").write_text(SUITE)
    result = run(str(root / "mix.toml"), "--results", str(root / "results"), "--leaderboards", str(root / "lb"))
    assert result.exit_code == 0, result.output
    return root


def test_a_run_on_another_limit_is_refused_and_changes_nothing(stored):
    before = snapshot(stored / "results")
    result = run(
        str(stored / "mix.toml"),
        "--limit",
        "10",
        "--results",
        str(stored / "results"),
        "--leaderboards",
        str(stored / "lb-10"),
    )
    assert result.exit_code != 0
    message = str(result.exception)
    assert "30 samples (limit 30" in message and "10 samples (limit 10" in message
    assert "--results DIR" in message and "--replace" in message
    assert snapshot(stored / "results") == before
    assert not (stored / "lb-10").exists()


def test_the_cli_refusal_is_one_error_line(stored, tmp_path):
    import subprocess
    import sys

    before = snapshot(stored / "results")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pcbench",
            "run",
            str(stored / "mix.toml"),
            "--limit",
            "10",
            "--results",
            str(stored / "results"),
            "--leaderboards",
            str(tmp_path / "lb"),
        ],
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 2 and "Traceback" not in completed.stderr
    errors = [line for line in completed.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(stored / "results" / "mix") in errors[0]
    assert snapshot(stored / "results") == before


def test_replace_drops_the_other_set_and_evaluates_this_one(stored, tmp_path):
    results = tmp_path / "results"
    for kind in ("scores", "predictions"):  # a copy of the limit-30 directory
        (results / "mix" / kind).mkdir(parents=True)
        for path in (stored / "results" / "mix" / kind).iterdir():
            (results / "mix" / kind / path.name).write_bytes(path.read_bytes())
    result = run(
        str(stored / "mix.toml"),
        "--limit",
        "10",
        "--replace",
        "--results",
        str(results),
        "--leaderboards",
        str(tmp_path / "lb"),
    )
    assert result.exit_code == 0, result.output
    scores = read_scores(results / "mix")
    assert set(scores["n"]) == {10} and set(scores["limit"]) == {10}
    assert len(list((results / "mix" / "scores").glob("*.parquet"))) == 4  # 2 models × (clean, fog/2)
    again = run(
        str(stored / "mix.toml"), "--limit", "10", "--results", str(results), "--leaderboards", str(tmp_path / "lb")
    )
    assert again.exit_code == 0 and "0 cells evaluated, 4 already stored" in again.output


def test_replace_does_not_drop_models_the_run_does_not_evaluate(stored, tmp_path):
    results = tmp_path / "results"
    result = run(
        str(stored / "mix.toml"),
        "-m",
        "digits-cnn",
        "--limit",
        "10",
        "--replace",
        "--results",
        str(stored / "results"),
        "--leaderboards",
        str(tmp_path / "lb"),
    )
    assert result.exit_code != 0 and "also holds cells of digits-pcnn" in str(result.exception)
    assert not results.exists()


def test_compare_refuses_mixed_sample_sets(stored, tmp_path):
    big, small = tmp_path / "big", tmp_path / "small"
    assert (
        run(
            str(stored / "mix.toml"), "-m", "digits-cnn", "--results", str(big), "--leaderboards", str(tmp_path / "lb")
        ).exit_code
        == 0
    )
    assert (
        run(
            str(stored / "mix.toml"),
            "-m",
            "digits-pcnn",
            "--limit",
            "10",
            "--results",
            str(small),
            "--leaderboards",
            str(tmp_path / "lb"),
        ).exit_code
        == 0
    )
    result = CliRunner().invoke(
        cli,
        [
            "compare",
            str(stored / "mix.toml"),
            "--results",
            str(big),
            "--results",
            str(small),
            "--leaderboards",
            str(tmp_path / "lb2"),
        ],
    )
    assert result.exit_code != 0
    message = str(result.exception)
    assert "mix 2 evaluation sets" in message
    assert "30 samples" in message and "10 samples" in message and "digits-pcnn clean" in message
    assert not (tmp_path / "lb2").exists()
