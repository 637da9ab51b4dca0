"""`pcbench compare`, `plot` and `report` on stored synthetic results, from the command line."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from test_compare import SUITE, first, small, split, store

from pcbench.cli import cli, main
from pcbench.leaderboards import leaderboard_table
from pcbench.leaderboards.plots import PLOTS
from pcbench.store import read_scores


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> list[Path]:
    """The small scenario split over two result directories (ff in one, pc in the other)."""
    root = tmp_path_factory.mktemp("results")
    return [store(root / model, split(small(), model)) for model in ("ff", "pc")]


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_compare_merges_directories_and_writes_the_csvs(stored: list[Path], tmp_path: Path) -> None:
    output = invoke(
        "compare",
        SUITE,
        "--results",
        str(stored[0]),
        "--results",
        str(stored[1]),
        "--leaderboards",
        str(tmp_path),
        "--sort",
        "best_known_linf@0.1_acc",
        "--timestep",
        "best",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "syn-attack-readout.csv",  # the scenario has attack cells
        "syn-summary.csv",
        "syn-timesteps.csv",
        "syn.csv",
    ]
    long = pd.read_csv(tmp_path / "syn.csv")
    assert list(long.columns) == ["model", "metric", "timestep", "value", "ci_low", "ci_high", "n"]
    assert set(long["model"]) == {"ff", "pc"}
    scores = pd.concat([read_scores(directory / SUITE) for directory in stored], ignore_index=True)
    wide = pd.read_csv(tmp_path / "syn-timesteps.csv")
    pd.testing.assert_frame_equal(wide, leaderboard_table(scores).round(4), check_dtype=False, atol=1e-4)
    summary = pd.read_csv(tmp_path / "syn-summary.csv")
    assert list(summary["model"]) == ["pc", "ff"] and summary.loc[0, "best_timestep"] == 2
    header, first_row = output.splitlines()[:2]
    assert header.split()[:3] == ["model", "t", "clean"] and "robust-linf@0.1" in header.split()
    assert first_row.split()[:3] == ["pc", "2", "80.0"]
    assert "sorted by best_known_linf@0.1_acc at timestep 'best'" in output


def test_report_and_plot_commands(stored: list[Path], tmp_path: Path) -> None:
    results = ["--results", str(stored[0]), "--results", str(stored[1]), "--leaderboards", str(tmp_path)]
    output = invoke("report", SUITE, *results)
    assert output.strip() == str(tmp_path / "syn-report.md")
    assert "](syn-plots/clean.png)" in (tmp_path / "syn-report.md").read_text()
    assert sorted(p.name for p in (tmp_path / "syn-plots").iterdir()) == sorted(f"{name}.png" for name in PLOTS)
    clean_only = store(tmp_path / "clean", {("ff", "clean", 0): first(9)})
    plots = invoke("plot", SUITE, "--results", str(clean_only), "--leaderboards", str(tmp_path / "clean-lb")).split()
    assert plots == [str(tmp_path / "clean-lb" / "syn-plots" / "clean.png")] and Path(plots[0]).stat().st_size > 1024


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sort", "speed"], "error: --sort 'speed' is not a metric of this leaderboard"),
        (["--timestep", "latest"], "error: --timestep 'latest' is not allowed: last, best or a timestep number"),
        (["--on-conflict", "average"], "error: --on-conflict 'average' is not allowed: one of error, first"),
        (["--baseline", "nobody"], "error: --baseline 'nobody' is not a model in the results: one of ff"),
    ],
)
def test_bad_options_are_one_line_errors(
    stored: list[Path], tmp_path: Path, monkeypatch, capsys, args, message
) -> None:
    argv = ["pcbench", "compare", SUITE, "--results", str(stored[0]), "--leaderboards", str(tmp_path), *args]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        main()
    stderr = capsys.readouterr().err
    assert exit_info.value.code == 2 and stderr.startswith(message) and len(stderr.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("command", ["compare", "plot", "report"])
def test_commands_explain_their_options(command: str) -> None:
    output = invoke(command, "--help")
    for option in ("--results", "--leaderboards", "--baseline", "--timestep", "--sort", "--on-conflict"):
        assert option in output
