"""Plots of the synthetic leaderboard: every PNG is written, valid and not empty."""

from __future__ import annotations

from pathlib import Path

from test_compare import SAMPLES, first, results

from pcbench.leaderboards.board import CompareOptions, build_leaderboard
from pcbench.leaderboards.differences import variant_differences
from pcbench.leaderboards.plots import MIN_ACCURACY_SPAN, MIN_DELTA_SPAN, PLOTS, plots_dir, write_plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_every_plot_is_a_non_empty_png(tmp_path: Path) -> None:
    board = build_leaderboard(results(), CompareOptions(baseline="ff", timestep="best"))
    directory = plots_dir(tmp_path / "lb", board.suite)
    written = write_plots(board, directory)
    assert directory == tmp_path / "lb" / "syn-plots"
    assert [path.name for path in written] == [f"{name}.png" for name in PLOTS]
    assert len(written) == 9
    for path in written:
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 1024, path.name
    assert sorted(p.name for p in directory.iterdir()) == sorted(p.name for p in written)  # no temp files left


def test_plots_without_data_are_left_out(tmp_path: Path) -> None:
    clean_only = {("ff", "clean", 0): first(9), ("pc", "clean", 0): first(9), ("pc", "clean", 1): first(10)}
    written = write_plots(build_leaderboard(results(clean_only)), tmp_path)
    assert [path.name for path in written] == ["clean.png", "variant-vs-base.png"]


def test_pc_minus_base_is_the_paired_difference_per_timestep() -> None:
    """pc gets 9 of the samples right at t = 0 (as ff) and 10 at t = 1: +1 sample, then."""
    clean_only = {("ff", "clean", 0): first(9), ("pc", "clean", 0): first(9), ("pc", "clean", 1): first(10)}
    board = build_leaderboard(results(clean_only))
    table = variant_differences(board.outcomes, board.models, board.options.bootstrap)
    assert table[["model", "base", "metric"]].drop_duplicates().values.tolist() == [["pc", "ff", "clean_acc"]]
    assert table["timestep"].tolist() == [0, 1] and table["n"].tolist() == [SAMPLES, SAMPLES]
    assert table["delta"].tolist() == [0.0, 1 / SAMPLES]
    assert table["ci_low"].iloc[0] == table["ci_high"].iloc[0] == 0.0  # identical samples: no spread
    # the one differing sample is drawn k ~ Binomial(10, 0.1) times per resample: P(k = 0) = 0.35 and
    # P(k ≥ 3) = 0.07 > 2.5 % > P(k ≥ 4) = 0.013, so the 95 % interval is [0, 0.3]
    assert table["ci_low"].iloc[1] == 0.0 and abs(table["ci_high"].iloc[1] - 0.3) < 1e-9
    figure = PLOTS["variant-vs-base"](board)
    (ax,) = figure.axes
    assert figure.subfigs[0].get_suptitle() == "pc − ff" and ax.get_title() == f"clean\n({SAMPLES} samples)"
    low, high = ax.get_ylim()
    assert high - low >= MIN_DELTA_SPAN  # one sample does not fill the panel


def test_panels_share_a_y_axis_that_does_not_exaggerate() -> None:
    board = build_leaderboard(results(), CompareOptions(baseline="ff"))
    for name in ("corruption-families", "attacks"):
        axes = [ax for ax in PLOTS[name](board).axes if ax.get_visible()]
        limits = {ax.get_ylim() for ax in axes}
        assert len(limits) == 1, name  # one scale for every panel
        low, high = limits.pop()
        assert high - low >= MIN_ACCURACY_SPAN
    titles = [ax.get_title() for ax in PLOTS["corruption-families"](board).axes if ax.get_visible()]
    assert all(" of " in title and "severities" in title for title in titles)  # counts what was evaluated


def test_heatmap_and_severity_plots_show_the_chosen_timestep() -> None:
    for timestep in (0, 2):
        board = build_leaderboard(results(), CompareOptions(timestep=timestep))
        rows = [label.get_text() for label in PLOTS["heatmap"](board).axes[0].get_yticklabels()]
        lines = PLOTS["severity"](board).axes[0].get_legend_handles_labels()[1]
        assert rows == ["ff t=0", f"pc t={timestep}"]
        assert lines == (["ff t=0", "pc t=0"] if timestep == 0 else ["ff t=0", "pc t=0", "pc t=2"])
