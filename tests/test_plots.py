"""Plots of the synthetic leaderboard: every PNG is written, valid and not empty."""

from __future__ import annotations

from pathlib import Path

from test_compare import first, results

from pcbench.leaderboard.board import CompareOptions, build_leaderboard
from pcbench.leaderboard.plots import PLOTS, plots_dir, write_plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_every_plot_is_a_non_empty_png(tmp_path: Path) -> None:
    board = build_leaderboard(results(), CompareOptions(baseline="ff", timestep="best"))
    directory = plots_dir(tmp_path / "lb", board.suite)
    written = write_plots(board, directory)
    assert directory == tmp_path / "lb" / "syn-plots"
    assert [path.name for path in written] == [f"{name}.png" for name in PLOTS]
    assert len(written) == 7
    for path in written:
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 1024, path.name
    assert sorted(p.name for p in directory.iterdir()) == sorted(p.name for p in written)  # no temp files left


def test_plots_without_data_are_left_out(tmp_path: Path) -> None:
    clean_only = {("ff", "clean", 0): first(9), ("pc", "clean", 0): first(9), ("pc", "clean", 1): first(10)}
    written = write_plots(build_leaderboard(results(clean_only)), tmp_path)
    assert [path.name for path in written] == ["clean.png"]


def test_heatmap_and_severity_plots_show_the_chosen_timestep() -> None:
    for timestep in (0, 2):
        board = build_leaderboard(results(), CompareOptions(timestep=timestep))
        rows = [label.get_text() for label in PLOTS["heatmap"](board).axes[0].get_yticklabels()]
        lines = PLOTS["severity"](board).axes[0].get_legend_handles_labels()[1]
        assert rows == ["ff t=0", f"pc t={timestep}"]
        assert lines == (["ff t=0", "pc t=0"] if timestep == 0 else ["ff t=0", "pc t=0", "pc t=2"])
