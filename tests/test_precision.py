"""``--precision`` and ``--channels-last``: validated, applied to the model, recorded per row
and in the cell key, never mixed silently in a leaderboard; older files read as fp32."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

import pcbench
from pcbench.errors import PcbenchError
from pcbench.leaderboards.merge import load_results
from pcbench.leaderboards.reproduce import compare_to_reference, format_reproduction, reduced_precision_models
from pcbench.models.precision import FP32, Numerics
from pcbench.runner import run_suite
from pcbench.runner.run import cell_keys
from pcbench.store import read_scores
from pcbench.suite import load_suite, with_overrides

SUITE = """
name = "precmini"
models = ["digits-cnn"]
seed = 3

[dataset]
name = "digits"
limit = 12

[corruptions]
names = ["gaussian_noise"]
severities = [2]

[[attacks]]
kind = "fgsm"
epsilons = [0.1]
"""

CPU = torch.device("cpu")


@pytest.fixture
def suite(tmp_path: Path):
    path = tmp_path / "precmini.toml"
    path.write_text(SUITE)
    return load_suite(path)


@pytest.mark.parametrize(
    ("numerics", "problem"),
    [
        (lambda: Numerics("fp64"), "--precision 'fp64' is not allowed; allowed: fp32, tf32, bf16, fp16"),
        (lambda: Numerics("fp16").check(CPU), "--precision fp16 on device cpu: CUDA-only"),
        (lambda: Numerics("tf32").check(CPU), "--precision tf32 on device cpu: a CUDA tensor-core mode"),
    ],
)
def test_a_precision_the_device_cannot_compute_is_one_error(numerics, problem):
    with pytest.raises(PcbenchError, match="^" + problem.replace("(", r"\(")):
        numerics()


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (["--precision", "fp16"], "error: --precision fp16 on device cpu: CUDA-only"),
        (["--precision", "bf8"], "error: --precision 'bf8' is not allowed; allowed: fp32, tf32, bf16, fp16"),
        (["--precision", "tf32", "--dry-run"], "error: --precision tf32 on device cpu: a CUDA tensor-core mode"),
    ],
)
def test_the_command_line_refuses_a_bad_precision_in_one_line(run_main, tmp_path, options, problem):
    status, stderr = run_main(["run", "quick", "--limit", "5", "--device", "cpu", "--results", str(tmp_path), *options])
    assert status == 2 and stderr.startswith(problem) and len(stderr.strip().splitlines()) == 1, stderr
    assert not any(tmp_path.iterdir())  # refused before anything is written


def test_bf16_autocasts_the_forward_and_returns_float32_logits():
    model = pcbench.load_model("digits-pcnn", timesteps=2)
    images = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        plain = model(images)
        with Numerics("bf16").applied(model, CPU), Numerics("bf16").applied(model, CPU):  # nested: once
            reduced = model(images)
        after = model(images)
    assert reduced.dtype == torch.float32 and reduced.shape == plain.shape
    assert not torch.equal(reduced, plain)  # computed in bfloat16: rounded differently
    assert torch.equal(after, plain) and "forward" not in model.__dict__  # the forward is restored
    with FP32.applied(model, CPU), torch.no_grad():
        assert torch.equal(model(images), plain)  # fp32 on a CPU changes nothing at all


def test_rows_record_the_precision_and_the_key_differs_by_it(suite, tmp_path):
    fp32 = run_suite(suite, results_dir=tmp_path, device="cpu", progress=False)
    assert len(fp32.evaluated) == 3
    # the fp32 contiguous keys are the keys cells had before the option existed
    assert cell_keys(suite) == cell_keys(suite, FP32)
    bf16 = Numerics("bf16")
    assert all(
        one != other
        for labels, others in zip(cell_keys(suite).values(), cell_keys(suite, bf16).values(), strict=True)
        for one, other in zip(labels.values(), others.values(), strict=True)
    )
    # a bf16 run on the same directory never takes the fp32 cells for its own: it recomputes them
    rerun = run_suite(suite, results_dir=tmp_path, device="cpu", progress=False, numerics=bf16)
    assert (len(rerun.evaluated), len(rerun.skipped)) == (3, 0)
    scores = read_scores(tmp_path / "precmini")
    assert set(scores["precision"]) == {"bf16"} and set(scores["memory_format"]) == {"contiguous"}
    again = run_suite(suite, results_dir=tmp_path, device="cpu", progress=False, numerics=bf16)
    assert (len(again.evaluated), len(again.skipped)) == (0, 3)  # and resumes its own
    layout = run_suite(suite, results_dir=tmp_path, device="cpu", progress=False, numerics=Numerics(channels_last=True))
    assert len(layout.evaluated) == 3
    scores = read_scores(tmp_path / "precmini")
    assert set(zip(scores["precision"], scores["memory_format"], strict=True)) == {("fp32", "channels_last")}


def test_files_written_before_the_columns_read_as_fp32_contiguous(suite, tmp_path):
    run_suite(suite, results_dir=tmp_path, device="cpu", progress=False)
    for path in (tmp_path / "precmini" / "scores").glob("*.parquet"):
        table = pq.read_table(path)
        pq.write_table(
            table.drop_columns(["precision", "memory_format"]).replace_schema_metadata(table.schema.metadata), path
        )
    scores = read_scores(tmp_path / "precmini")
    assert len(scores) == 3
    assert set(scores["precision"]) == {"fp32"} and set(scores["memory_format"]) == {"contiguous"}
    # still the stored cells of an fp32 run: nothing is recomputed
    assert len(run_suite(suite, results_dir=tmp_path, device="cpu", progress=False).skipped) == 3


def test_rows_of_different_precisions_are_never_mixed_without_a_warning(suite, tmp_path):
    run_suite(suite, results_dir=tmp_path, device="cpu", progress=False)
    pc = with_overrides(suite, models=("digits-pcnn",), timesteps=(0, 1))
    run_suite(pc, results_dir=tmp_path, device="cpu", progress=False, numerics=Numerics("bf16"))
    warnings = load_results([tmp_path], "precmini").warnings
    assert (
        "rows of different precisions are mixed in these tables: bf16 (digits-pcnn); fp32 (digits-cnn); "
        "their numbers are not computed alike (docs/precision.md)"
    ) in warnings
    assert not any("memory format" in warning for warning in warnings)
    alone = tmp_path / "alone"
    run_suite(suite, results_dir=alone, device="cpu", progress=False, numerics=Numerics("bf16"))
    assert not any("precision" in warning for warning in load_results([alone], "precmini").warnings)


def test_compare_against_applies_the_reduced_precision_tolerance_to_every_metric_of_such_a_model():
    def rows(clean: float, mce: float, fgsm: float) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {"model": "m", "metric": metric, "timestep": 0, "value": value, "ci_low": 0.0, "ci_high": 2.0, "n": 100}
                for metric, value in (("clean_acc", clean), ("mce", mce), ("fgsm@0.1_acc", fgsm))
            ]
        )

    reference = rows(0.90, 1.0, 0.50)
    here = rows(0.87, 1.015, 0.47)  # 3 samples off on clean and FGSM, mCE 1.5 % off
    statuses = compare_to_reference(here, reference).rows.set_index("metric")["status"]
    assert list(statuses) == ["differs", "differs", "differs"]  # fp32: bitwise, and FGSM within max(2, 1 %)
    reduced = compare_to_reference(here, reference, reduced=("m",))
    assert list(reduced.rows["status"]) == ["within tolerance"] * 3 and reduced.reproduced
    assert [None if pd.isna(a) else a for a in reduced.rows["allowed"]] == [3, None, 3]
    assert "m: 0 rows equal, 3 within tolerance (reduced precision: every metric), 0 differ" in format_reproduction(
        reduced
    )
    too_far = compare_to_reference(rows(0.86, 1.025, 0.46), reference, reduced=("m",))
    assert list(too_far.rows["status"]) == ["differs"] * 3  # 4 samples > max(3, 2 % of 100); 2.5 % > 2 %
    scores = pd.DataFrame({"model": ["a", "b", "b", "c"], "precision": ["fp32", "fp32", "bf16", "tf32"]})
    assert reduced_precision_models(scores) == ("b", "c")
