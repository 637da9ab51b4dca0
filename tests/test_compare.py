"""Leaderboard statistics on small synthetic results with hand-computed answers.

The synthetic suite (:func:`scenario`) has 10 samples, a feedforward model ``ff`` and its
PC variant ``pc`` (timesteps 0-2). A cell's outcome is the set of sample ids answered
correctly, so every number below can be checked with pencil and paper.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pcbench.errors import PcbenchError
from pcbench.leaderboards.board import CompareOptions, build_leaderboard
from pcbench.leaderboards.families import FAMILIES
from pcbench.leaderboards.merge import Results, load_results
from pcbench.leaderboards.metrics import resolve_baseline
from pcbench.leaderboards.stats import Bootstrap, mcnemar_pvalue, wilson_interval
from pcbench.leaderboards.summary import parse_timestep, select_timesteps, sort_order, values_at
from pcbench.perturbations.corruptions import COMMON_CORRUPTIONS, CORRUPTIONS
from pcbench.store import cell_stem, commit_cell

SAMPLES = 10
SUITE = "syn"
EXTRA = CORRUPTIONS[15:]
Outcomes = dict[tuple[str, str, int], set[int]]


def first(k: int) -> set[int]:
    """Samples 0..k-1."""
    return set(range(k))


def scenario() -> Outcomes:
    """(model, cell, timestep) -> samples answered correctly.

    ff: clean 9/10; every common corruption 6/10 at severity 1 and 4/10 at severity 2
    (error 0.5); extra corruptions 8/10; fgsm@0.1 = {0..4}; pgd-linf@0.1 = {3..8}.
    pc: equal to ff at timestep 0 except for attacks; then clean 10, 8; common corruption
    errors 0.4, 0.3; extra 8, 9 /10; fgsm {0..5}, {0..6}; pgd {3..8}, {2..9}.
    """
    outcomes: Outcomes = {}
    clean = {"ff": [9], "pc": [9, 10, 8]}
    common = {"ff": [(6, 4)], "pc": [(6, 4), (7, 5), (8, 6)]}
    extra = {"ff": [8], "pc": [8, 8, 9]}
    fgsm = {"ff": [first(5)], "pc": [first(5), first(6), first(7)]}
    pgd = {"ff": [set(range(3, 9))], "pc": [set(range(3, 9)), set(range(3, 9)), set(range(2, 10))]}
    for model in ("ff", "pc"):
        for t in range(len(clean[model])):
            outcomes[model, "clean", t] = first(clean[model][t])
            for name in COMMON_CORRUPTIONS:
                outcomes[model, f"{name}/1", t] = first(common[model][t][0])
                outcomes[model, f"{name}/2", t] = first(common[model][t][1])
            for name in EXTRA:
                outcomes[model, f"{name}/1", t] = outcomes[model, f"{name}/2", t] = first(extra[model][t])
            outcomes[model, "fgsm@0.1", t] = fgsm[model][t]
            outcomes[model, "pgd-linf@0.1", t] = pgd[model][t]
    return outcomes


def _cell_columns(label: str) -> dict:
    """perturbation, corruption, severity, attack, epsilon of a cell label."""
    columns = {"perturbation": "clean", "corruption": None, "severity": None, "attack": None, "epsilon": None}
    if "/" in label:
        name, severity = label.split("/")
        columns.update(perturbation="corruption", corruption=name, severity=int(severity))
    elif "@" in label:
        attack, epsilon = label.split("@")
        columns.update(perturbation="attack", attack=attack, epsilon=float(epsilon))
    return columns


def tables(
    outcomes: Outcomes,
    dataset: str = "synthetic",
    key_suffix: str = "",
    checkpoint_suffix: str = "",
    samples: int = SAMPLES,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores and predictions (store layout) of ``outcomes`` over sample ids 0..samples-1;
    labels are sample_id % 3."""
    scores, predictions = [], []
    for (model, label, t), correct in outcomes.items():
        columns = _cell_columns(label)
        params = {"kind": columns["attack"], "gradient_mode": "full", "attack_timestep": "last", "target_offset": None}
        scores.append(
            {
                "model": model,
                "variant": "pc" if model == "pc" else "feedforward",
                "base": "ff" if model == "pc" else None,
                **columns,
                "timestep": t,
                "n": samples,
                "correct": len(correct),
                "accuracy": len(correct) / samples,
                "cell": label,
                "cell_key": f"key-{model}-{label}{key_suffix}",
                "model_spec_hash": f"spec-{model}",
                "checkpoint_hash": f"ckpt-{model}{checkpoint_suffix}",
                "run_id": "run-1",
                "suite": SUITE,
                "suite_hash": "suitehash",
                "dataset": dataset,
                "split": "test",
                "dataset_hash": "datahash",
                "subset_hash": "subsethash",
                "seed": 0,
                "device": "cpu",
                "batch_size": 10,
                "precision": "fp32",
                "memory_format": "contiguous",
                "corruption_source": "generated:test" if columns["corruption"] else None,
                "attack_params": json.dumps(params) if columns["attack"] else None,
                "attack_warnings": "[]" if columns["attack"] else None,
                "python_version": "3.11",
                "torch_version": "2",
                "gradient_mode": "full" if columns["attack"] else None,
                "attack_timestep": "last" if columns["attack"] else None,
                "nonfinite_images": None,
                "nonfinite_pixels": None,
                "limit": None,
                "wall_time_s": 0.0,
                "stochastic": False,
                "draws": 1,
                "created_at": "2026-01-01T00:00:00+00:00",
                "pcbench_version": "0",
                "torchvision_version": "0",
                "foolbox_version": "0",
                "imagecorruptions_version": "0",
                "numpy_version": "0",
                "pyautoattack_version": "0",
            }
        )
        for sample in range(samples):
            truth = sample % 3
            predictions.append(
                {
                    "model": model,
                    "cell": label,
                    "sample_id": sample,
                    "label": truth,
                    "timestep": t,
                    "prediction": truth if sample in correct else truth + 1,
                    "draw": 0,  # a deterministic model's one draw
                    "attacked_at": None,  # the cell's own rows (no attack × read-out matrix here)
                }
            )
    scores = pd.DataFrame(scores).astype(
        {
            "severity": "Int64",
            "epsilon": "Float64",
            "nonfinite_images": "Int64",
            "nonfinite_pixels": "Int64",
            "limit": "Int64",
        }
    )
    return scores, pd.DataFrame(predictions)


def results(outcomes: Outcomes | None = None, **kwargs) -> Results:
    """In-memory results of ``outcomes`` (default: the scenario)."""
    scores, predictions = tables(scenario() if outcomes is None else outcomes, **kwargs)
    return Results(SUITE, (Path("memory"),), scores, predictions)


def store(directory: Path, outcomes: Outcomes, **kwargs) -> Path:
    """Commit ``outcomes`` cell by cell under ``directory/<suite>``; return ``directory``."""
    scores, predictions = tables(outcomes, **kwargs)
    for (model, cell), rows in scores.groupby(["model", "cell"]):
        mine = predictions[(predictions["model"] == model) & (predictions["cell"] == cell)]
        commit_cell(directory / SUITE, cell_stem(model, cell), rows["cell_key"].iloc[0], rows, mine)
    return directory


@pytest.fixture(scope="module")
def board():
    return build_leaderboard(results(), CompareOptions(baseline="ff"))


def value(board, model: str, metric: str, timestep: int) -> pd.Series:
    rows = board.metrics
    match = rows[(rows["model"] == model) & (rows["metric"] == metric) & (rows["timestep"] == timestep)]
    assert len(match) == 1, (model, metric, timestep)
    return match.iloc[0]


# --- statistics -------------------------------------------------------------------------------


def test_wilson_interval_matches_published_values() -> None:
    low, high = wilson_interval(np.array([8, 0, 10, 0]), np.array([10, 10, 10, 0]))
    np.testing.assert_allclose(low[:3], [0.4902, 0.0, 0.7225], atol=1e-4)
    np.testing.assert_allclose(high[:3], [0.9433, 0.2775, 1.0], atol=1e-4)
    assert np.isnan(low[3]) and np.isnan(high[3])


@pytest.mark.parametrize(
    ("only_first", "only_second", "expected"),
    [(1, 6, 16 / 128), (6, 1, 16 / 128), (0, 0, 1.0), (3, 3, 1.0), (0, 60, 2.0**-59), (0, 1, 1.0)],
)
def test_exact_mcnemar_pvalues(only_first: int, only_second: int, expected: float) -> None:
    assert mcnemar_pvalue(only_first, only_second) == pytest.approx(expected, rel=1e-9)


def test_bootstrap_weights_are_seeded_resamples() -> None:
    first_draw = np.concatenate(list(Bootstrap(resamples=250, seed=3).weights(7)))
    again = np.concatenate(list(Bootstrap(resamples=250, seed=3, chunk=7).weights(7)))
    other = np.concatenate(list(Bootstrap(resamples=250, seed=4).weights(7)))
    assert first_draw.shape == (250, 7) and (first_draw.sum(axis=1) == 7).all()
    np.testing.assert_array_equal(first_draw, again)
    assert not np.array_equal(first_draw, other)
    low, high = Bootstrap.interval(np.array([np.arange(101.0), [np.nan] * 101]))
    np.testing.assert_allclose([low[0], high[0]], [2.5, 97.5])
    assert np.isnan(low[1]) and np.isnan(high[1])


def test_families_cover_the_19_corruptions_once() -> None:
    named = [name for names in FAMILIES.values() for name in names]
    assert sorted(named) == sorted(CORRUPTIONS) and len(named) == 19
    assert set(FAMILIES["extra"]) == set(EXTRA)
    assert "fog" in FAMILIES["weather"] and "pixelate" in FAMILIES["digital"]


# --- the long table ---------------------------------------------------------------------------


EXPECTED = {
    ("ff", "clean_acc", 0): 0.9,
    ("pc", "clean_acc", 1): 1.0,
    ("pc", "clean_acc", 2): 0.8,
    ("ff", "corruption_acc", 0): (15 * 10 + 4 * 16) / 380,
    ("ff", "fog_acc", 0): 0.5,
    ("pc", "saturate_acc", 2): 0.9,
    ("ff", "mean_corruption_acc_15", 0): 0.5,
    ("pc", "mean_corruption_acc_15", 1): 0.6,
    ("pc", "mean_corruption_acc_15", 2): 0.7,
    ("ff", "mean_corruption_acc_19", 0): 21.4 / 38,
    ("pc", "mean_corruption_acc_19", 2): 28.2 / 38,
    ("ff", "mce", 0): 1.0,
    ("pc", "mce", 0): 1.0,
    ("pc", "mce", 1): 0.4 / 0.5,
    ("pc", "mce", 2): 0.3 / 0.5,
    ("pc", "relative_mce", 1): (0.4 - 0.0) / (0.5 - 0.1),
    ("pc", "relative_mce", 2): (0.3 - 0.2) / (0.5 - 0.1),
    ("pc", "relative_corruption_error", 0): 1.0,
    ("pc", "relative_corruption_error", 1): (15 * 0.8 + 4 * 0.4) / (15 * 1.0 + 4 * 0.4),
    ("pc", "relative_corruption_error", 2): (15 * 0.6 + 4 * 0.2) / (15 * 1.0 + 4 * 0.4),
    ("ff", "fgsm@0.1_acc", 0): 0.5,
    ("pc", "pgd-linf@0.1_acc", 2): 0.8,
    ("ff", "best_known_linf@0.1_acc", 0): 0.2,  # {0..4} ∩ {3..8}: not min(0.5, 0.6)
    ("pc", "best_known_linf@0.1_acc", 2): 0.5,  # {0..6} ∩ {2..9}
}


@pytest.mark.parametrize(("key", "expected"), EXPECTED.items(), ids=["/".join(map(str, k)) for k in EXPECTED])
def test_long_table_values(board, key: tuple[str, str, int], expected: float) -> None:
    assert value(board, *key)["value"] == pytest.approx(expected, abs=1e-12)


def test_long_table_layout_intervals_and_n(board) -> None:
    metrics = board.metrics
    assert list(metrics.columns) == ["model", "metric", "timestep", "value", "ci_low", "ci_high", "n"]
    assert list(pd.unique(metrics["model"])) == ["ff", "pc"]
    assert list(pd.unique(metrics["metric"]))[:7] == [
        "clean_acc",
        "corruption_acc",
        "mean_corruption_acc_15",
        "mean_corruption_acc_19",
        "mce",
        "relative_mce",
        "relative_corruption_error",
    ]
    assert list(pd.unique(metrics["metric"]))[-1] == "best_known_linf@0.1_acc"
    clean = value(board, "pc", "clean_acc", 2)
    assert (clean["ci_low"], clean["ci_high"], clean["n"]) == (
        pytest.approx(0.4902, abs=1e-4),
        pytest.approx(0.9433, abs=1e-4),
        10,
    )
    robust = value(board, "ff", "best_known_linf@0.1_acc", 0)
    assert robust["n"] == 10 and robust["ci_low"] == pytest.approx(wilson_interval(2, 10)[0])
    assert value(board, "ff", "corruption_acc", 0)["n"] == 380
    own = value(board, "ff", "mce", 0)  # the baseline against itself: every resample gives 1
    assert own["ci_low"] == own["ci_high"] == pytest.approx(1.0)
    for metric in ("mean_corruption_acc_15", "mce", "relative_corruption_error"):
        row = value(board, "pc", metric, 2)
        assert row["ci_low"] < row["value"] < row["ci_high"] and row["n"] == 10


def test_best_known_robust_accuracy_is_per_norm_and_budget() -> None:
    outcomes = {
        ("ff", "fgsm@0.1", 0): first(5),
        ("ff", "pgd-linf@0.1", 0): set(range(3, 9)),
        ("ff", "pgd-linf-first@0.1", 0): set(range(1, 10)),
        ("ff", "pgd-linf@0.5", 0): set(),
        ("ff", "pgd-l2@0.1", 0): first(10),
        ("ff", "bim-linf-t3-detached@0.05", 0): first(7),
    }
    metrics = build_leaderboard(results(outcomes)).metrics
    robust = metrics[metrics["metric"].str.startswith("best_known_")]
    assert robust.set_index("metric")["value"].to_dict() == {
        "best_known_l2@0.1_acc": 1.0,  # the only L2 cell: not pooled with L∞ at the same number
        "best_known_linf@0.05_acc": 0.7,
        "best_known_linf@0.1_acc": 0.2,  # {0..4} ∩ {3..8} ∩ {1..9}, transfer included
        "best_known_linf@0.5_acc": 0.0,  # not mixed into the smaller budgets
    }


def test_no_baseline_means_no_mce_and_incomplete_groups_are_left_out() -> None:
    plain = build_leaderboard(results())
    assert not {"mce", "relative_mce"} & set(plain.metrics["metric"])
    outcomes = {key: correct for key, correct in scenario().items() if not key[1].startswith("saturate")}
    partial = build_leaderboard(results(outcomes), CompareOptions(baseline="ff")).metrics
    assert "mean_corruption_acc_19" not in set(partial["metric"]) and "mce" in set(partial["metric"])
    outcomes = {
        key: correct for key, correct in scenario().items() if not (key[0] == "ff" and key[1].startswith("fog"))
    }
    with pytest.raises(PcbenchError, match="baseline 'ff' lacks some of the 15 common corruptions"):
        build_leaderboard(results(outcomes), CompareOptions(baseline="ff"))


def test_imagenet_suites_are_normalised_by_alexnet() -> None:
    alexnet = [
        0.886428,
        0.894468,
        0.922640,
        0.819880,
        0.826268,
        0.785948,
        0.798360,
        0.866816,
        0.826572,
        0.819324,
        0.564592,
        0.853204,
        0.646056,
        0.717840,
        0.606500,
    ]
    outcomes = {("ff", "clean", 0): first(6)}
    outcomes.update({("ff", f"{name}/{s}", 0): first(5) for name in COMMON_CORRUPTIONS for s in range(1, 6)})
    metrics = build_leaderboard(results(outcomes, dataset="imagenet")).metrics
    assert value_of(metrics, "mce") == pytest.approx(np.mean([0.5 / e for e in alexnet]))
    assert value_of(metrics, "relative_mce") == pytest.approx(np.mean([(0.5 - 0.4) / (e - 0.4348) for e in alexnet]))
    two_severities = {key: v for key, v in outcomes.items() if key[1] == "clean" or key[1][-1] in "12"}
    with pytest.raises(PcbenchError, match=r"gaussian_noise at severities \[1, 2\] but baseline AlexNet"):
        build_leaderboard(results(two_severities, dataset="imagenet"))


def value_of(metrics: pd.DataFrame, metric: str) -> float:
    return float(metrics.loc[metrics["metric"] == metric, "value"].item())


# --- best timestep and the summary ------------------------------------------------------------


def test_best_timestep_follows_the_sort_metric_and_its_direction(board) -> None:
    assert board.summary.set_index("model")["best_timestep"].to_dict() == {"ff": 0, "pc": 1}  # by clean_acc
    assert select_timesteps(board.metrics, "mce", "best").best.to_dict() == {"ff": 0, "pc": 2}  # lowest
    ties = pd.DataFrame(
        {
            "model": "m",
            "timestep": [0, 1, 2, 0, 1, 2],
            "metric": ["mce"] * 3 + ["clean_acc"] * 3,
            "value": [0.5, 0.5, 0.7, 0.7, 0.9, 0.9],
        }
    )
    assert select_timesteps(ties, "mce", "best").best["m"] == 0  # lower is better; tie -> earliest
    assert select_timesteps(ties, "clean_acc", "best").best["m"] == 1


def test_summary_values_deltas_and_mcnemar(board) -> None:
    summary = board.summary.set_index("model")
    pc, ff = summary.loc["pc"], summary.loc["ff"]
    assert (pc["last_timestep"], pc["best_timestep"]) == (2, 1)
    assert (pc["clean_acc:t0"], pc["clean_acc:last"], pc["clean_acc:best"]) == (0.9, 0.8, 1.0)
    assert pc["delta_clean_acc:best"] == pytest.approx(0.1)
    assert pc["p_clean_acc:best"] == 1.0  # one discordant pair
    assert pc["delta_best_known_linf@0.1_acc:last"] == pytest.approx(0.3)
    assert pc["p_best_known_linf@0.1_acc:last"] == pytest.approx(0.25)  # samples 2, 5, 6 gained, none lost
    assert pc["p_mean_corruption_acc_15:last"] == pytest.approx(2.0**-59)  # 60 (cell, sample) pairs gained
    assert pc["delta_mce:last"] == pytest.approx(-0.4) and np.isnan(pc["p_mce:last"])
    assert pc["delta_fgsm@0.1_acc:t0"] == 0.0 and pc["p_fgsm@0.1_acc:t0"] == 1.0
    assert np.isnan(ff["delta_clean_acc:last"]) and ff["best_known_linf@0.1_acc:best"] == pytest.approx(0.2)
    flags = [column for column in summary.columns if column.startswith("flag_")]
    assert flags and all(column.rsplit(":", 1)[1] in ("t0", "last", "best") for column in flags)
    assert pd.notna(ff["flag_iterative_weaker_than_fgsm:t0"]) and pd.isna(ff["flag_not_monotonic_in_epsilon:t0"])


def test_rows_are_sorted_by_the_sort_metric_at_the_chosen_timestep(board) -> None:
    values = board.metrics.set_index(["model", "timestep", "metric"])["value"].unstack("metric")

    def order(sort: str, choice: str | int) -> list[str]:
        selection = select_timesteps(board.metrics, sort, choice)
        return sort_order(values_at(values, selection.chosen)[sort], sort)

    assert list(board.summary["model"]) == order("clean_acc", "last") == ["ff", "pc"]  # 0.9 > 0.8 at t=2
    assert order("clean_acc", "best") == ["pc", "ff"]  # pc's best timestep (1) has 1.0
    assert select_timesteps(board.metrics, "clean_acc", 1).chosen.to_dict() == {"ff": 0, "pc": 1}
    assert order("clean_acc", 1) == ["pc", "ff"]  # ff has only timestep 0
    assert order("mce", "last") == ["pc", "ff"]  # lower first
    assert order("relative_mce", 0) == ["ff", "pc"]  # tie (both 1): given order


def test_bad_options_are_one_line_errors(board) -> None:
    cases = [
        (
            lambda: select_timesteps(board.metrics, "speed", "last"),
            "--sort 'speed' is not a metric of this leaderboard: one of clean_acc, corruption_acc",
        ),
        (
            lambda: select_timesteps(board.metrics, "clean_acc", 5),
            "--timestep 5 is not stored for model 'pc': one of last, best, 0, 1, 2",
        ),
        (
            lambda: resolve_baseline("alexnet", board.results.scores),
            "--baseline 'alexnet' is not a model in the results: one of ff, pc",
        ),
    ]
    for call, message in cases:
        with pytest.raises(PcbenchError, match=message) as error:
            call()
        assert "\n" not in str(error.value)


def test_parse_timestep() -> None:
    assert (parse_timestep("last"), parse_timestep("best"), parse_timestep("3")) == ("last", "best", 3)
    with pytest.raises(PcbenchError, match="--timestep '-1' is not allowed: last, best or a timestep number"):
        parse_timestep("-1")


# --- merging result directories ---------------------------------------------------------------


def small() -> Outcomes:
    """The scenario with clean, the first five common corruptions and the attacks: 13 cells per model."""
    kept = ("clean", "fgsm", "pgd", *COMMON_CORRUPTIONS[:5])
    return {key: correct for key, correct in scenario().items() if key[1].startswith(kept)}


def split(outcomes: Outcomes, model: str) -> Outcomes:
    return {key: correct for key, correct in outcomes.items() if key[0] == model}


def test_merging_split_and_duplicated_directories_gives_the_single_run_table(tmp_path: Path) -> None:
    whole = store(tmp_path / "whole", small())
    store(tmp_path / "a", split(small(), "ff"))
    store(tmp_path / "b", split(small(), "pc"))
    single = build_leaderboard(load_results([whole], SUITE))
    for directories in ([tmp_path / "a", tmp_path / "b"], [whole, tmp_path / "b", whole]):
        merged = build_leaderboard(load_results(directories, SUITE))
        pd.testing.assert_frame_equal(merged.metrics, single.metrics)
        pd.testing.assert_frame_equal(merged.summary, single.summary)


def test_conflicting_copies_raise_or_keep_the_first_directory(tmp_path: Path) -> None:
    store(tmp_path / "a", small())
    changed = {
        key: (first(3) if key[:2] == ("ff", "clean") else correct) for key, correct in split(small(), "ff").items()
    }
    store(
        tmp_path / "b", {key: changed[key] for key in changed if key[1] in ("clean", "glass_blur/1")}, key_suffix="-new"
    )
    store(tmp_path / "c", split(small(), "ff"), checkpoint_suffix="-retrained")
    directories = [tmp_path / "a", tmp_path / "b"]
    with pytest.raises(PcbenchError) as error:
        load_results(directories, SUITE)
    message = str(error.value)
    assert message.startswith("2 cell(s) stored with different cell_key or checkpoint_hash: ff clean t0 (")
    assert f"ff glass_blur/1 t0 ({tmp_path / 'a'}, {tmp_path / 'b'})" in message and "--on-conflict first" in message
    assert "\n" not in message
    with pytest.raises(PcbenchError, match=r"^13 cell\(s\) .* and 5 more"):
        load_results([tmp_path / "a", tmp_path / "c"], SUITE)
    for order, correct in ((directories, 9), (directories[::-1], 3)):
        merged = load_results(order, SUITE, on_conflict="first")
        clean = merged.scores[(merged.scores["model"] == "ff") & (merged.scores["cell"] == "clean")]
        assert clean["correct"].tolist() == [correct]
        predictions = merged.predictions[
            (merged.predictions["model"] == "ff") & (merged.predictions["cell"] == "clean")
        ]
        assert len(predictions) == SAMPLES and (predictions["prediction"] == predictions["label"]).sum() == correct
    with pytest.raises(PcbenchError, match="--on-conflict 'average' is not allowed: one of error, first"):
        load_results(directories, SUITE, on_conflict="average")


def test_nan_free_ci_for_every_accuracy(board) -> None:
    accuracies = board.metrics[board.metrics["metric"].str.endswith("_acc")]
    assert accuracies[["ci_low", "ci_high"]].notna().all().all()
    assert ((accuracies["ci_low"] <= accuracies["value"]) & (accuracies["value"] <= accuracies["ci_high"])).all()
    assert math.isclose(accuracies["value"].max(), 1.0)


def test_a_pc_variant_stored_without_timestep_zero() -> None:
    later = {key: correct for key, correct in scenario().items() if not (key[0] == "pc" and key[2] == 0)}
    board = build_leaderboard(results(later), CompareOptions(baseline="ff"))
    pc = board.summary.set_index("model").loc["pc"]
    assert (
        np.isnan(pc["clean_acc:t0"])
        and np.isnan(pc["delta_clean_acc:t0"])
        and pc["delta_clean_acc:best"] == pytest.approx(0.1)
    )
    assert "relative_corruption_error" not in set(board.metrics.loc[board.metrics["model"] == "pc", "metric"])
