"""The Markdown report of the synthetic leaderboard: tables, relative links, provenance."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from test_compare import results

from pcbench.leaderboards.board import CompareOptions, build_leaderboard, write_csvs
from pcbench.leaderboards.report import markdown_table, report_path, write_report


def test_report_holds_summary_pc_table_plot_links_and_provenance(tmp_path: Path) -> None:
    board = build_leaderboard(results(), CompareOptions(baseline="ff"))
    write_csvs(board, tmp_path)
    plots = [tmp_path / "syn-plots" / name for name in ("clean.png", "heatmap.png")]
    for plot in plots:
        plot.parent.mkdir(exist_ok=True)
        plot.write_bytes(b"png")
    path = write_report(board, report_path(tmp_path, "syn"), plots)
    text = path.read_text()
    assert path == tmp_path / "syn-report.md" and text.startswith("# Leaderboard: `syn`\n")
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| model | t | clean |"))
    # pooled corruption accuracy equals the 19-corruption mean here (every cell has the same n);
    # rel.err = (1 - 0.742) / (1 - 0.563) for pc at t = 2
    assert header.split(" | ")[:9] == ["| model", "t", "clean", "corr", "corr15", "corr19", "rel.err", "mCE", "rel.mCE"]
    assert lines[lines.index(header) + 2].startswith("| ff | 0 | 90.0 | 56.3 | 50.0 | 56.3 | 1.000 | 100.0 | 100.0 |")
    assert lines[lines.index(header) + 3].startswith("| pc | 2 | 80.0 | 74.2 | 70.0 | 74.2 | 0.590 | 60.0 | 25.0 |")
    assert "## Did the dynamics help? `pc` vs `ff`" in text
    # metric | ff (t=0) | t=0 | Δ t0 (p) | last t=2 | Δ last (p) | best t=1 | Δ best (p)
    assert "| clean | 90.0 | 90.0 | +0.0 (1) | 80.0 | -10.0 (1) | 100.0 | +10.0 (1) |" in lines
    assert "| robust-linf@0.1 | 20.0 | 20.0 | +0.0 (1) | 50.0 | +30.0 (0.25) | 30.0 | +10.0 (1) |" in lines
    assert "| mCE | 100.0 | 100.0 | +0.0 | 60.0 | -40.0 | 80.0 | -20.0 |" in lines
    links = re.findall(r"\]\(([^)]+)\)", text)
    assert "syn-plots/clean.png" in links and "syn-plots/heatmap.png" in links and "syn-summary.csv" in links
    assert all((tmp_path / link).is_file() for link in links)
    for fact in ("spec-ff", "ckpt-pc", "run-1", "suitehash", "datahash", "1000 resamples over samples, seed 0"):
        assert fact in text
    assert write_report(board, path, plots).read_text() == text  # no timestamp: reproducible


def test_markdown_table_escapes_pipes() -> None:
    table = markdown_table(pd.DataFrame({"a": ["x|y"], "b": [1]}))
    assert table.splitlines() == ["| a | b |", "| --- | --- |", "| x\\|y | 1 |"]
