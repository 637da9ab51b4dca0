"""Summary ``<suite>-summary.csv``: one row per model, headline metrics at three timesteps.

Columns
-------
``model``, ``variant``, ``base``
    The model, ``feedforward``, ``pc`` or ``recurrent``, and a dynamic variant's feedforward base.
``autoattack_warnings``
    Only when AutoAttack cells are stored: the distinct warnings of AutoAttack's own checks
    (e.g. that the model looks like a dynamic defense) over the model's cells, ``" | "``-joined.
``stochastic``
    Only when some model is stochastic (its outputs differ between two forwards of the same
    batch, :mod:`pcbench.runner.stochastic`): whether the model is; its accuracies are then
    means over the suite's ``draws`` and its best-known robust accuracies count a sample
    only if it survives every draw.
``last_timestep``, ``best_timestep``
    The model's last stored timestep, and the timestep with the best value of the sort
    metric (highest accuracy; lowest ``mce``, ``relative_mce``,
    ``relative_corruption_error``; ties go to the earliest timestep; the last timestep
    when the model has no value of the sort metric).
``<metric>:t0``, ``<metric>:last``, ``<metric>:best``
    The metric (as in ``<suite>.csv``, whose ``note`` says when a ratio metric leaves
    corruptions out or is undefined) at timestep 0, the last and the best timestep, for
    ``clean_acc``, ``corruption_acc``, ``mean_corruption_acc_15``, ``mean_corruption_acc_19``,
    ``relative_corruption_error``, ``mce``, ``relative_mce``, each ``<attack>@<ε>_acc``, each
    ``best_known_<norm>@<ε>_acc`` and the sort metric, where the leaderboard has them.
``flag_<check>:t0|last|best``
    Gradient-masking self-checks (:mod:`pcbench.leaderboards.masking`): True = the check
    failed; empty where the model has no attack cell to check.
``decisive_attack_<norm>@<ε>:t0|last|best``, ``decisive_samples_<norm>@<ε>:t0|last|best``
    Per threat model: the attack that alone broke the most samples (samples misclassified
    by that attack and by no other of the threat model; empty when there is none) and how
    many, i.e. what the best-known robust accuracy would gain without it
    (:meth:`ModelOutcomes.decisive_attack`). Tells whether PGD, APGD-T or only the
    gradient-free Square breaks a model.
``delta_<metric>:t0|last|best``, ``p_<metric>:t0|last|best``
    Dynamic variants (PC, recurrent) whose base is in the results: the metric minus the base's at the base's
    last timestep, and the two-sided exact McNemar p-value on the per-sample predictions
    of the same sample ids (for the mean corruption accuracies: pooled over the
    (corruption, severity, sample) pairs, which are not independent, so read it as a
    rough guide). ``mce``, ``relative_mce`` and ``relative_corruption_error`` get a delta
    but no p-value.

Rows are sorted by the sort metric at the chosen timestep (best first, missing last).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
import pandas as pd

from pcbench.errors import PcbenchError
from pcbench.leaderboards.metrics import LOWER_IS_BETTER
from pcbench.leaderboards.outcomes import BEST_KNOWN, CORRUPTION_GROUPS, ModelOutcomes
from pcbench.leaderboards.paired import is_paired_variant, mcnemar_test

AT = ("t0", "last", "best")
#: Headline metrics of the summary, where present. ``corruption_acc`` (pooled) and
#: ``relative_corruption_error`` exist for any stored subset of corruptions, so a suite with
#: three corruptions still shows corruption rows; the means over 15 / 19 need every one.
SUMMARY_HEADLINE = (
    "clean_acc",
    "corruption_acc",
    *CORRUPTION_GROUPS,
    "relative_corruption_error",
    "mce",
    "relative_mce",
)
#: The named choices of ``--timestep`` (besides a timestep number).
TimestepChoice = Literal["last", "best"]
CHOICES: tuple[TimestepChoice, ...] = get_args(TimestepChoice)


def parse_timestep(text: str) -> str | int:
    """``last``, ``best`` or a timestep number ≥ 0, as given to ``--timestep``."""
    if text in CHOICES:
        return text
    if text.isdigit():
        return int(text)
    raise PcbenchError(f"--timestep {text!r} is not allowed: last, best or a timestep number ≥ 0")


@dataclass(frozen=True)
class Selection:
    """Per model (index): the last, best and chosen timestep, and the sort metric."""

    sort: str
    last: pd.Series
    best: pd.Series
    chosen: pd.Series

    def at(self, where: str) -> pd.Series:
        """Timesteps for ``t0``, ``last`` or ``best``."""
        return {"t0": pd.Series(0, index=self.last.index), "last": self.last, "best": self.best}[where]


def select_timesteps(metrics: pd.DataFrame, sort: str | None, choice: str | int) -> Selection:
    """Resolve last/best/chosen timesteps per model.

    ``sort`` None means ``clean_acc``, or the first metric when there is no clean cell.
    PcbenchError for an unknown ``sort`` or a timestep a recurrent model lacks (a model
    with only timestep 0 uses 0).
    """
    known = list(pd.unique(metrics["metric"]))
    if sort is None:
        sort = "clean_acc" if "clean_acc" in known else known[0]
    if sort not in known:
        raise PcbenchError(f"--sort {sort!r} is not a metric of this leaderboard: one of {', '.join(known)}")
    stored = metrics.groupby("model", sort=False)["timestep"].unique().map(sorted)
    last = stored.map(max)
    rows = metrics[(metrics["metric"] == sort) & metrics["value"].notna()]
    sign = 1 if sort in LOWER_IS_BETTER else -1
    ordered = rows.assign(key=sign * rows["value"]).sort_values(["key", "timestep"], kind="stable")
    best = ordered.drop_duplicates("model").set_index("model")["timestep"].reindex(last.index).fillna(last).astype(int)
    if choice in CHOICES:
        chosen = last if choice == "last" else best
    else:
        chosen = stored.map(lambda steps: _fixed(steps, choice))
        lacking = chosen[chosen.isna()]
        if not lacking.empty:
            model = lacking.index[0]
            raise PcbenchError(
                f"--timestep {choice} is not stored for model {model!r}: one of last, best, "
                f"{', '.join(map(str, stored[model]))}"
            )
        chosen = chosen.astype(int)
    return Selection(sort, last, best, chosen)


def _fixed(stored: list[int], timestep: int) -> int | None:
    """``timestep`` when stored; 0 for a model with timestep 0 only; else None."""
    if timestep in stored:
        return timestep
    return 0 if stored == [0] else None


def values_at(table: pd.DataFrame, timesteps: pd.Series) -> pd.DataFrame:
    """Rows of a (model, timestep)-indexed ``table`` at each model's timestep, indexed by model."""
    index = pd.MultiIndex.from_arrays([timesteps.index, timesteps.to_numpy()], names=["model", "timestep"])
    return table.reindex(index).droplevel("timestep")


def summary_metrics(metrics: pd.DataFrame, sort: str) -> list[str]:
    """Metrics shown in the summary, in column order (see module docstring)."""
    present = list(pd.unique(metrics["metric"]))
    names = [name for name in SUMMARY_HEADLINE if name in present]
    names += [name for name in present if "@" in name]  # attacks, then best-known robust accuracies
    return names + ([sort] if sort not in names else [])


def summary_table(
    metrics: pd.DataFrame,
    flags: pd.DataFrame,
    outcomes: dict[str, ModelOutcomes],
    models: pd.DataFrame,
    selection: Selection,
) -> pd.DataFrame:
    """The summary (module docstring). ``models`` has columns model, variant, base (and
    autoattack_warnings where AutoAttack cells are stored)."""
    values = metrics.set_index(["model", "timestep", "metric"])["value"].unstack("metric")
    flag_table = flags.set_index(["model", "timestep"])
    names = summary_metrics(metrics, selection.sort)
    table = models.set_index("model").reindex(selection.last.index)
    table["last_timestep"], table["best_timestep"] = selection.last, selection.best
    columns = {}
    for where in AT:
        at = values_at(values, selection.at(where))
        columns.update({f"{name}:{where}": at[name] for name in names})
    for where in AT:
        at = values_at(flag_table, selection.at(where))
        columns.update({f"{flag}:{where}": at[flag] for flag in flag_table.columns})
    for where in AT:
        columns.update(decisive_attacks(outcomes, selection.at(where), where))
    for where in AT:
        columns.update(variant_deltas(values, outcomes, table, selection.at(where), names, where))
    table = pd.concat([table, pd.DataFrame(columns, index=table.index)], axis=1)
    order = sort_order(values_at(values, selection.chosen)[selection.sort], selection.sort)
    return table.loc[order].reset_index()


def decisive_attacks(outcomes: dict[str, ModelOutcomes], timesteps: pd.Series, where: str) -> dict[str, pd.Series]:
    """``decisive_attack_<threat>:<where>`` and ``decisive_samples_<threat>:<where>`` columns,
    indexed like ``timesteps`` (a model's timestep); empty where a model lacks the threat
    model or the timestep."""
    columns: dict[str, pd.Series] = {}
    for model, outcome in outcomes.items():
        if model not in timesteps.index:
            continue
        for metric in outcome.threat_models:
            try:
                attack, samples = outcome.decisive_attack(metric, int(timesteps[model]))
            except KeyError:  # timestep 0 of a suite whose timesteps start later
                continue
            threat = metric.removeprefix(BEST_KNOWN).removesuffix("_acc")
            names = columns.setdefault(
                f"decisive_attack_{threat}:{where}", pd.Series(None, index=timesteps.index, dtype=object)
            )
            counts = columns.setdefault(
                f"decisive_samples_{threat}:{where}", pd.Series(pd.NA, index=timesteps.index, dtype="Int64")
            )
            names[model], counts[model] = attack, samples
    return columns


def sort_order(values: pd.Series, metric: str) -> list[str]:
    """Models, best value of ``metric`` first, missing values last, ties in given order."""
    key = values if metric in LOWER_IS_BETTER else -values
    return list(key.sort_values(kind="stable", na_position="last").index)


def variant_deltas(
    values: pd.DataFrame,
    outcomes: dict[str, ModelOutcomes],
    models: pd.DataFrame,
    timesteps: pd.Series,
    names: list[str],
    where: str,
) -> dict[str, pd.Series]:
    """``delta_<metric>:<where>`` and ``p_<metric>:<where>`` columns for dynamic variants (PC,
    recurrent) with a stored base."""
    deltas = {
        f"{prefix}_{name}:{where}": pd.Series(np.nan, index=models.index) for name in names for prefix in ("delta", "p")
    }
    last = values.reset_index().groupby("model")["timestep"].max()
    for model, base in models.loc[is_paired_variant(models["variant"], models["base"]), "base"].items():
        if base not in outcomes:
            continue
        t, t_base = int(timesteps[model]), int(last[base])
        if (model, t) not in values.index:  # timestep 0 of a suite whose timesteps start later
            continue
        for name in names:
            deltas[f"delta_{name}:{where}"][model] = values.loc[(model, t), name] - values.loc[(base, t_base), name]
            test = mcnemar_test(outcomes[model], t, outcomes[base], t_base, name)
            deltas[f"p_{name}:{where}"][model] = np.nan if test is None else test.p_value
    return deltas
