"""End to end: a small suite runs, stores Parquet, resumes, and survives SIGKILL."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pcbench.leaderboards import leaderboard_table
from pcbench.runner import run_suite
from pcbench.store import read_predictions, read_scores
from pcbench.suite import load_suite, with_overrides

SUITE = """
name = "mini"
models = ["digits-cnn", "digits-pcnn"]
timesteps = 3
seed = 7

[dataset]
name = "digits"
limit = 40

[corruptions]
names = ["gaussian_noise", "impulse_noise", "fog"]
severities = [1, 4]

[[attacks]]
kind = "fgsm"
epsilons = [0.0, 0.1]

[[attacks]]
kind = "pgd-linf"
epsilons = [0.05]
steps = 3
rel_stepsize = 0.5

[[attacks]]
kind = "fgsm"
epsilons = [0.1]
attack_timestep = "first"
"""
#: Cells of one model: clean, 3 corruptions × 2 severities, fgsm at 2 ε, pgd-linf at 1, fgsm-first at 1.
CELLS = 1 + 3 * 2 + (2 + 1 + 1)
#: Timesteps stored per cell: digits-cnn (feedforward) 0 only; digits-pcnn 0..3.
TIMESTEPS = {"digits-cnn": 1, "digits-pcnn": 3 + 1}

PROVENANCE = [
    "run_id",
    "cell_key",
    "model_spec_hash",
    "checkpoint_hash",
    "suite_hash",
    "dataset_hash",
    "subset_hash",
    "seed",
    "pcbench_version",
    "torch_version",
    "foolbox_version",
    "imagecorruptions_version",
    "device",
    "gradient_mode",
    "corruption_source",
    "wall_time_s",
]


@pytest.fixture(scope="module")
def suite_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("suite") / "mini.toml"
    path.write_text(SUITE)
    return path


@pytest.fixture(scope="module")
def first_run(suite_file, tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    summary = run_suite(load_suite(suite_file), results_dir=results, device="cpu", batch_size=16, progress=False)
    return summary, results


def test_every_cell_is_stored_in_long_format_with_provenance(first_run):
    summary, results = first_run
    assert len(summary.evaluated) == 2 * CELLS and not summary.skipped
    scores = read_scores(results / "mini")
    for column in [
        "model",
        "perturbation",
        "corruption",
        "severity",
        "attack",
        "epsilon",
        "timestep",
        "n",
        "correct",
        "accuracy",
        *PROVENANCE,
    ]:
        assert column in scores.columns, column
    counts = scores.groupby("model").size().to_dict()
    assert counts == {model: CELLS * steps for model, steps in TIMESTEPS.items()}
    assert set(scores.loc[scores.model == "digits-pcnn", "timestep"]) == {0, 1, 2, 3}
    assert (scores.n == 40).all() and (scores.accuracy == scores.correct / scores.n).all()
    attack = scores[scores.perturbation == "attack"]
    assert set(attack.gradient_mode) == {"full"} and attack.corruption_source.isna().all()
    assert (
        scores.loc[scores.perturbation == "corruption", "corruption_source"]
        .str.startswith("generated:imagecorruptions-imaug==")
        .all()
    )
    assert scores.run_id.nunique() == 1 and (scores.seed == 7).all()


def test_per_sample_predictions_reproduce_the_scores(first_run):
    _, results = first_run
    scores = read_scores(results / "mini")
    predictions = read_predictions(results / "mini")
    predictions["hit"] = predictions.prediction == predictions.label
    recount = predictions.groupby(["model", "cell", "timestep"]).hit.sum().rename("recount")
    merged = scores.join(recount, on=["model", "cell", "timestep"])
    assert (merged.recount == merged.correct).all()


def test_pc_timestep_zero_equals_feedforward_on_clean_and_corruption_cells(first_run):
    _, results = first_run
    scores = read_scores(results / "mini")
    t0 = scores[scores.timestep == 0].pivot(index="cell", columns="model", values="correct")
    same_input = t0.index.map(lambda cell: "@" not in cell or cell.startswith("fgsm-first"))
    assert (t0.loc[same_input, "digits-pcnn"] == t0.loc[same_input, "digits-cnn"]).all()
    # ε = 0 changes nothing: robust accuracy equals clean accuracy at every timestep
    clean = scores[scores.cell == "clean"].set_index(["model", "timestep"]).correct
    zero = scores[scores.cell == "fgsm@0"].set_index(["model", "timestep"]).correct
    assert clean.equals(zero)


def test_rerun_evaluates_nothing(first_run, suite_file):
    _, results = first_run
    before = {path: path.stat().st_mtime_ns for path in (results / "mini").rglob("*.parquet")}
    summary = run_suite(load_suite(suite_file), results_dir=results, device="cpu", batch_size=16, progress=False)
    assert summary.evaluated == [] and len(summary.skipped) == 2 * CELLS
    assert {path: path.stat().st_mtime_ns for path in (results / "mini").rglob("*.parquet")} == before


def test_no_resume_recomputes_the_same_numbers(first_run, suite_file, tmp_path):
    """Into a directory that already holds every cell: resume=False computes them all again."""
    first, results = first_run
    shutil.copytree(results / "mini", tmp_path / "mini")
    summary = run_suite(
        load_suite(suite_file), results_dir=tmp_path, device="cpu", batch_size=16, resume=False, progress=False
    )
    assert sorted(summary.evaluated) == sorted(first.evaluated) and summary.skipped == []
    again = read_scores(tmp_path / "mini")
    assert summary.run_id != first.run_id and set(again.run_id) == {summary.run_id}  # every row rewritten
    columns = ["model", "cell", "timestep", "correct"]
    pd.testing.assert_frame_equal(again[columns], read_scores(results / "mini")[columns])


def test_changed_seed_reruns_exactly_the_cells_it_affects(first_run, suite_file, tmp_path):
    _, results = first_run
    shutil.copytree(results / "mini", tmp_path / "mini")
    summary = run_suite(
        with_overrides(load_suite(suite_file), seed=8),
        results_dir=tmp_path,
        device="cpu",
        batch_size=16,
        progress=False,
    )
    assert sorted(s.split("__")[1] for s in summary.skipped) == ["clean", "clean"]
    assert len(summary.evaluated) == 2 * (CELLS - 1)  # the seed reaches every cell but clean


@pytest.mark.parametrize("kill_after", [13])
def test_a_kill_then_rerun_gives_the_uninterrupted_table(first_run, suite_file, tmp_path, kill_after, hooks):
    """The run dies (like SIGKILL: no cleanup) in the middle of a commit, after ``kill_after``
    committed cells: a deterministic kill point (the test-only hooks) instead of a timed one."""
    _, results = first_run
    hooks.arm_kill(tmp_path / "r" / "mini", kill_after)
    command = [
        sys.executable,
        "-m",
        "pcbench",
        "run",
        str(suite_file),
        "--results",
        str(tmp_path / "r"),
        "--leaderboards",
        str(tmp_path / "lb"),
        "--device",
        "cpu",
        "--batch-size",
        "16",
    ]
    killed = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    assert killed.returncode == hooks.KILLED_STATUS, killed.stderr
    assert len(list((tmp_path / "r" / "mini" / "scores").glob("*.parquet"))) == kill_after
    hooks.disarm_kill(tmp_path / "r" / "mini")
    finished = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    assert finished.returncode == 0, finished.stderr
    resumed = read_scores(tmp_path / "r" / "mini")
    assert resumed.run_id.nunique() == (2 if kill_after else 1)  # the rerun only added the missing cells
    columns = ["model", "cell", "timestep", "correct"]
    pd.testing.assert_frame_equal(resumed[columns], read_scores(results / "mini")[columns])
    written = pd.read_csv(tmp_path / "lb" / "mini-timesteps.csv")
    expected = leaderboard_table(read_scores(results / "mini"))
    pd.testing.assert_frame_equal(written, expected.round(4), check_dtype=False, atol=1e-4)
    assert "digits-pcnn" in finished.stdout and "corruption" in finished.stdout.splitlines()[0]
