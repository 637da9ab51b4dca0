"""Readable view of the summary at the chosen timestep, for the terminal and the report."""

from __future__ import annotations

import pandas as pd

from pcbench.leaderboards.board import Leaderboard
from pcbench.leaderboards.outcomes import BEST_KNOWN
from pcbench.leaderboards.summary import sort_order, summary_metrics, values_at, variant_deltas

SHORT = {
    "clean_acc": "clean",
    "corruption_acc": "corr",
    "mean_corruption_acc_15": "corr15",
    "mean_corruption_acc_19": "corr19",
    "mce": "mCE",
    "relative_mce": "rel.mCE",
    "relative_corruption_error": "rel.err",
}


def short_name(metric: str) -> str:
    """Column header of a metric: ``clean``, ``corr15``, ``mCE``, ``fgsm@0.01``, ``robust-linf@0.03``..."""
    if metric.startswith(BEST_KNOWN):
        return "robust-" + metric.removeprefix(BEST_KNOWN).removesuffix("_acc")
    return SHORT.get(metric, metric.removesuffix("_acc"))


def format_value(metric: str, value: float, signed: bool = False) -> str:
    """Percent with one decimal (``rel.err``: a ratio with three); ``-`` when missing."""
    if pd.isna(value):
        return "-"
    sign = "+" if signed else ""
    if metric == "relative_corruption_error":
        return f"{value:{sign}.3f}"
    return f"{100 * value:{sign}.1f}"


def summary_view(board: Leaderboard) -> pd.DataFrame:
    """One row per model at its chosen timestep, as strings, sorted by the sort metric.

    Columns: model, ``t``, each summary metric (percent), for dynamic variants the sort
    metric's difference to the base (percentage points) and its McNemar p-value, and the
    masking flags that failed (``-`` none, ``?`` no attack cell to check).
    """
    selection = board.selection
    values = board.metrics.set_index(["model", "timestep", "metric"])["value"].unstack("metric")
    at = values_at(values, selection.chosen)
    names = summary_metrics(board.metrics, selection.sort)
    view = pd.DataFrame({"model": at.index, "t": selection.chosen.reindex(at.index).to_numpy()}, index=at.index)
    for name in names:
        view[short_name(name)] = at[name].map(lambda value, n=name: format_value(n, value))
    models = board.models.set_index("model")
    deltas = variant_deltas(values, board.outcomes, models, selection.chosen, [selection.sort], "chosen")
    view[f"Δ{short_name(selection.sort)}"] = deltas[f"delta_{selection.sort}:chosen"].map(
        lambda value: format_value(selection.sort, value, signed=True)
    )
    view["p"] = deltas[f"p_{selection.sort}:chosen"].map(lambda value: "-" if pd.isna(value) else f"{value:.2g}")
    view["masking"] = _raised_flags(board.flags, selection.chosen)
    return view.loc[sort_order(at[selection.sort], selection.sort)].reset_index(drop=True)


def _raised_flags(flags: pd.DataFrame, timesteps: pd.Series) -> pd.Series:
    """Per model: the failed checks at its timestep (``flag_`` dropped), ``-`` or ``?``."""
    at = values_at(flags.set_index(["model", "timestep"]), timesteps)

    def describe(row: pd.Series) -> str:
        if row.isna().all():
            return "?"
        return (
            ",".join(name.removeprefix("flag_") for name, value in row.items() if not pd.isna(value) and value) or "-"
        )

    return at.apply(describe, axis=1)


def format_summary(board: Leaderboard) -> str:
    """The summary view as an aligned text table with a one-line legend."""
    selection = board.selection
    legend = (
        f"sorted by {selection.sort} at timestep '{board.options.timestep}'; accuracies and mCE in %; "
        f"Δ and p: dynamic variant vs its feedforward base (exact McNemar)"
    )
    return summary_view(board).to_string(index=False) + "\n" + legend
