"""Ratio metrics (mCE, relative mCE, Predify's relative corruption error) say when the data
do not resolve their denominator, and no written interval excludes its value or is half missing.

The case of issue 18: a baseline whose corruption error equals its clean error to within
one sample for some corruptions, so that relative mCE divided by ~0. Built with exact
counts over 100 samples (``first``/``wrong`` give the sets of samples answered correctly),
so every expected value below is a fraction computed by hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_compare import Outcomes, first, results
from test_plots_layout import flat, quick_like, renamed

from pcbench.leaderboards.board import CompareOptions, build_leaderboard, write_csvs
from pcbench.leaderboards.metrics import NO_INTERVAL, NOTE, _checked
from pcbench.leaderboards.plots import PLOTS
from pcbench.leaderboards.report import write_report
from pcbench.leaderboards.reproduce import compare_to_reference, read_reference
from pcbench.leaderboards.stats import Bootstrap, checked_interval, resolved
from pcbench.perturbations.corruptions import COMMON_CORRUPTIONS

N = 100
CLEAN_WRONG = set(range(5))  # both models: clean accuracy 95 / 100
#: Baseline corruptions whose corruption − clean gap the data do not resolve, and why.
UNRESOLVED_GAP = {
    "shot_noise": "one extra error at severity 1: gap 0.5 / n",
    "impulse_noise": "one error fewer at severity 1: gap −0.5 / n",
    "defocus_blur": "two extra errors at both severities: gap 2 / n, but 13 % of resamples draw neither",
    "jpeg_compression": "one extra error at severity 1: gap 0.5 / n (the PC variant's doubles from t = 1)",
}
ZERO_ERROR = "brightness"  # the baseline makes no error: E_c = 0 (mCE), gap −5 / n (resolved)
ORDINARY = [c for c in COMMON_CORRUPTIONS if c not in UNRESOLVED_GAP and c != ZERO_ERROR]


def wrong(errors: set[int]) -> set[int]:
    """The correct samples when exactly ``errors`` are misclassified."""
    return set(range(N)) - errors


def baseline_case() -> Outcomes:
    """``ff`` (the baseline, timestep 0) and ``pc`` (timesteps 0-3), two severities each.

    ff: the 10 ordinary corruptions 20 errors (gap 15 / n); brightness none; the four of
    :data:`UNRESOLVED_GAP` within ~one sample of the clean errors, or 2 samples (defocus).
    pc at t: ordinary corruptions 20 − t errors, brightness none, impulse and defocus as
    ff, shot with its extra error on another sample (so that resamples divide a non-zero
    gap by a zero one, as in the issue), jpeg as ff at t = 0 and one error more from t = 1.
    """
    ordinary = CLEAN_WRONG | set(range(10, 25))
    by_severity = {
        "shot_noise": (CLEAN_WRONG | {50}, CLEAN_WRONG),
        "impulse_noise": (CLEAN_WRONG - {0}, CLEAN_WRONG),
        "defocus_blur": (CLEAN_WRONG | {50, 51}, CLEAN_WRONG | {50, 51}),
        "jpeg_compression": (CLEAN_WRONG | {52}, CLEAN_WRONG),
        ZERO_ERROR: (set(), set()),
    }
    outcomes: Outcomes = {}
    for model, timesteps in (("ff", 1), ("pc", 4)):
        for t in range(timesteps):
            outcomes[model, "clean", t] = wrong(CLEAN_WRONG)
            for name in COMMON_CORRUPTIONS:
                errors = by_severity.get(name, (ordinary - set(range(25 - t, 25)),) * 2)
                if model == "pc" and name == "shot_noise":
                    errors = (CLEAN_WRONG | {70}, CLEAN_WRONG)
                if model == "pc" and name == "jpeg_compression" and t >= 1:
                    errors = (CLEAN_WRONG | {52, 60}, CLEAN_WRONG)
                for severity, errs in enumerate(errors, start=1):
                    outcomes[model, f"{name}/{severity}", t] = wrong(errs)
    return outcomes


@pytest.fixture(scope="module")
def board():
    return build_leaderboard(results(baseline_case(), samples=N), CompareOptions(baseline="ff"))


def rows(board, model: str, metric: str) -> pd.DataFrame:
    metrics = board.metrics
    return metrics[(metrics["model"] == model) & (metrics["metric"] == metric)].set_index("timestep")


def test_relative_mce_leaves_out_the_corruptions_whose_baseline_gap_is_unresolved(board) -> None:
    pc = rows(board, "pc", "relative_mce")
    # resolved: 10 ordinary corruptions, (20 − t − 5) / 15 each, and brightness, (−0.05) / (−0.05) = 1
    expected = [(10 * (15 - t) / 15 + 1) / 11 for t in range(4)]
    np.testing.assert_allclose(pc["value"], expected, rtol=1e-12)
    assert set(pc[NOTE]) == {
        "mean over 11 of 15 corruptions; left out (ff's corruption − clean error gap is below one sample or its "
        "95 % interval contains 0): shot_noise impulse_noise defocus_blur jpeg_compression"
    }
    ff = rows(board, "ff", "relative_mce").iloc[0]
    assert ff["value"] == 1.0 and ff[NOTE] == pc[NOTE].iloc[0]  # the same corruptions for every model


def test_mce_leaves_out_a_corruption_the_baseline_never_gets_wrong(board) -> None:
    pc = rows(board, "pc", "mce")
    # ordinary (20 − t) / 20; shot, impulse, defocus 1; jpeg 1, then 6 / 5.5 errors; brightness left out
    expected = [(10 * (20 - t) / 20 + 3 + (1.0 if t == 0 else 12 / 11)) / 14 for t in range(4)]
    np.testing.assert_allclose(pc["value"], expected, rtol=1e-12)
    assert set(pc[NOTE]) == {
        "mean over 14 of 15 corruptions; left out (ff's corruption error is below one sample or its 95 % interval "
        "contains 0): brightness"
    }


def test_the_resolution_rule_on_the_baseline_gaps(board) -> None:
    """The rule itself, on the baseline's exact gaps and the leaderboard's bootstrap."""
    counts = np.concatenate(list(Bootstrap().weights(N)))  # the leaderboard's resamples
    resamples = len(counts)
    for extra, expected in (({50, 51}, False), (set(range(50, 58)), True), (set(), False)):
        per_sample = np.array([1.0 if i in extra else 0.0 for i in range(N)])
        gap = per_sample.mean()
        assert resolved(gap, counts @ per_sample / N, 1 / N) is expected, extra
    assert not resolved(0.5 / N, np.full(resamples, 0.5 / N), 1 / N)  # a steady half sample: below one
    assert resolved(-0.05, np.full(resamples, -0.05), 1 / N)  # negative gaps count by magnitude


def test_every_interval_contains_its_value_or_is_absent_with_a_reason(board, tmp_path: Path) -> None:
    boards = {
        "issue case": board,
        "scenario": build_leaderboard(results(), CompareOptions(baseline="ff")),
        "quick-like": build_leaderboard(renamed(quick_like()), CompareOptions(baseline="digits-cnn")),
        "flat": build_leaderboard(renamed(flat())),
        "perfect at t0": build_leaderboard(results(perfect_at_t0())),
    }
    for name, each in boards.items():
        written = pd.read_csv(write_csvs(each, tmp_path / name.replace(" ", "-"))[0], keep_default_na=False)
        for table in (each.metrics, written.replace("", np.nan)):
            value, low, high = (pd.to_numeric(table[c]) for c in ("value", "ci_low", "ci_high"))
            inside = (low <= value) & (value <= high)
            absent = low.isna() & high.isna() & table.get(NOTE, pd.Series("", index=table.index)).fillna("").ne("")
            assert (inside | absent).all(), (name, table[~(inside | absent)].to_string())
            assert not (low.isna() ^ high.isna()).any(), name  # never half missing


def perfect_at_t0() -> Outcomes:
    """``pc`` answers every corruption sample correctly at timestep 0, misses one at timestep 1."""
    outcomes: Outcomes = {}
    for t in range(2):
        outcomes["pc", "clean", t] = first(10)
        outcomes["pc", "snow/1", t] = first(10 - t)
        outcomes["pc", "fog/1", t] = first(10)
    return outcomes


def test_relative_corruption_error_is_undefined_when_timestep_zero_makes_no_error() -> None:
    board = build_leaderboard(results(perfect_at_t0()))
    pc = board.metrics[board.metrics["metric"] == "relative_corruption_error"]
    assert pc["value"].isna().all() and pc["ci_low"].isna().all() and pc["ci_high"].isna().all()
    assert set(pc[NOTE]) == {
        "undefined: pc's corruption error at timestep 0 is below one sample or its 95 % interval contains 0"
    }
    assert PLOTS["relative-corruption-error"](board) is None  # no empty axis around NaN


def test_leaderboards_without_an_undefined_ratio_keep_their_columns() -> None:
    """The committed example has no note: its CSV keeps the seven columns."""
    assert NOTE not in build_leaderboard(results()).metrics.columns
    committed = pd.read_csv(Path(__file__).parents[1] / "leaderboards" / "quick.csv")
    value, low, high = committed["value"], committed["ci_low"], committed["ci_high"]
    assert ((low <= value) & (value <= high)).all()


def test_checked_interval() -> None:
    value = np.array([1.0, 1.0, 1.0, 1.0, np.nan, 0.5])
    low = np.array([0.5, 1.1, np.nan, 1.0 + 4e-6, np.nan, 0.5])
    high = np.array([1.5, 1.2, 2.0, 2.0, np.nan, 0.5 - 3e-6])
    low, high, kept = checked_interval(value, low, high)
    assert kept.tolist() == [True, False, False, True, False, True]
    np.testing.assert_array_equal(low, [0.5, np.nan, np.nan, 1.0, np.nan, 0.5])  # rounding: moved onto 1.0
    np.testing.assert_array_equal(high, [1.5, np.nan, np.nan, 2.0, np.nan, 0.5])


def test_a_row_whose_interval_excludes_its_value_loses_the_interval_with_a_reason(board) -> None:
    table = board.metrics.head(2).assign(value=[0.5, 1.0], ci_low=[0.0, 2.0], ci_high=[1.0, 3.0], note="")
    checked = _checked(table)
    assert checked["ci_low"].tolist()[0] == 0.0 and np.isnan(checked["ci_low"].iloc[1])
    assert checked[NOTE].tolist() == ["", NO_INTERVAL]


def test_notes_reach_the_report_and_an_against_reference(board, tmp_path: Path) -> None:
    paths = write_csvs(board, tmp_path)
    assert pd.read_csv(paths[0]).columns.tolist()[-1] == NOTE
    reproduction = compare_to_reference(board.metrics, read_reference(paths[0]))
    assert reproduction.reproduced and set(reproduction.rows["status"]) == {"equal"}
    text = write_report(board, tmp_path / "syn-report.md", []).read_text()
    assert "## Notes on missing values and intervals" in text
    assert "- `relative_mce` — ff t=0; pc t=0, 1, 2, 3: mean over 11 of 15 corruptions; left out" in text
