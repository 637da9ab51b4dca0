"""Results files copied or moved to the wrong place (issue 19): a predictions file over its
scores file, or another cell's pair under a cell's names, is named in one line by every
reader, is not a done cell, and the next run recomputes exactly that cell."""

from __future__ import annotations

import shutil

import pytest

import pcbench
from pcbench.store import cell_stem

SUITE = """name = "moved"
models = ["digits-cnn"]
[dataset]
name = "digits"
split = "test"
limit = 10
[corruptions]
names = ["fog"]
severities = [1]
"""


@pytest.fixture
def stored(tmp_path):
    suite = tmp_path / "moved.toml"
    suite.write_text(SUITE)
    results = tmp_path / "results"
    pcbench.run(suite, results=results, leaderboards=None, progress=False, workers=1, device="cpu")
    return suite, results, results / "moved"


def files_of(root, label):
    stem = cell_stem("digits-cnn", label)
    return root / "scores" / f"{stem}.parquet", root / "predictions" / f"{stem}.parquet"


def test_a_predictions_file_over_its_scores_file_is_named_and_repaired(stored):
    suite, results, root = stored
    scores, predictions = files_of(root, "fog/1")
    shutil.copyfile(predictions, scores)
    with pytest.raises(pcbench.PcbenchError) as refused:
        pcbench.load_results(suite, results)
    assert str(refused.value).startswith(f"{scores} is not a scores file (it has columns ")
    assert "rerun `pcbench run moved` to recompute the cell" in str(refused.value)
    rerun = pcbench.run(suite, results=results, leaderboards=None, progress=False, workers=1, device="cpu")
    assert rerun.evaluated == [cell_stem("digits-cnn", "fog/1")]
    assert set(pcbench.load_results(suite, results).scores["cell"]) == {"clean", "fog/1"}


def test_another_cells_pair_under_a_cells_names_is_named_and_repaired(stored):
    suite, results, root = stored
    for source, target in zip(files_of(root, "clean"), files_of(root, "fog/1"), strict=True):
        shutil.copyfile(source, target)
    with pytest.raises(pcbench.PcbenchError) as refused:
        pcbench.leaderboard(suite, results=[results])
    scores = files_of(root, "fog/1")[0]
    assert str(refused.value).startswith(
        f"{scores} holds the rows of digits-cnn/clean, not of the cell its name stands for"
    )
    rerun = pcbench.run(suite, results=results, leaderboards=None, progress=False, workers=1, device="cpu")
    assert rerun.evaluated == [cell_stem("digits-cnn", "fog/1")] and rerun.skipped == [cell_stem("digits-cnn", "clean")]
    board = pcbench.leaderboard(suite, results=[results])
    assert "corruption_acc" in set(board.metrics["metric"])  # the repaired fog cell is back in the tables


def test_a_file_of_another_model_is_named_even_when_reading_one_model(stored):
    from pcbench.store import read_predictions

    suite, results, root = stored
    stem = cell_stem("other-model", "clean")
    for source in files_of(root, "clean"):
        shutil.copyfile(source, source.parent / f"{stem}.parquet")
    with pytest.raises(pcbench.PcbenchError, match="holds the rows of digits-cnn/clean, not of the cell its name"):
        read_predictions(root, model="other-model")
