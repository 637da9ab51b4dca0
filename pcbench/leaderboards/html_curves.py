"""The HTML leaderboard's per-timestep curves: a metric menu over every metric of the long
table (grouped: clean, corruption summaries, single corruptions, attacks, best-known robust),
a view menu (the value with its 95 % interval, or variant − base with the paired interval) and
one inline SVG per choice (:mod:`~pcbench.leaderboards.svg`); the page's script shows one.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import pandas as pd

from pcbench.leaderboards.board import Leaderboard
from pcbench.leaderboards.outcomes import BEST_KNOWN
from pcbench.leaderboards.svg import PALETTE, Line, Point, line_chart
from pcbench.leaderboards.view import format_value, short_name

#: Metrics of the curve menu's "corruption summaries" group, in menu order.
CORRUPTION_SUMMARIES = (
    "corruption_acc",
    "mean_corruption_acc_15",
    "mean_corruption_acc_19",
    "relative_corruption_error",
    "mce",
    "relative_mce",
)
#: Smallest y span of an accuracy curve and of a difference curve, in percentage points.
MIN_ACCURACY_SPAN, MIN_DELTA_SPAN = 10.0, 4.0


def curve_groups(metrics: Sequence[str]) -> dict[str, list[str]]:
    """The metrics of the long table grouped for the curve menu: clean, corruption summaries,
    single corruptions, attacks, best-known robust accuracies (empty groups left out)."""
    groups: dict[str, list[str]] = {
        "clean": [],
        "corruption summaries": [],
        "corruptions": [],
        "attacks": [],
        "best-known robust": [],
    }
    for name in metrics:
        if name == "clean_acc":
            groups["clean"].append(name)
        elif name in CORRUPTION_SUMMARIES:
            groups["corruption summaries"].append(name)
        elif name.startswith(BEST_KNOWN):
            groups["best-known robust"].append(name)
        elif "@" in name:
            groups["attacks"].append(name)
        else:
            groups["corruptions"].append(name)
    return {group: names for group, names in groups.items() if names}


def curves_section(board: Leaderboard, differences: pd.DataFrame) -> str:
    """The curves' heading, metric and view menus and one ``<figure>`` per (metric, view);
    ``differences`` is :func:`~pcbench.leaderboards.differences.variant_differences` of the
    board. The page's script shows the chosen figure (the first metric's values at first).

    Example::

        curves_section(board, variant_differences(board.outcomes, board.models, Bootstrap()))
    """
    groups = curve_groups(list(pd.unique(board.metrics["metric"])))
    first = next(iter(groups.values()))[0]
    menu = "".join(
        f'<optgroup label="{escape(group)}">'
        + "".join(f'<option value="{escape(name)}">{escape(short_name(name))}</option>' for name in names)
        + "</optgroup>"
        for group, names in groups.items()
    )
    colors = {model: PALETTE[index % len(PALETTE)] for index, model in enumerate(board.summary["model"])}
    figures = []
    for names in groups.values():
        for name in names:
            figures.append(_figure(name, "value", first, _value_chart(board.metrics, name, colors)))
            figures.append(_figure(name, "delta", first, _delta_chart(differences, name, colors)))
    return (
        '<h2>Per-timestep curves</h2><div class="controls">'
        f'<label>Metric <select id="metric">{menu}</select></label> '
        '<label>Show <select id="view"><option value="value">value (95 % interval)</option>'
        '<option value="delta">variant − base (paired 95 % interval)</option></select></label></div>'
        + "".join(figures)
        + '<p id="no-curve" hidden>No curve for this choice (differences exist for clean, pooled corruption '
        "and best-known robust accuracy of dynamic variants whose base is in the results).</p>"
    )


def _figure(metric: str, view: str, first: str, chart: str) -> str:
    if not chart:
        return ""
    hidden = "" if (metric, view) == (first, "value") else " hidden"
    return f'<figure class="curve" data-metric="{escape(metric)}" data-view="{view}"{hidden}>{chart}</figure>'


def _value_chart(metrics: pd.DataFrame, metric: str, colors: dict[str, str]) -> str:
    rows = metrics[metrics["metric"] == metric]
    ratio = metric == "relative_corruption_error"
    scale = 1.0 if ratio else 100.0
    lines = [
        Line(
            str(model),
            colors.get(str(model), PALETTE[0]),
            [
                Point(
                    int(r.timestep),
                    scale * r.value,
                    scale * r.ci_low,
                    scale * r.ci_high,
                    f"{model}, t={r.timestep}: {format_value(metric, r.value)} "
                    f"[{format_value(metric, r.ci_low)}, {format_value(metric, r.ci_high)}], n={r.n}",
                )
                for r in group.sort_values("timestep").itertuples()
            ],
            constant=group["timestep"].nunique() == 1,
        )
        for model, group in rows.groupby("model", sort=False)
    ]
    return line_chart(
        lines,
        title=f"{short_name(metric)} vs timestep",
        y_label="ratio" if ratio else "%",
        min_span=0.0 if ratio else MIN_ACCURACY_SPAN,
    )


def _delta_chart(differences: pd.DataFrame, metric: str, colors: dict[str, str]) -> str:
    rows = differences[differences["metric"] == metric]
    lines = [
        Line(
            f"{model} − {base}",
            colors.get(str(model), PALETTE[0]),
            [
                Point(
                    int(r.timestep),
                    100 * r.delta,
                    100 * r.ci_low,
                    100 * r.ci_high,
                    f"{model} − {base}, t={r.timestep}: {format_value(metric, r.delta, signed=True)} "
                    f"[{format_value(metric, r.ci_low, signed=True)}, "
                    f"{format_value(metric, r.ci_high, signed=True)}], n={r.n}",
                )
                for r in group.sort_values("timestep").itertuples()
            ],
        )
        for (model, base), group in rows.groupby(["model", "base"], sort=False)
    ]
    return line_chart(
        lines,
        title=f"{short_name(metric)}: variant − base",
        y_label="percentage points",
        min_span=MIN_DELTA_SPAN,
        zero_line=True,
    )
