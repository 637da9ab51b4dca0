"""Tests of the atomic Parquet result store (real files in tmp_path)."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pcbench.errors import PcbenchError
from pcbench.store import (
    CELL_KEY,
    SCORES_SCHEMA,
    cell_stem,
    commit_cell,
    read_predictions,
    read_scores,
    remove_stale_temp_files,
    stored_key,
)


def _placeholder(field: pa.Field, rows: int) -> pd.Series:
    """A column of ``field`` that the tests do not look at: null where allowed, else 0 or "-"."""
    if pa.types.is_string(field.type):
        return pd.Series([None if field.nullable else "-"] * rows, dtype="str")
    if field.nullable:
        nullable = {pa.int64(): "Int64", pa.float64(): "Float64", pa.bool_(): "boolean"}
        return pd.Series([None] * rows, dtype=nullable[field.type])
    return pd.Series([0] * rows, dtype=field.type.to_pandas_dtype())


def scores_frame(
    model: str, perturbation: str, corruption: str | None, severity: int | None, steps: int
) -> pd.DataFrame:
    """Score rows of one cell with every schema column, in the dtypes a runner produces."""
    n, correct = 100, np.arange(90, 90 + steps)
    given = {
        "model": pd.Series([model] * steps, dtype="str"),
        "cell": pd.Series([f"{perturbation}/{corruption}/{severity}"] * steps, dtype="str"),
        "perturbation": pd.Series([perturbation] * steps, dtype="str"),
        "corruption": pd.Series([corruption] * steps, dtype="str"),
        "severity": pd.Series([severity] * steps, dtype="Int64"),
        "timestep": np.arange(steps, dtype=np.int64),
        "n": np.full(steps, n, dtype=np.int64),
        "correct": correct.astype(np.int64),
        "accuracy": correct / n,
    }
    return pd.DataFrame({field.name: given.get(field.name, _placeholder(field, steps)) for field in SCORES_SCHEMA})


def predictions_frame(model: str, cell: str, steps: int, samples: int = 5) -> pd.DataFrame:
    """Long per-sample predictions of one cell."""
    return pd.DataFrame(
        {
            "model": pd.Series([model] * (samples * steps), dtype="str"),
            "cell": pd.Series([cell] * (samples * steps), dtype="str"),
            "sample_id": np.tile(np.arange(samples, dtype=np.int32), steps),
            "label": np.tile(np.arange(samples, dtype=np.int16) % 3, steps),
            "timestep": np.repeat(np.arange(steps, dtype=np.int16), samples),
            "prediction": np.arange(samples * steps, dtype=np.int16) % 3,
            "draw": np.zeros(samples * steps, dtype=np.int16),  # a deterministic model's one draw
            "attacked_at": pd.Series([None] * (samples * steps), dtype="Int16"),  # the cell's own rows
        }
    )


CELLS = [
    ("pcnn", "clean", None, None, 3),
    ("pcnn", "corruption", "fog", 2, 3),
    ("ff", "clean", None, None, 1),
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A suite results directory holding three committed cells."""
    root = tmp_path / "results" / "mysuite"
    for model, perturbation, corruption, severity, steps in CELLS:
        key = f"key-{model}-{perturbation}"
        label = f"{perturbation}/{corruption}/{severity}"
        scores = scores_frame(model, perturbation, corruption, severity, steps)
        commit_cell(root, cell_stem(model, label), key, scores, predictions_frame(model, label, steps))
    return root


def visible(directory: Path) -> list[str]:
    """Names of the non-hidden files in a directory."""
    return sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))


def test_cell_stem_is_readable_safe_and_distinct() -> None:
    stem = cell_stem("digits-pcnn", "gaussian_noise/3")
    assert stem.startswith("digits-pcnn__gaussian_noise-3__")
    assert len(stem.rsplit("__", 1)[1]) == 8
    labels = ["a/b", "a:b", "a b", "a-b", "a\\b"]
    stems = [cell_stem("m", label) for label in labels]
    assert len(set(stems)) == len(labels)
    for weird in stems + [cell_stem(".hidden", "x"), cell_stem("_x", "y"), cell_stem("../../etc", "p\0q")]:
        assert all(c.isalnum() or c in "._-" for c in weird) and weird[0] not in "._"
    assert cell_stem("m", "a/b") == cell_stem("m", "a/b")


def test_commit_and_stored_key_round_trip(root: Path) -> None:
    stem = cell_stem("pcnn", "clean/None/None")
    assert stored_key(root, stem) == "key-pcnn-clean"
    assert stored_key(root, cell_stem("pcnn", "never/ran")) is None
    predictions = pq.read_schema(root / "predictions" / f"{stem}.parquet")
    assert predictions.metadata[CELL_KEY] == b"key-pcnn-clean"
    assert pq.ParquetFile(root / "scores" / f"{stem}.parquet").metadata.row_group(0).column(0).compression == "ZSTD"


def test_read_scores_round_trip_preserves_values_and_dtypes(root: Path) -> None:
    expected = pd.concat([scores_frame(*cell) for cell in CELLS], ignore_index=True)
    expected = expected.sort_values(["model", "perturbation", "timestep"], ignore_index=True)
    pd.testing.assert_frame_equal(read_scores(root), expected)


def test_read_scores_sorts_rows_not_files(tmp_path: Path) -> None:
    cells = {
        "a": ("zz", "corruption", "fog", 2, 2),
        "b": ("zz", "clean", None, None, 2),
        "c": ("aa", "clean", None, None, 1),
    }
    for stem, cell in cells.items():
        scores = scores_frame(*cell).iloc[::-1]
        label = scores["cell"].iloc[0]
        predictions = predictions_frame(cell[0], label, cell[4]).iloc[::-1]
        commit_cell(tmp_path, cell_stem(cell[0], label), stem, scores, predictions)
    scores = read_scores(tmp_path)
    assert list(zip(scores["model"], scores["perturbation"], scores["timestep"], strict=True)) == [
        ("aa", "clean", 0),
        ("zz", "clean", 0),
        ("zz", "clean", 1),
        ("zz", "corruption", 0),
        ("zz", "corruption", 1),
    ]
    assert scores.index.equals(pd.RangeIndex(len(scores)))
    predictions = read_predictions(tmp_path)
    assert predictions["model"].is_monotonic_increasing
    assert predictions.loc[predictions["cell"] == "clean/None/None", "sample_id"].tolist() == [0, 1, 2, 3, 4] * 3


def test_read_scores_accepts_all_null_columns_in_some_files(tmp_path: Path) -> None:
    clean = scores_frame("m", "clean", None, None, 2).assign(corruption=[None, None])
    assert clean["corruption"].dtype == object
    fog = scores_frame("m", "corruption", "fog", 1, 2)
    for key, scores in (("k1", clean), ("k2", fog)):
        label = scores["cell"].iloc[0]
        commit_cell(tmp_path, cell_stem("m", label), key, scores, predictions_frame("m", label, 2))
    scores = read_scores(tmp_path)
    assert scores["corruption"].isna().sum() == 2 and (scores["corruption"] == "fog").sum() == 2


def test_recommit_overwrites_the_pair(root: Path) -> None:
    stem = cell_stem("ff", "clean/None/None")
    new_scores = scores_frame("ff", "clean", None, None, 1).assign(correct=7, accuracy=0.07)
    commit_cell(root, stem, "new-key", new_scores, predictions_frame("ff", "clean/None/None", 1).assign(label=2))
    assert stored_key(root, stem) == "new-key"
    scores = read_scores(root)
    assert len(scores) == 7
    assert scores.loc[scores["model"] == "ff", "correct"].tolist() == [7]
    predictions = read_predictions(root, "ff")
    assert set(predictions["label"]) == {2} and len(predictions) == 5  # the new pair, not the old one


def test_read_predictions_filters_model_and_keeps_dtypes(root: Path) -> None:
    predictions = read_predictions(root, model="pcnn")
    assert set(predictions["model"]) == {"pcnn"}
    assert len(predictions) == 2 * 3 * 5
    assert predictions.dtypes[["sample_id", "label", "timestep", "prediction"]].tolist() == [
        np.dtype("int32"),
        np.dtype("int16"),
        np.dtype("int16"),
        np.dtype("int16"),
    ]
    assert len(read_predictions(root)) == (3 + 3 + 1) * 5
    assert read_predictions(root, model="nobody").empty


def test_predictions_file_without_model_column_is_refused(tmp_path: Path) -> None:
    commit_cell(tmp_path, "s", "k", scores_frame("m", "clean", None, None, 1), predictions_frame("m", "k", 1))
    path = tmp_path / "predictions" / "s.parquet"
    pq.write_table(pa.Table.from_pandas(predictions_frame("m", "k", 1).drop(columns=["model"])), path)
    with pytest.raises(PcbenchError, match="no 'model' column"):
        read_predictions(tmp_path, model="m")
    with pytest.raises(PcbenchError, match=f"{path} has no 'model' column"):
        read_predictions(tmp_path)


def test_missing_results_raise_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(PcbenchError, match=r"pcbench run mysuite") as error:
        read_scores(tmp_path / "mysuite")
    assert str(tmp_path / "mysuite" / "scores") in str(error.value)
    with pytest.raises(PcbenchError, match="no predictions files"):
        read_predictions(tmp_path / "mysuite")


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_scores_file_reads_as_not_done_and_read_scores_names_it(root: Path, damage: str) -> None:
    stem = cell_stem("pcnn", "clean/None/None")
    path = root / "scores" / f"{stem}.parquet"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not parquet at all")
    assert stored_key(root, stem) is None
    with pytest.raises(PcbenchError, match="corrupt results file") as error:
        read_scores(root)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_hidden_temp_files_are_ignored_and_removed(root: Path) -> None:
    before = read_scores(root)
    for kind in ("scores", "predictions"):
        (root / kind / ".x.parquet.abc.tmp").write_bytes(b"half written")
    (root / "scores" / ".keep").write_bytes(b"")
    (root / "scores" / "._resource_fork.parquet").write_bytes(b"garbage")
    pd.testing.assert_frame_equal(read_scores(root), before)
    assert len(read_predictions(root)) == (3 + 3 + 1) * 5
    assert remove_stale_temp_files(root) == 2
    assert remove_stale_temp_files(root) == 0
    assert (root / "scores" / ".keep").exists() and (root / "scores" / "._resource_fork.parquet").exists()
    assert remove_stale_temp_files(root.parent / "absent") == 0


def test_crash_before_replace_leaves_previous_file_and_no_temp(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stem = cell_stem("ff", "clean/None/None")
    scores_dir = root / "scores"
    old_files = {p.name: p.read_bytes() for p in scores_dir.iterdir()}

    temp_names = []

    def crash(src: str, dst: str) -> None:
        temp_names.append(Path(src).name)
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        commit_cell(root, stem, "new-key", scores_frame("ff", "clean", None, None, 1), predictions_frame("ff", "k", 1))
    monkeypatch.undo()
    assert len(temp_names) == 1 and temp_names[0].startswith(".") and temp_names[0].endswith(".tmp")
    assert {p.name: p.read_bytes() for p in scores_dir.iterdir()} == old_files
    assert not [p for p in root.rglob(".*")]
    assert stored_key(root, stem) == "key-ff-clean"


def test_crash_between_predictions_and_scores_means_not_done(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_replace = os.replace

    def crash_on_scores(src: str, dst: str) -> None:
        if Path(dst).parent.name == "scores":
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_scores)
    with pytest.raises(OSError, match="disk full"):
        commit_cell(tmp_path, "s", "k", scores_frame("m", "clean", None, None, 1), predictions_frame("m", "k", 1))
    assert stored_key(tmp_path, "s") is None
    assert visible(tmp_path / "predictions") == ["s.parquet"]
    assert visible(tmp_path / "scores") == []
