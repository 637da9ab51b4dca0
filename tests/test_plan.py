"""``pcbench run --dry-run``: only cells still to compute are planned, and the timed estimate is reproducible."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

import pcbench
from pcbench.cli import cli
from pcbench.runner import run_suite
from pcbench.runner.grid import expand_perturbations
from pcbench.runner.plan import AGREEMENT, CPU_PER_GPU, CellBatches, cell_batches, make_plan, projected_seconds
from pcbench.suite import load_suite, with_overrides

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
    assert all(len(row) == 8 and row[6] in ("s", "min", "h") and float(row[5]) > 0 for row in rows.values())
    assert "estimate: cpu time of the cells to compute" in result.output
    assert not any(tmp_path.iterdir())


def test_the_plan_counts_only_cells_still_to_compute(suite_file, tmp_path):
    suite = load_suite(suite_file)
    run_suite(with_overrides(suite, models=["digits-cnn"]), results_dir=tmp_path, device="cpu", progress=False)
    plan = make_plan(suite, results_dir=tmp_path, device="cpu")
    cnn, pcnn = plan.models
    assert (cnn.cells, cnn.stored, cnn.forward_passes, cnn.gradient_passes, cnn.seconds) == (0, 4, 0, 0, 0.0)
    # 4 cells × 20 images × (T + 1 = 3) timesteps
    assert (pcnn.cells, pcnn.stored, pcnn.forward_passes) == (4, 0, 240) and pcnn.seconds > 0
    assert (plan.cells, plan.stored) == (4, 4)
    # another seed changes the key of every attack cell, not that of the clean cell
    reseeded = make_plan(with_overrides(suite, seed=8), results_dir=tmp_path, estimate=False)
    assert [(m.cells, m.stored) for m in reseeded.models] == [(3, 1), (4, 0)]
    assert [(m.cells, m.stored) for m in make_plan(suite, results_dir=tmp_path, resume=False).models] == [
        (4, 0),
        (4, 0),
    ]
    # the command line passes --results through
    result = CliRunner().invoke(cli, ["run", str(suite_file), "--dry-run", "--results", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"= 8 cells: 4 to compute, 4 already stored in {tmp_path / 'planmini'}" in result.output
    assert result.output.splitlines()[2].split() == ["digits-cnn", "0", "0", "4", "0", "0", "0", "s", "0"]
    assert result.output.splitlines()[4].split()[:3] == ["total", "4", "4"]


def test_two_estimates_of_one_grid_agree_within_the_documented_factor(suite_file):
    suite = load_suite(suite_file)
    first, second = (make_plan(suite, device="cpu", batch_size=8) for _ in range(2))
    for one, other in zip(first.models, second.models, strict=True):
        assert one.seconds > 0 and other.seconds > 0
        assert max(one.seconds, other.seconds) / min(one.seconds, other.seconds) <= AGREEMENT, (one, other)


BUDGET_SUITE = """
name = "budgetmini"
models = ["digits-pcnn"]
timesteps = 3
seed = 1

[dataset]
name = "digits"
limit = 50

[corruptions]
names = ["fog"]
severities = [1]

[[attacks]]
kind = "pgd-linf"
epsilons = [0.05]
steps = 7
rel_stepsize = 0.1

[[attacks]]
kind = "pgd-linf"
epsilons = [0.05]
steps = 7
rel_stepsize = 0.1
attack_timestep = "first"
limit = 20

[[attacks]]
kind = "fgsm"
epsilons = [0.05]
attack_timestep = "each"

[[attacks]]
kind = "apgd-ce"
epsilons = [0.05]
n_iter = 5
batch_size = 8
"""


def test_the_projection_is_cells_times_batches_times_the_measured_batch_time(tmp_path):
    path = tmp_path / "budgetmini.toml"
    path.write_text(BUDGET_SUITE)
    suite = load_suite(path)
    cells = {p.label: p for p in expand_perturbations(suite)}
    # 50 samples at batch 16: ⌈50 / 16⌉ = 4 forward batches per cell; unroll T + 1 = 4
    batches = {label: cell_batches(p, 50, 4, 16) for label, p in cells.items()}
    assert batches["clean"] == batches["fog/1"] == CellBatches(4, 16, 0.0, 0)
    assert batches["pgd-linf@0.05"] == CellBatches(4, 16, 4 * 7, 16)  # 7 steps through the whole unroll
    # limit 20: ⌈20 / 16⌉ = 2 batches; `first` differentiates through 1 of the 4 timesteps
    assert batches["pgd-linf-n20-first@0.05"] == CellBatches(2, 16, 2 * 7 / 4, 16)
    # `each`: one attack per timestep t through t + 1 timesteps, Σ (t + 1) = 10 of 4 per batch
    assert batches["fgsm-each@0.05"] == CellBatches(4, 16, 4 * 10 / 4, 16)
    # AutoAttack kinds attack their own batch_size at once: ⌈50 / 8⌉ = 7 batches × 5 iterations
    assert batches["apgd-ce-linf-i5-b8@0.05"] == CellBatches(4, 16, 7 * 5, 8)
    assert projected_seconds(batches["pgd-linf@0.05"], 0.5, 2.0) == 4 * 0.5 + 28 * 2.0
    # the plan's estimate is exactly that arithmetic on the batch times it measured
    plan = make_plan(suite, device="cpu", batch_size=16)
    (model,) = plan.models
    assert set(model.timings) == {("forward", 16), ("gradient", 16), ("gradient", 8)}
    expected = sum(
        projected_seconds(
            b, model.timings["forward", b.forward_size], model.timings.get(("gradient", b.gradient_size), 0)
        )
        for b in batches.values()
    )
    assert model.seconds == pytest.approx(expected, rel=1e-12)
    assert plan.gpu_hours(model.seconds) == model.seconds / 3600 / CPU_PER_GPU
    assert replace(plan, device="cuda:0").gpu_hours(7200.0) == 2.0


def test_a_dry_run_needs_neither_the_data_nor_the_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("PCBENCH_WEIGHTS", str(tmp_path / "no-weights"))
    suite = pcbench.load_suite("imagenet-c", without_data=True, models=["resnet18", "presnet18"])
    plan = make_plan(suite, device="cpu", estimate=False)
    assert (plan.samples, plan.cells, plan.stored) == (5000, 2 * 96, 0)
    assert plan.note.startswith("data: no dataset.root, so the plan times 5000 random 224×224 images")
    assert [m.note.split(":")[0] for m in plan.models] == ["resnet18", "presnet18"]
    assert all("timed with its initial weights" in m.note for m in plan.models)
    # and the command line runs it, timing random images through the untrained models
    result = CliRunner().invoke(
        cli,
        ["run", "imagenet-c", "--dry-run", "-m", "resnet18", "--limit", "2", "--batch-size", "2", "--device", "cpu"],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].split()[-2:] == ["estimate", "GPU-h"] and lines[2].split()[:3] == ["resnet18", "0", "96"]
    assert f"GPU-h: projected to one GPU as the cpu estimate / {CPU_PER_GPU:g}" in result.output
    assert "resnet18: measured per batch on cpu: forward batch of 2 " in result.output
    # without --dry-run the data are needed, as before
    refused = CliRunner().invoke(cli, ["run", "imagenet-c", "-m", "resnet18"])
    assert refused.exit_code == 1 and "dataset.root is missing" in str(refused.exception)
