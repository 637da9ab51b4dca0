"""Long-format leaderboard ``<suite>.csv``: one row per (model, metric, timestep).

Columns
-------
``model``, ``metric``, ``timestep``
    The model, the metric (below) and the PC timestep (0 = the feedforward sweep).
``value``
    The metric on all stored samples. Accuracies are fractions in [0, 1].
``ci_low``, ``ci_high``
    95 % interval (see *Uncertainty*).
``n``
    Predictions behind the value: Σ n of the pooled cells for accuracies, the number of
    samples for the best-known robust accuracies and for the bootstrapped aggregates.
``note``
    Only when some row has one: why a value is missing or covers less than its definition
    (a ratio metric's unresolved denominators, below), or why a row has no interval.
    Every interval contains its value; where one cannot (no value, a bootstrap interval
    that is not finite or excludes the value) both bounds are empty and ``note`` says why.

Metrics (a metric appears only for models with the cells it needs)
-------------------------------------------------------------------
``clean_acc``, ``corruption_acc``, ``<corruption>_acc``, ``<attack>@<ε>_acc``
    As in ``<suite>-timesteps.csv``: clean accuracy, accuracy pooled over every
    corruption cell, per corruption pooled over its severities, per attack and ε.
``mean_corruption_acc_15``, ``mean_corruption_acc_19``
    Mean accuracy over the (corruption, severity) cells of the 15 common / all 19
    corruptions; only for models that have every corruption of the group.
``mce``, ``relative_mce``
    With a baseline (``--baseline MODEL``, taken at its last timestep; for an ``imagenet``
    suite without one, AlexNet's published ImageNet-C errors). With E_c the error on
    corruption c averaged over severities: CE_c = E_c / E_c(baseline), mCE = mean of CE_c
    over the 15 common corruptions; relative CE_c = (E_c − E_clean) / (E_c(baseline) −
    E_clean(baseline)), relative mCE = its mean. Needs all 15 common corruptions at the
    baseline's severities. Lower is better; 1 = as good as the baseline. A corruption whose
    denominator (E_c(baseline), resp. E_c(baseline) − E_clean(baseline)) is below one
    sample (1/n) or has a 95 % bootstrap interval containing 0 is left out of the mean,
    and ``note`` names it; with none left the value is empty
    (:mod:`pcbench.leaderboards.aggregates`).
``relative_corruption_error``
    Predify's headline: per corruption Σ over severities of the error, averaged over the
    stored corruptions, divided by the same at timestep 0 (below 1 = the dynamics helped);
    empty, with a ``note``, when the timestep-0 error is unresolved in the same sense.
``best_known_<norm>@<ε>_acc``
    Best-known robust accuracy of a threat model (norm ``linf`` or ``l2`` and budget ε):
    the per-sample worst case over every attack cell of that norm and ε at that timestep
    (FGSM, PGD, BIM, white-box and transfer, targeted or not). A sample counts as correct
    only if it is correct under all of them (samples stored in all of them).

Uncertainty
-----------
Accuracies (``*_acc`` except the mean corruption accuracies) get a 95 % Wilson score
interval from (Σ correct, Σ n). Pooled corruption accuracies treat every (sample, cell)
prediction as independent, although each sample recurs in every cell, so their
intervals are too narrow; use the bootstrapped means for claims about corruption
robustness. Aggregates (``mean_corruption_acc_*``, ``mce``, ``relative_mce``,
``relative_corruption_error``) get a 95 % percentile bootstrap interval over samples:
1000 resamples of the sample ids with replacement, seed 0
(:class:`pcbench.leaderboards.stats.Bootstrap`); the same resamples are used for every
model, timestep and the baseline, so the intervals are paired.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pcbench.errors import PcbenchError
from pcbench.leaderboards import aggregates
from pcbench.leaderboards.compare import accuracy_columns
from pcbench.leaderboards.outcomes import CORRUPTION_GROUPS, ModelOutcomes
from pcbench.leaderboards.stats import Bootstrap, checked_interval, wilson_interval

COLUMNS = ["model", "metric", "timestep", "value", "ci_low", "ci_high", "n"]
#: Column after :data:`COLUMNS`, present when a row has one: why a value or an interval is
#: missing, or which corruptions a ratio metric leaves out.
NOTE = "note"
NO_VALUE = "no value: no sample behind it"
NO_INTERVAL = "no interval: the computed 95 % interval is not finite or excludes the value"
LOWER_IS_BETTER = frozenset({"mce", "relative_mce", "relative_corruption_error"})
LEADING = ("clean_acc", "corruption_acc", *CORRUPTION_GROUPS, "mce", "relative_mce", "relative_corruption_error")


def resolve_baseline(requested: str | None, scores: pd.DataFrame) -> str | None:
    """The mCE baseline: ``requested`` (a model in ``scores``), AlexNet for ImageNet, else None."""
    models = list(pd.unique(scores["model"]))
    if requested is not None:
        if requested not in models:
            raise PcbenchError(f"--baseline {requested!r} is not a model in the results: one of {', '.join(models)}")
        return requested
    datasets = set(scores["dataset"].dropna()) if "dataset" in scores.columns else set()
    return aggregates.ALEXNET if datasets == {"imagenet"} else None


def metrics_table(
    scores: pd.DataFrame, outcomes: dict[str, ModelOutcomes], baseline: str | None, bootstrap: Bootstrap
) -> pd.DataFrame:
    """The long leaderboard (columns :data:`COLUMNS`, and :data:`NOTE` when a row has a
    note; documented above).

    ``baseline`` is a model name, :data:`aggregates.ALEXNET` or None (no mCE rows).
    Rows are ordered by model (first appearance in ``scores``), metric, timestep.
    """
    frames = [_accuracy_rows(scores), _best_known_rows(outcomes), _aggregate_rows(outcomes, baseline, bootstrap)]
    table = _checked(pd.concat([frame for frame in frames if not frame.empty], ignore_index=True))
    models = {model: rank for rank, model in enumerate(pd.unique(scores["model"]))}
    threat_models = [name for outcome in outcomes.values() for name in outcome.threat_models]
    names = [*LEADING, *accuracy_columns(scores), *threat_models]
    metrics = {name: rank for rank, name in enumerate(dict.fromkeys(names))}
    ranks = {"model": table["model"].map(models), "metric": table["metric"].map(metrics), "timestep": table["timestep"]}
    columns = COLUMNS + ([NOTE] if (table[NOTE] != "").any() else [])
    return table.iloc[np.lexsort([ranks["timestep"], ranks["metric"], ranks["model"]])][columns].reset_index(drop=True)


def _checked(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` whose every interval contains its value or is absent (both bounds NaN)
    with the reason in :data:`NOTE` (:func:`~pcbench.leaderboards.stats.checked_interval`);
    a value already explained as undefined keeps its note."""
    low, high, kept = checked_interval(table["value"], table["ci_low"], table["ci_high"])
    note = table[NOTE].fillna("").to_numpy(dtype=object)
    missing = table["value"].isna().to_numpy()
    reason = np.where(missing, NO_VALUE, NO_INTERVAL)
    unexplained = ~kept & ~(missing & (note != ""))
    note = np.where(unexplained, np.where(note == "", reason, note + "; " + reason), note)
    return table.assign(ci_low=low, ci_high=high, **{NOTE: note})


def _rows(
    model: str,
    metric: str,
    timesteps: np.ndarray,
    value: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    n: np.ndarray,
    note: str = "",
) -> pd.DataFrame:
    """A block of long rows for one (model, metric)."""
    return pd.DataFrame(
        {
            "model": model,
            "metric": metric,
            "timestep": np.asarray(timesteps, dtype=int),
            "value": value,
            "ci_low": low,
            "ci_high": high,
            "n": np.asarray(n, dtype=int),
            NOTE: note,
        }
    )


def _accuracy_rows(scores: pd.DataFrame) -> pd.DataFrame:
    """Pooled accuracies with Wilson intervals, from the score rows' correct and n."""
    frames = []
    for name, mask in accuracy_columns(scores).items():
        sums = (
            scores.loc[mask, ["model", "timestep", "correct", "n"]]
            .groupby(["model", "timestep"], sort=False)
            .sum()
            .reset_index()
        )
        low, high = wilson_interval(sums["correct"], sums["n"])
        frames.append(sums.assign(metric=name, value=sums["correct"] / sums["n"], ci_low=low, ci_high=high, note=""))
    return pd.concat(frames, ignore_index=True)[[*COLUMNS, NOTE]]


def _best_known_rows(outcomes: dict[str, ModelOutcomes]) -> pd.DataFrame:
    """Per-sample worst case over the attack cells of each threat model, with Wilson intervals."""
    frames = []
    for model, outcome in outcomes.items():
        for metric in outcome.threat_models:
            correct, present = outcome.robust_under(metric)
            if present.any():
                k, n = correct.sum(axis=-1), present.sum(axis=-1)
                frames.append(_rows(model, metric, outcome.timesteps, k / n, *wilson_interval(k, n), n))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)


def _aggregate_rows(outcomes: dict[str, ModelOutcomes], baseline: str | None, bootstrap: Bootstrap) -> pd.DataFrame:
    """Bootstrapped aggregates of every model: point values, percentile intervals, notes."""
    if not outcomes:
        return pd.DataFrame(columns=[*COLUMNS, NOTE])
    samples = len(next(iter(outcomes.values())).sample_ids)
    accuracy = {
        model: aggregates.Estimate(
            o.accuracy(), np.concatenate([o.accuracy(weights) for weights in bootstrap.weights(samples)], axis=-1)
        )
        for model, o in outcomes.items()
    }
    frames = []
    for (model, metric), aggregate in _aggregates(outcomes, accuracy, baseline).items():
        outcome = outcomes[model]
        low, high = Bootstrap.interval(aggregate.replicates)
        corrupted = (outcome.cells["perturbation"] == "corruption").to_numpy()
        n = outcome.present[:, corrupted].any(axis=1).sum(axis=-1)
        frames.append(_rows(model, metric, outcome.timesteps, aggregate.value, low, high, n, aggregate.note))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[*COLUMNS, NOTE])


def _aggregates(
    outcomes: dict[str, ModelOutcomes], accuracy: dict[str, aggregates.Estimate], baseline: str | None
) -> dict[tuple[str, str], aggregates.Aggregate]:
    """(model, metric) -> the aggregate, for every aggregate a model has."""
    if baseline is None:
        reference = None
    elif baseline == aggregates.ALEXNET:
        reference = aggregates.alexnet_reference()
    else:
        reference = aggregates.model_reference(outcomes[baseline], accuracy[baseline])
    values = {}
    for model, outcome in outcomes.items():
        acc = accuracy[model]
        candidates = {name: aggregates.mean_corruption_accuracy(outcome, acc, name) for name in CORRUPTION_GROUPS}
        if reference is not None:
            candidates["mce"] = aggregates.mce(outcome, acc, reference)
            candidates["relative_mce"] = aggregates.relative_mce(outcome, acc, reference)
        candidates["relative_corruption_error"] = aggregates.relative_corruption_error(outcome, acc)
        values.update({(model, name): value for name, value in candidates.items() if value is not None})
    return values
