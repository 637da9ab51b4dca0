"""What a run shows and records about its progress: ``n/N cells`` on the bar, ``wall_time_s``
once per cell, and the report's count of evaluated cells."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pcbench.leaderboards.board import CompareOptions, build_leaderboard
from pcbench.leaderboards.merge import load_results
from pcbench.leaderboards.report import report_path, write_report
from pcbench.runner import run_suite
from pcbench.store import read_scores
from pcbench.store.schema import SCORES_SCHEMA
from pcbench.suite import load_suite

SUITE = """
name = "progressmini"
models = ["digits-cnn", "digits-pcnn"]
timesteps = 3
seed = 7

[dataset]
name = "digits"
limit = 20

[[attacks]]
kind = "fgsm"
epsilons = [0.1]
"""


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """One run of 2 models × 2 cells (clean, fgsm@0.1) with the bar on; its summary, results
    directory and what the bar wrote to stderr."""
    directory = tmp_path_factory.mktemp("progress")
    (directory / "progressmini.toml").write_text(SUITE)
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        summary = run_suite(
            load_suite(directory / "progressmini.toml"), results_dir=directory / "results", device="cpu", progress=True
        )
    return summary, directory / "results", stderr.getvalue()


def test_the_bar_counts_cells_done_of_the_run(first_run):
    summary, _, bar = first_run
    assert len(summary.evaluated) == 4
    states = [state for state in re.split(r"[\r\n]", bar) if state.strip()]
    shown = [re.search(r"(\d+/\d+ cells[^\]]*)\]", state).group(1) for state in states]
    # each cell is announced, in grid order, with the cells done before it; the last state counts them all
    assert list(dict.fromkeys(state for state in shown if ", " in state)) == [
        "0/4 cells, digits-cnn clean",
        "1/4 cells, digits-pcnn clean",
        "2/4 cells, digits-cnn fgsm@0.1",
        "3/4 cells, digits-pcnn fgsm@0.1",
    ]
    assert shown[0] == "0/4 cells" and shown[-1] == "4/4 cells"


def test_wall_time_is_stored_once_per_cell(first_run):
    summary, results, _ = first_run
    scores = read_scores(results / "progressmini")
    for _, rows in scores.groupby(["model", "cell"]):
        timed = rows["wall_time_s"].dropna()
        # on the cell's first row (its first timestep) only, so a sum over rows is the cell's one time
        assert list(timed.index) == [rows["timestep"].idxmin()] and timed.iloc[0] > 0
        assert rows["wall_time_s"].sum() == timed.iloc[0]
    assert scores.groupby("model").size().to_dict() == {"digits-cnn": 2, "digits-pcnn": 2 * 4}


def test_a_directory_that_repeats_wall_time_on_every_row_still_reads(first_run, tmp_path):
    _, results, _ = first_run
    old = tmp_path / "progressmini"
    for kind in ("scores", "predictions"):
        (old / kind).mkdir(parents=True)
        for path in (results / "progressmini" / kind).glob("*.parquet"):
            (old / kind / path.name).write_bytes(path.read_bytes())
    path = next((old / "scores").glob("*digits-pcnn*clean*.parquet"))
    table = pq.read_table(path)
    repeated = pa.array([12.5] * table.num_rows, pa.float64())
    # as earlier versions wrote it: every row carries the time, in a field that is never null
    field = pa.field("wall_time_s", pa.float64(), nullable=False)
    index = table.schema.get_field_index("wall_time_s")
    pq.write_table(table.set_column(index, field, repeated).replace_schema_metadata(table.schema.metadata), path)
    scores = read_scores(old)
    assert scores.loc[(scores.model == "digits-pcnn") & (scores.cell == "clean"), "wall_time_s"].tolist() == [12.5] * 4
    assert SCORES_SCHEMA.field("wall_time_s").nullable


def test_the_report_counts_the_cells_evaluated(first_run, tmp_path: Path):
    summary, results, _ = first_run
    board = build_leaderboard(load_results([results], "progressmini"), CompareOptions())
    text = write_report(board, report_path(tmp_path, "progressmini"), []).read_text()
    assert f"; {len(summary.evaluated)} cells (2 perturbations), 2 models." in text
