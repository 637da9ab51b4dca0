"""``pcbench run --dry-run``: only cells still to compute are planned, and the timed estimate is reproducible."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pcbench.cli import cli
from pcbench.runner import run_suite
from pcbench.runner.plan import AGREEMENT, make_plan
from pcbench.suite import load_suite

SUITE = """
name = "planmini"
models = ["digits-cnn", "digits-pcnn"]
timesteps = 2
seed = 7

[dataset]
name = "digits"
limit = 20

[[attacks]]
kind = "fgsm"
epsilons = [0.1]

[[attacks]]
kind = "pgd-linf"
epsilons = [0.05]
steps = 2
rel_stepsize = 0.5

[[attacks]]
kind = "apgd-ce"
epsilons = [0.05]
"""


@pytest.fixture
def suite_file(tmp_path: Path) -> Path:
    path = tmp_path / "planmini.toml"
    path.write_text(SUITE)
    return path


def test_dry_run_prints_the_grid_and_passes_without_evaluating(tmp_path):
    result = CliRunner().invoke(cli, ["run", "quick", "--dry-run", "--limit", "20", "--results", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (
        "20 samples, 107 perturbations × 2 models = 214 cells: 214 to compute, 0 already stored in "
        f"{tmp_path / 'quick'}" in result.output
    )
    rows = {line.split()[0]: line.split()[1:] for line in result.output.splitlines()[2:4]}
    # 20 images × 11 timesteps × 107 cells; attack gradients: 20 × 11 × (3 FGSM × 1 + 4 PGD × 10
    # steps + APGD-CE's 100 + Square's 200 queries / 3) through the whole unroll, plus 20 × 1 × 2
    # PGD × 10 steps on the feedforward pass
    assert rows["digits-pcnn"][:5] == ["10", "107", "0", "23,540", "46,380"]
    assert rows["digits-cnn"][:5] == ["0", "107", "0", "2,140", "4,580"]
    # each model's estimate (a number and a unit) comes from timing its real batches
    assert all(len(row) == 7 and row[6] in ("s", "min", "h") and float(row[5]) > 0 for row in rows.values())
    assert "estimate: cpu time of the cells to compute" in result.output
    assert not any(tmp_path.iterdir())


def test_the_plan_counts_only_cells_still_to_compute(suite_file, tmp_path):
    suite = load_suite(suite_file)
    run_suite(suite.with_overrides(models=["digits-cnn"]), results_dir=tmp_path, device="cpu", progress=False)
    plan = make_plan(suite, results_dir=tmp_path, device="cpu")
    cnn, pcnn = plan.models
    assert (cnn.cells, cnn.stored, cnn.forward_passes, cnn.gradient_passes, cnn.seconds) == (0, 4, 0, 0, 0.0)
    # 4 cells × 20 images × (T + 1 = 3) timesteps
    assert (pcnn.cells, pcnn.stored, pcnn.forward_passes) == (4, 0, 240) and pcnn.seconds > 0
    assert (plan.cells, plan.stored) == (4, 4)
    # another seed changes the key of every attack cell, not that of the clean cell
    reseeded = make_plan(suite.with_overrides(seed=8), results_dir=tmp_path, estimate=False)
    assert [(m.cells, m.stored) for m in reseeded.models] == [(3, 1), (4, 0)]
    assert [(m.cells, m.stored) for m in make_plan(suite, results_dir=tmp_path, resume=False).models] == [
        (4, 0),
        (4, 0),
    ]
    # the command line passes --results through
    result = CliRunner().invoke(cli, ["run", str(suite_file), "--dry-run", "--results", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"= 8 cells: 4 to compute, 4 already stored in {tmp_path / 'planmini'}" in result.output
    assert result.output.splitlines()[2].split() == ["digits-cnn", "0", "0", "4", "0", "0", "0", "s"]
    assert result.output.splitlines()[4].split()[:3] == ["total", "4", "4"]


def test_two_estimates_of_one_grid_agree_within_the_documented_factor(suite_file):
    suite = load_suite(suite_file)
    first, second = (make_plan(suite, device="cpu", batch_size=8) for _ in range(2))
    for one, other in zip(first.models, second.models, strict=True):
        assert one.seconds > 0 and other.seconds > 0
        assert max(one.seconds, other.seconds) / min(one.seconds, other.seconds) <= AGREEMENT, (one, other)
