"""Reproduction: a long leaderboard compared with a reference CSV, and `pcbench compare --against`."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from pcbench.cli import cli, main
from pcbench.errors import PcbenchError
from pcbench.leaderboards.metrics import COLUMNS
from pcbench.leaderboards.reproduce import (
    DIFFERS,
    EQUAL,
    EXTRA,
    MISSING,
    WITHIN,
    allowed_samples,
    compare_to_reference,
    format_reproduction,
    read_reference,
)

N = 360  # allowed_samples(360) == 3
COMMITTED = Path(__file__).resolve().parents[1] / "leaderboards" / "quick.csv"


def accuracy(metric: str, correct: int, n: int = N, model: str = "cnn", timestep: int = 0) -> dict:
    """A long row of an accuracy metric: ``correct`` of ``n``, interval ±0.05."""
    value = correct / n
    return {
        "model": model,
        "metric": metric,
        "timestep": timestep,
        "value": value,
        "ci_low": value - 0.05,
        "ci_high": value + 0.05,
        "n": n,
    }


def aggregate(metric: str, value: float, model: str = "cnn", timestep: int = 0) -> dict:
    """A long row of a bootstrapped aggregate."""
    return {
        "model": model,
        "metric": metric,
        "timestep": timestep,
        "value": value,
        "ci_low": value - 0.01,
        "ci_high": value + 0.01,
        "n": N,
    }


def long_table(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=COLUMNS)


REFERENCE = long_table(
    accuracy("clean_acc", 354),
    accuracy("gaussian_noise_acc", 1700, n=1800),
    aggregate("relative_corruption_error", 1.00812),
    accuracy("fgsm@0.05_acc", 272),
    accuracy("best_known_linf@0.05_acc", 261),
    accuracy("clean_acc", 350, model="pcnn", timestep=1),
)


def replaced(table: pd.DataFrame, index: int, **row: object) -> pd.DataFrame:
    """``table`` with row ``index`` replaced by ``row`` (a full long row)."""
    table = table.copy()
    table.loc[index, list(row)] = list(row.values())
    return table


def status(reproduction, metric: str, model: str = "cnn") -> pd.Series:
    rows = reproduction.rows
    return rows[(rows["model"] == model) & (rows["metric"] == metric)].iloc[0]


def test_identical_values_as_written_are_reproduced() -> None:
    here = REFERENCE.assign(value=REFERENCE["value"] + 1e-9)  # below the 6 significant digits written
    reproduction = compare_to_reference(here, REFERENCE)
    assert reproduction.reproduced and set(reproduction.rows["status"]) == {EQUAL}
    assert reproduction.counts.loc["cnn", EQUAL] == 5 and reproduction.counts.loc["pcnn", EQUAL] == 1
    assert format_reproduction(reproduction).splitlines() == [
        "cnn: 5 rows equal, 0 within tolerance (attacks), 0 differ",
        "pcnn: 1 row equal, 0 within tolerance (attacks), 0 differ",
        "reproduced: yes",
    ]


def test_the_committed_example_reproduces_itself() -> None:
    reference = read_reference(COMMITTED)
    reproduction = compare_to_reference(reference.copy(), reference)
    assert reproduction.reproduced and len(reproduction.rows) == len(reference)
    assert list(reproduction.counts.index) == list(pd.unique(reference["model"]))


def test_attack_rows_within_max_2_samples_or_1_percent_are_within_tolerance() -> None:
    here = replaced(REFERENCE, 3, **accuracy("fgsm@0.05_acc", 273))
    here = replaced(here, 4, **accuracy("best_known_linf@0.05_acc", 261 - 3))
    reproduction = compare_to_reference(here, REFERENCE)
    fgsm, robust = status(reproduction, "fgsm@0.05_acc"), status(reproduction, "best_known_linf@0.05_acc")
    assert (fgsm["status"], fgsm["delta_samples"], fgsm["allowed"], fgsm["inside_ci"]) == (WITHIN, 1, 3, True)
    assert (robust["status"], robust["delta_samples"]) == (WITHIN, -3)
    assert reproduction.reproduced
    text = format_reproduction(reproduction).splitlines()
    assert text[0] == "cnn: 3 rows equal, 2 within tolerance (attacks), 0 differ"
    assert text[-1] == "reproduced: yes"
    fgsm_line = next(line for line in text if "fgsm@0.05_acc" in line).split()
    assert fgsm_line[3:] == ["0.755556", "0.758333", "+1", "3", "yes", *WITHIN.split()]
    four_off = compare_to_reference(replaced(REFERENCE, 3, **accuracy("fgsm@0.05_acc", 276)), REFERENCE)
    assert status(four_off, "fgsm@0.05_acc")["status"] == DIFFERS and not four_off.reproduced
    assert [allowed_samples(n) for n in (20, 299, 300, 1000)] == [2, 2, 3, 10]


def test_a_clean_or_aggregate_row_off_by_anything_differs() -> None:
    here = replaced(REFERENCE, 0, **accuracy("clean_acc", 355))
    here = replaced(here, 2, **aggregate("relative_corruption_error", 1.03812))
    reproduction = compare_to_reference(here, REFERENCE)
    clean, error = status(reproduction, "clean_acc"), status(reproduction, "relative_corruption_error")
    assert (clean["status"], clean["delta_samples"], clean["allowed"]) == (DIFFERS, 1, 0)
    assert error["status"] == DIFFERS and pd.isna(error["delta_samples"])
    assert error["delta_value"] == pytest.approx(0.03) and not error["inside_ci"]
    assert not reproduction.reproduced
    text = format_reproduction(reproduction)
    assert "cnn: 3 rows equal, 0 within tolerance (attacks), 2 differ" in text
    assert "+0.03 (value)" in text and text.endswith("reproduced: no (2 rows differ)")


def test_a_missing_row_fails_and_an_extra_row_is_listed() -> None:
    extra = long_table(accuracy("fgsm@0.1_acc", 100))
    here = pd.concat([REFERENCE.drop(index=3), extra], ignore_index=True)
    reproduction = compare_to_reference(here, REFERENCE)
    assert status(reproduction, "fgsm@0.05_acc")["status"] == MISSING
    assert status(reproduction, "fgsm@0.1_acc")["status"] == EXTRA
    assert not reproduction.reproduced
    text = format_reproduction(reproduction).splitlines()
    assert text[0] == ("cnn: 4 rows equal, 0 within tolerance (attacks), 0 differ, 1 missing here, 1 extra here")
    assert text[-1] == "reproduced: no (1 row missing here)"
    missing = next(line for line in text if "fgsm@0.05_acc" in line).split()
    assert missing[3:] == ["0.755556", "-", "-", "-", "-", *MISSING.split()]
    extra_only = compare_to_reference(pd.concat([REFERENCE, extra], ignore_index=True), REFERENCE)
    assert extra_only.reproduced and format_reproduction(extra_only).endswith("reproduced: yes")


def test_n_must_match_even_for_attacks() -> None:
    here = replaced(REFERENCE, 3, **accuracy("fgsm@0.05_acc", 272, n=N - 1))
    row = status(compare_to_reference(here, REFERENCE), "fgsm@0.05_acc")
    assert (row["status"], row["delta_samples"], row["n_reference"], row["n_here"]) == (DIFFERS, 0, N, N - 1)


def test_read_reference_reads_what_the_leaderboard_writes(tmp_path: Path) -> None:
    path = tmp_path / "ref.csv"
    REFERENCE[list(reversed(COLUMNS))].to_csv(path, index=False, float_format="%.6g")  # column order is free
    reference = read_reference(path)
    assert list(reference.columns) == COLUMNS and len(reference) == len(REFERENCE)
    assert compare_to_reference(REFERENCE, reference).reproduced


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "no such file"),
        ("", "not readable as CSV"),
        ("model,timestep,clean_acc\ncnn,0,0.9\n", "its columns are model, timestep, clean_acc"),
        (",".join([*COLUMNS, "extra"]) + "\n", "its columns are model, metric"),
        (",".join(COLUMNS) + "\n", "it has no rows"),
        (",".join(COLUMNS) + "\ncnn,clean_acc,zero,0.9,0.8,0.95,10\n", "timestep and n must be integers"),
        (
            ",".join(COLUMNS) + "\ncnn,clean_acc,0,0.9,0.8,0.95,10\ncnn,clean_acc,0,0.8,0.7,0.9,10\n",
            "(cnn, clean_acc, 0) appears twice",
        ),
    ],
)
def test_a_bad_reference_is_a_one_line_error(tmp_path: Path, content: str | None, problem: str) -> None:
    path = tmp_path / "ref.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(PcbenchError) as error:
        read_reference(path)
    message = str(error.value)
    assert message.startswith(f"--against {path}: {problem}") and "\n" not in message
    assert message.endswith("columns model, metric, timestep, value, ci_low, ci_high, n")


SUITE = """
name = "repro"
description = "digits-cnn on 20 digits: clean and FGSM"
models = ["digits-cnn"]

[dataset]
name = "digits"
split = "test"
limit = 20

[[attacks]]
kind = "fgsm"
epsilons = [0.05]
"""


def invoke(*args: str, exit_code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == exit_code, result.output
    return result.output


def test_compare_against_a_reference_run(tmp_path: Path) -> None:
    suite = tmp_path / "repro.toml"
    suite.write_text(SUITE)
    results, reference = tmp_path / "results", tmp_path / "reference" / "repro.csv"
    invoke("run", str(suite), "--results", str(results), "--leaderboards", str(tmp_path / "run"), "--device", "cpu")
    # the reference as `compare` writes it: independent of which files `run` writes after evaluating
    invoke("compare", str(suite), "--results", str(results), "--leaderboards", str(reference.parent))
    here = tmp_path / "here"
    output = invoke(
        "compare", str(suite), "--results", str(results), "--leaderboards", str(here), "--against", str(reference)
    )
    assert output.splitlines()[-1] == "reproduced: yes"
    assert "digits-cnn: 3 rows equal, 0 within tolerance (attacks), 0 differ" in output
    assert (here / "repro.csv").read_bytes() == reference.read_bytes()

    edited = pd.read_csv(reference)
    clean = edited["metric"] == "clean_acc"
    edited.loc[clean, "value"] -= 1 / edited.loc[clean, "n"]  # one sample fewer correct
    edited.to_csv(tmp_path / "edited.csv", index=False, float_format="%.6g")
    output = invoke(
        "compare",
        str(suite),
        "--results",
        str(results),
        "--leaderboards",
        str(here),
        "--against",
        str(tmp_path / "edited.csv"),
        exit_code=1,
    )
    assert output.splitlines()[-1] == "reproduced: no (1 row differs)"
    clean_line = next(line.split() for line in output.splitlines() if line.split()[1:2] == ["clean_acc"])
    assert clean_line[5:] == ["+1", "0", "yes", "differs"]


def test_compare_with_a_missing_reference_is_a_one_line_error(tmp_path: Path, monkeypatch, capsys) -> None:
    argv = [
        "pcbench",
        "compare",
        "repro",
        "--results",
        str(tmp_path),
        "--leaderboards",
        str(tmp_path / "lb"),
        "--against",
        str(tmp_path / "missing.csv"),
    ]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        main()
    stderr = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(stderr.strip().splitlines()) == 1
    assert stderr.startswith(f"error: --against {tmp_path / 'missing.csv'}: no such file")
    assert not (tmp_path / "lb").exists()
