"""Tests of the leaderboard against hand-computed pooled accuracies."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pcbench.errors import PcbenchError
from pcbench.leaderboards import format_leaderboard, leaderboard_table, write_leaderboard

NAN = float("nan")


def row(
    model: str, t: int, kind: str, correct: int, n: int, corruption=None, severity=None, attack=None, eps=None
) -> dict:
    """One score row (plus a provenance column the leaderboard must ignore)."""
    return {
        "model": model,
        "perturbation": kind,
        "corruption": corruption,
        "severity": severity,
        "attack": attack,
        "epsilon": eps,
        "timestep": t,
        "n": n,
        "correct": correct,
        "accuracy": correct / n,
        "suite_hash": "abc",
    }


def tiny_scores() -> pd.DataFrame:
    """FF model 'zeta-ff' (timestep 0, listed first) and PC model 'alpha-pc' (timesteps 0..2).

    Corruptions appear snow before fog; severities have different n so that pooling
    differs from averaging. 'zeta-ff' lacks fgsm@0.03 and pgd-linf.
    """
    rows = [
        row("zeta-ff", 0, "clean", 90, 100),
        row("zeta-ff", 0, "corruption", 70, 100, "snow", 1),
        row("zeta-ff", 0, "corruption", 50, 100, "snow", 2),
        row("zeta-ff", 0, "corruption", 40, 50, "fog", 1),
        row("zeta-ff", 0, "corruption", 60, 150, "fog", 2),
        row("zeta-ff", 0, "attack", 30, 100, attack="fgsm", eps=0.01),
    ]
    for t in (2, 0, 1):
        rows += [
            row("alpha-pc", t, "attack", 5 + t, 100, attack="pgd-linf", eps=0.01),
            row("alpha-pc", t, "attack", 10 + 5 * t, 100, attack="fgsm", eps=0.03),
            row("alpha-pc", t, "attack", 20 + 5 * t, 100, attack="fgsm", eps=0.01),
            row("alpha-pc", t, "clean", 80 + t, 100),
            row("alpha-pc", t, "corruption", 50 + t, 100, "snow", 1),
            row("alpha-pc", t, "corruption", 40 + t, 100, "snow", 2),
            row("alpha-pc", t, "corruption", 30 + t, 50, "fog", 1),
            row("alpha-pc", t, "corruption", 60 + 2 * t, 150, "fog", 2),
        ]
    return pd.DataFrame(rows)


def expected_table() -> pd.DataFrame:
    """The leaderboard of tiny_scores(), computed by hand."""
    pc = [
        [
            "alpha-pc",
            t,
            (80 + t) / 100,
            (180 + 5 * t) / 400,
            (90 + 2 * t) / 200,
            (90 + 3 * t) / 200,
            (20 + 5 * t) / 100,
            (10 + 5 * t) / 100,
            (5 + t) / 100,
        ]
        for t in (0, 1, 2)
    ]
    ff = [["zeta-ff", 0, 0.9, 220 / 400, 120 / 200, 100 / 200, 0.3, NAN, NAN]]
    columns = [
        "model",
        "timestep",
        "clean_acc",
        "corruption_acc",
        "snow_acc",
        "fog_acc",
        "fgsm@0.01_acc",
        "fgsm@0.03_acc",
        "pgd-linf@0.01_acc",
    ]
    return pd.DataFrame(ff + pc, columns=columns)


def test_pooled_values_column_order_and_missing_cells() -> None:
    table = leaderboard_table(tiny_scores())
    expected = expected_table()
    assert list(table.columns) == list(expected.columns)
    rows = list(zip(table["model"], table["timestep"], strict=True))
    assert rows == [("zeta-ff", 0), ("alpha-pc", 0), ("alpha-pc", 1), ("alpha-pc", 2)]
    pd.testing.assert_frame_equal(table, expected, check_dtype=False)
    assert table.loc[0, "fog_acc"] == 0.5  # pooled 100/200, not the mean 0.6 of 0.8 and 0.4
    assert table["timestep"].dtype.kind == "i"


def test_corruption_columns_follow_imagecorruptions_order_not_appearance() -> None:
    scores = tiny_scores()
    fog_first = pd.concat([scores[scores["corruption"] == "fog"], scores[scores["corruption"] != "fog"]])
    columns = [name for name in leaderboard_table(fog_first).columns if name in ("snow_acc", "fog_acc")]
    assert columns == ["snow_acc", "fog_acc"]  # snow is 8th of the 19, fog 10th


def test_only_existing_kinds_of_cell_become_columns() -> None:
    scores = tiny_scores()
    clean_only = leaderboard_table(scores[scores["perturbation"] == "clean"])
    assert list(clean_only.columns) == ["model", "timestep", "clean_acc"]
    attacks_only = leaderboard_table(scores[scores["perturbation"] == "attack"])
    assert list(attacks_only.columns) == ["model", "timestep", "fgsm@0.01_acc", "fgsm@0.03_acc", "pgd-linf@0.01_acc"]


def test_duplicate_cells_raise_instead_of_averaging() -> None:
    scores = tiny_scores()
    merged = pd.concat([scores, scores[scores["corruption"] == "fog"].iloc[[1]]], ignore_index=True)
    with pytest.raises(PcbenchError, match=r"2 copies of model 'zeta-ff' cell corruption fog severity 2 at timestep 0"):
        leaderboard_table(merged)
    tripled = pd.concat([scores, scores.iloc[[0]], scores.iloc[[0]]], ignore_index=True)
    with pytest.raises(PcbenchError, match=r"3 copies of model 'zeta-ff' cell clean"):
        leaderboard_table(tripled)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.drop(columns=["correct"]), "lack column"),
        (lambda s: s.iloc[:0], "empty"),
        (lambda s: s.assign(perturbation="noise"), "unknown perturbation"),
        (lambda s: s.assign(epsilon=s["epsilon"].replace(0.03, 0.0100000001)), "share the leaderboard column"),
    ],
)
def test_invalid_scores_raise(change, message: str) -> None:
    with pytest.raises(PcbenchError, match=message):
        leaderboard_table(change(tiny_scores()))


def test_write_leaderboard_csv_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "leaderboard.csv"
    table = write_leaderboard(tiny_scores(), path)
    pd.testing.assert_frame_equal(table, leaderboard_table(tiny_scores()))
    reread = pd.read_csv(path)
    pd.testing.assert_frame_equal(reread, table, check_dtype=False, atol=5e-5, rtol=0)
    assert "0.5500" in path.read_text()
    assert [p.name for p in path.parent.iterdir()] == ["leaderboard.csv"]


def test_format_leaderboard_shows_summary_percentages() -> None:
    text = format_leaderboard(leaderboard_table(tiny_scores()))
    lines = text.splitlines()
    assert len(lines) == 1 + 4
    assert lines[0].split() == ["model", "timestep", "clean", "corruption", "fgsm@0.01", "fgsm@0.03", "pgd-linf@0.01"]
    assert lines[1].split() == ["zeta-ff", "0", "90.0", "55.0", "30.0", "-", "-"]
    assert lines[4].split() == ["alpha-pc", "2", "82.0", "47.5", "30.0", "20.0", "7.0"]
    assert "snow" not in text


def test_format_leaderboard_keeps_first_max_columns() -> None:
    text = format_leaderboard(leaderboard_table(tiny_scores()), max_columns=4)
    assert text.splitlines()[0].split() == ["model", "timestep", "clean", "corruption"]
    assert np.isclose(float(text.splitlines()[2].split()[2]), 80.0)
