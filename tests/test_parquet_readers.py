"""A real results directory reads as one table in pandas, pyarrow, polars and DuckDB.

The module runs a small suite once (two digits models, timesteps 0 and 2; clean, one
corruption, one attack on 20 images) and reads both datasets with each reader; every file
must have the dataset's explicit schema. Files written before that schema (inferred types,
``null`` columns, no ``limit``) must still read through pcbench's own reader.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from pcbench.errors import PcbenchError
from pcbench.runner import run_suite
from pcbench.store import (
    CELL_KEY,
    PREDICTIONS_SCHEMA,
    SCORES_SCHEMA,
    cell_stem,
    commit_cell,
    read_predictions,
    read_scores,
)
from pcbench.suite import load_suite

SUITE = """
name = "readers"
models = ["digits-cnn", "digits-pcnn"]
timesteps = [0, 2]
clean = true

[dataset]
name = "digits"
split = "test"
limit = 20

[corruptions]
names = ["gaussian_noise"]
severities = [1]

[[attacks]]
kind = "fgsm"
epsilons = [0.05]
"""

SAMPLES = 20
CELLS = ("clean", "gaussian_noise/1", "fgsm@0.05")
SCORE_ROWS = len(CELLS) * (1 + 2)  # digits-cnn is feedforward: timestep 0 only
SCHEMAS = {"scores": SCORES_SCHEMA, "predictions": PREDICTIONS_SCHEMA}
COMPARED = {
    "scores": ("model", "cell", "timestep", "correct", "accuracy", "attack", "severity", "epsilon", "limit"),
    "predictions": ("model", "cell", "sample_id", "label", "timestep", "prediction"),
}
READERS: dict[str, Callable[[Path], pd.DataFrame]] = {
    "pandas": pd.read_parquet,
    "pyarrow": lambda directory: ds.dataset(directory).to_table().to_pandas(),
    "polars": lambda directory: pl.read_parquet(directory / "*.parquet").to_pandas(),
    "duckdb": lambda directory: duckdb.sql(f"select * from read_parquet('{directory}/*.parquet')").df(),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The results directory (``<results>/readers``) of one run of the small suite."""
    tmp_path = tmp_path_factory.mktemp("readers")
    suite_file = tmp_path / "readers.toml"
    suite_file.write_text(SUITE, encoding="utf-8")
    summary = run_suite(load_suite(suite_file), results_dir=tmp_path / "results", progress=False, workers=1)
    assert len(summary.evaluated) == 2 * len(CELLS)
    return summary.results


def ours(root: Path, kind: str) -> pd.DataFrame:
    """The dataset ``kind`` as pcbench's own reader returns it."""
    return read_scores(root) if kind == "scores" else read_predictions(root)


def rows(frame: pd.DataFrame, kind: str) -> Counter[tuple[object, ...]]:
    """The compared columns' rows as a multiset of tuples, every missing value as None."""
    values = frame[list(COMPARED[kind])].astype(object)
    return Counter(map(tuple, values.where(values.notna(), None).itertuples(index=False)))


@pytest.mark.parametrize("kind", SCHEMAS)
def test_every_file_has_the_explicit_schema_and_the_cell_key(results: Path, kind: str) -> None:
    files = sorted((results / kind).glob("*.parquet"))
    assert len(files) == 2 * len(CELLS)
    for path in files:
        schema = pq.read_schema(path)
        assert schema.equals(SCHEMAS[kind]), path
        assert CELL_KEY in schema.metadata


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("kind", SCHEMAS)
def test_each_reader_reads_the_directory_as_pcbench_does(results: Path, kind: str, reader: str) -> None:
    expected = ours(results, kind)
    assert len(expected) == (SCORE_ROWS if kind == "scores" else SCORE_ROWS * SAMPLES)
    frame = READERS[reader](results / kind)
    assert list(frame.columns) == SCHEMAS[kind].names
    assert len(frame) == len(expected)
    assert rows(frame, kind) == rows(expected, kind)


def test_scores_hold_typed_values_and_nulls(results: Path) -> None:
    scores = read_scores(results).set_index(["model", "cell", "timestep"])
    attack = scores.loc[("digits-pcnn", "fgsm@0.05", 2)]
    assert attack["attack"] == "fgsm" and attack["epsilon"] == 0.05 and pd.isna(attack["severity"])
    assert attack["gradient_mode"] == "full" and attack["limit"] == SAMPLES
    corruption = scores.loc[("digits-cnn", "gaussian_noise/1", 0)]
    assert corruption["corruption"] == "gaussian_noise" and corruption["severity"] == 1
    assert pd.isna(corruption["attack"]) and pd.isna(corruption["base"])
    assert scores.loc[("digits-pcnn", "clean", 0), "base"] == "digits-cnn"
    assert scores["n"].eq(SAMPLES).all()
    table = ds.dataset(results / "scores").to_table()
    assert table.schema.field("attack").type == pa.string()
    assert table["attack"].null_count == 2 * 3  # the clean and corruption rows


def _legacy(frame: pd.DataFrame) -> pa.Table:
    """``frame`` converted the way files were written before the explicit schema.

    The runner built all-None columns as ``object``, which pyarrow infers as ``null``;
    the ``limit`` column did not exist yet.
    """
    frame = frame.drop(columns=["limit"], errors="ignore")  # scores only
    empty = [name for name in frame.columns if frame[name].isna().all()]
    return pa.Table.from_pandas(frame.astype(dict.fromkeys(empty, object)), preserve_index=False)


def test_files_written_with_inferred_schemas_still_read(results: Path, tmp_path: Path) -> None:
    root = tmp_path / results.name
    shutil.copytree(results, root)
    stem = cell_stem("digits-cnn", "clean")
    for kind in SCHEMAS:
        frame = ours(results, kind)
        path = root / kind / f"{stem}.parquet"
        pq.write_table(_legacy(frame[(frame["model"] == "digits-cnn") & (frame["cell"] == "clean")]), path)
    legacy = pq.read_schema(root / "scores" / f"{stem}.parquet")
    assert legacy.field("attack").type == pa.null() and "limit" not in legacy.names
    expected = read_scores(results)
    expected.loc[(expected["model"] == "digits-cnn") & (expected["cell"] == "clean"), "limit"] = pd.NA
    pd.testing.assert_frame_equal(read_scores(root), expected)
    pd.testing.assert_frame_equal(read_predictions(root), read_predictions(results))


def test_a_frame_that_does_not_fit_the_schema_is_refused(results: Path, tmp_path: Path) -> None:
    scores, predictions = read_scores(results), read_predictions(results)
    cell = scores[(scores["model"] == "digits-pcnn") & (scores["cell"] == "clean")]
    mine = predictions[(predictions["model"] == "digits-pcnn") & (predictions["cell"] == "clean")]
    bad = {
        "missing columns: 'limit'": (cell.drop(columns=["limit"]), mine),
        "columns not in the schema: 'extra'": (cell, mine.assign(extra=1)),
        "non-nullable": (cell.assign(dataset=None), mine),
        "not in range": (cell, mine.assign(prediction=1 << 20)),
    }
    for message, (score_rows, prediction_rows) in bad.items():
        with pytest.raises(PcbenchError, match=message):
            commit_cell(tmp_path, "s", "k", score_rows, prediction_rows)
    assert not list(tmp_path.rglob("*.parquet"))
