"""PNG plots of a leaderboard (matplotlib's Agg renderer, no display needed).

``write_plots`` writes, into ``<leaderboards>/<suite>-plots/``, each plot the results
have data for:

``clean.png``                      clean accuracy vs timestep (Wilson band)
``corruption-families.png``        per family (noise, blur, weather, digital, extra): the
                                   accuracy pooled over the family's stored cells vs
                                   timestep (Wilson band); titles count what was evaluated
``attacks.png``                    one panel per attack and ε: accuracy vs timestep
``variant-vs-base.png``            per dynamic variant (PC, recurrent): variant − base per timestep with a paired
                                   95 % bootstrap band, for clean, corruption and each
                                   threat model (:mod:`pcbench.leaderboards.differences`)
``severity.png``                   accuracy pooled over corruptions vs severity, at
                                   timestep 0 (dashed) and at the chosen timestep
``heatmap.png``                    model × corruption accuracy at the chosen timestep
``relative-corruption-error.png``  Predify's relative corruption error vs timestep
                                   (bootstrap band; below 1 = the dynamics helped)
``robust-vs-epsilon.png``          one panel per attack: accuracy vs ε at timestep 0
                                   (dashed) and at the chosen timestep
``attack-readout.png``             one heatmap per model, threat and ε: accuracy of the
                                   images attacked at each timestep (rows; ``first``,
                                   ``last``, ``mean``, ``sum``: one row each) read at each
                                   timestep (columns) (:mod:`pcbench.leaderboards.readout`)

A model stored at timestep 0 only (feedforward) is drawn as a dashed horizontal line in
the plots over timesteps. Panels of one figure share their y-axis, and every accuracy axis
(and the relative error's) spans at least :data:`MIN_ACCURACY_SPAN` (a difference's axis
:data:`MIN_DELTA_SPAN`), so a change of a sample or two never fills a panel as if it were a
collapse.

Layout: the legend of a figure is one figure legend below the panels, so it never covers a
curve or a band; ``variant-vs-base.png`` names each variant − base pair once,
above its row of panels, and titles each panel with the metric only; timestep and severity
axes get integer ticks, and a panel with a single ε gets one tick, at that ε.
``tests/test_plots_layout.py`` checks the rendered layout: no two texts (titles, axis and
tick labels, legends) overlap, no legend covers a panel, the minimum spans hold.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from pcbench.files import atomic_write, inside
from pcbench.leaderboards.board import Leaderboard
from pcbench.leaderboards.differences import variant_differences
from pcbench.leaderboards.families import FAMILIES
from pcbench.leaderboards.readout import panels
from pcbench.leaderboards.stats import wilson_interval
from pcbench.leaderboards.view import short_name
from pcbench.perturbations.corruptions import in_corruption_order

DPI = 110
#: Smallest y-range of an accuracy panel (fraction) and of a difference panel (points).
MIN_ACCURACY_SPAN = 0.1
MIN_DELTA_SPAN = 4.0
#: Entries per row of a figure legend.
LEGEND_COLUMNS = 3


def plots_dir(leaderboards: Path, suite: str) -> Path:
    """``<leaderboards>/<suite>-plots``."""
    return inside(leaderboards, f"{suite}-plots")


def write_plots(board: Leaderboard, directory: Path) -> list[Path]:
    """Write every plot that has data into ``directory``; return the paths written."""
    written = []
    for name, draw in PLOTS.items():
        figure = draw(board)
        if figure is None:
            continue
        path = Path(directory) / f"{name}.png"
        atomic_write(path, lambda handle, f=figure: f.savefig(handle, format="png", dpi=DPI, bbox_inches="tight"))
        written.append(path)
    return written


def _colors(board: Leaderboard) -> dict[str, str]:
    """One colour per model, stable across plots."""
    return {model: f"C{index % 10}" for index, model in enumerate(board.models["model"])}


def _metric(board: Leaderboard, metric: str) -> dict[str, pd.DataFrame]:
    """Per model: its rows of ``metric`` in the long table (timestep, value, ci_low, ci_high),
    without rows whose value is undefined (see the table's ``note``); models with none left out."""
    rows = board.metrics[(board.metrics["metric"] == metric) & board.metrics["value"].notna()]
    return {model: group for model, group in rows.groupby("model", sort=False)}


def _over_timesteps(ax: Axes, board: Leaderboard, rows: dict[str, pd.DataFrame], title: str, ylabel: str) -> None:
    """Value vs timestep per model, with its interval as a band."""
    colors = _colors(board)
    end = max(int(board.metrics["timestep"].max()), 1)
    for model, group in rows.items():
        x, low, high = group["timestep"].to_numpy(), group["ci_low"].to_numpy(), group["ci_high"].to_numpy()
        value = group["value"].to_numpy()
        if len(x) == 1:
            x, value, low, high = np.array([0, end]), np.repeat(value, 2), np.repeat(low, 2), np.repeat(high, 2)
            ax.plot(x, value, "--", color=colors[model], label=model)
        else:
            ax.plot(x, value, "o-", markersize=3, color=colors[model], label=model)
        if np.isfinite(low).any():
            ax.fill_between(x, low, high, color=colors[model], alpha=0.15, linewidth=0)
    ax.set(title=title, xlabel="timestep", ylabel=ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)


def _legend(figure: Figure, axes: list[Axes]) -> None:
    """One legend for the whole figure, below the panels (constrained layout keeps it clear
    of them and of every label), so that it never covers data; entries are the labelled
    lines of every panel, each label once, in rows of at most :data:`LEGEND_COLUMNS`."""
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    columns = min(len(entries), LEGEND_COLUMNS)
    figure.legend(list(entries.values()), list(entries), loc="outside lower center", ncols=columns, fontsize="small")


def _grid(count: int, columns: int = 3) -> tuple[Figure, list[Axes]]:
    """A figure with ``count`` panels in rows of ``columns`` sharing one y-axis; unused
    panels hidden."""
    rows = math.ceil(count / columns)
    columns = min(columns, count)
    figure = Figure(figsize=(4.2 * columns, 3.2 * rows), layout="constrained")
    axes = list(np.atleast_1d(figure.subplots(rows, columns, squeeze=False, sharey=True)).ravel())
    for ax in axes[count:]:
        ax.set_visible(False)
    for ax in axes[:count]:
        ax.yaxis.set_tick_params(labelleft=True)
    return figure, axes[:count]


def _widen(axes: list[Axes], minimum: float, bounds: tuple[float, float] | None = (0.0, 1.0)) -> None:
    """Give the (shared) y-axis at least ``minimum`` span around its data, within ``bounds``."""
    low, high = axes[0].get_ylim()
    if high - low >= minimum:
        return
    middle = (low + high) / 2
    low, high = middle - minimum / 2, middle + minimum / 2
    if bounds is not None:
        shift = max(bounds[0] - low, 0.0) - max(high - bounds[1], 0.0)
        low, high = low + shift, high + shift
    axes[0].set_ylim(low, high)


def clean_plot(board: Leaderboard) -> Figure | None:
    """Clean accuracy vs timestep."""
    rows = _metric(board, "clean_acc")
    if not rows:
        return None
    figure, (ax,) = _grid(1)
    n = int(board.metrics.loc[board.metrics["metric"] == "clean_acc", "n"].max())
    _over_timesteps(ax, board, rows, f"{board.suite}: clean accuracy ({n} samples)", "accuracy")
    _widen([ax], MIN_ACCURACY_SPAN)
    _legend(figure, [ax])
    return figure


def family_plot(board: Leaderboard) -> Figure | None:
    """Accuracy pooled over each corruption family's stored cells vs timestep."""
    scores = board.results.scores
    corrupted = scores[scores["perturbation"] == "corruption"]
    families = {}
    for family, names in FAMILIES.items():
        rows = corrupted[corrupted["corruption"].isin(names)]
        if rows.empty:
            continue
        pooled = rows.groupby(["model", "timestep"], sort=False)[["correct", "n"]].sum().reset_index()
        low, high = wilson_interval(pooled["correct"], pooled["n"])
        pooled = pooled.assign(value=pooled["correct"] / pooled["n"], ci_low=low, ci_high=high)
        count = f"{rows['corruption'].nunique()} of {len(names)} corruptions × {rows['severity'].nunique()} severities"
        families[f"{family} ({count})"] = {model: group for model, group in pooled.groupby("model", sort=False)}
    if not families:
        return None
    figure, axes = _grid(len(families))
    for ax, (title, rows) in zip(axes, families.items(), strict=True):
        _over_timesteps(ax, board, rows, title, "accuracy (pooled)")
    _widen(axes, MIN_ACCURACY_SPAN)
    _legend(figure, axes)
    return figure


def attack_plot(board: Leaderboard) -> Figure | None:
    """Adversarial accuracy vs timestep, one panel per attack and ε."""
    names = [name for name in pd.unique(board.metrics["metric"]) if "@" in name]
    if not names:
        return None
    figure, axes = _grid(len(names), columns=4)
    for ax, name in zip(axes, names, strict=True):
        rows = _metric(board, name)
        n = max(int(group["n"].max()) for group in rows.values())
        _over_timesteps(ax, board, rows, f"{short_name(name)} ({n} samples)", "accuracy")
    _widen(axes, MIN_ACCURACY_SPAN)
    _legend(figure, axes)
    return figure


def variant_vs_base_plot(board: Leaderboard) -> Figure | None:
    """Per dynamic variant (one row of panels each, titled ``variant − base``): variant − base
    per timestep with its paired band; every panel shares one y-axis."""
    table = variant_differences(board.outcomes, board.models, board.options.bootstrap)
    if table.empty:
        return None
    pairs = list(table[["model", "base"]].drop_duplicates().itertuples(index=False))
    metrics = list(pd.unique(table["metric"]))
    figure = Figure(figsize=(3.6 * len(metrics), 3.3 * len(pairs)), layout="constrained")
    colors = _colors(board)
    axes: list[Axes] = []
    for row, (model, base) in zip(figure.subfigures(len(pairs), 1, squeeze=False)[:, 0], pairs, strict=True):
        row.suptitle(f"{model} − {base}")
        for column, metric in enumerate(metrics):
            ax = row.add_subplot(1, len(metrics), column + 1, sharey=axes[0] if axes else None)
            axes.append(ax)
            rows = table[(table["model"] == model) & (table["metric"] == metric)]
            ax.axhline(0.0, color="grey", linewidth=0.8)
            if not rows.empty:
                x = rows["timestep"].to_numpy()
                ax.plot(x, 100 * rows["delta"], "o-", markersize=3, color=colors[model])
                ax.fill_between(
                    x, 100 * rows["ci_low"], 100 * rows["ci_high"], color=colors[model], alpha=0.2, linewidth=0
                )
            ax.set(
                title=short_name(metric) + _evaluated(board, metric), xlabel="timestep", ylabel="Δ accuracy (points)"
            )
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.yaxis.set_tick_params(labelleft=True)
            ax.grid(alpha=0.3)
    _widen(axes, MIN_DELTA_SPAN, bounds=None)
    return figure


def _evaluated(board: Leaderboard, metric: str) -> str:
    """What a difference panel pools, e.g. `` (360 samples)`` or `` (3 corruptions × 5 severities)``."""
    scores = board.results.scores
    if metric == "corruption_acc":
        corrupted = scores[scores["perturbation"] == "corruption"]
        return f"\n({corrupted['corruption'].nunique()} corruptions × {corrupted['severity'].nunique()} severities)"
    return f"\n({int(scores['n'].max())} samples)"


def _scores_at(board: Leaderboard, kind: str) -> list[tuple[str, int, pd.DataFrame, str]]:
    """(model, timestep, its score rows of ``kind``, line style) at timestep 0 and the chosen one."""
    scores = board.results.scores
    scores = scores[scores["perturbation"] == kind]
    lines = []
    for model, rows in scores.groupby("model", sort=False):
        chosen = int(board.selection.chosen[model])
        for timestep, style in ((0, "--"), (chosen, "o-"))[chosen == 0 :]:
            lines.append((model, timestep, rows[rows["timestep"] == timestep], style))
    return lines


def severity_plot(board: Leaderboard) -> Figure | None:
    """Accuracy pooled over corruptions vs severity, at timestep 0 and the chosen timestep."""
    lines = _scores_at(board, "corruption")
    if not lines:
        return None
    colors = _colors(board)
    figure, (ax,) = _grid(1)
    for model, timestep, rows, style in lines:
        pooled = rows.groupby("severity")[["correct", "n"]].sum()
        ax.plot(
            pooled.index.astype(int),
            pooled["correct"] / pooled["n"],
            style,
            color=colors[model],
            label=f"{model} t={timestep}",
        )
    ax.set(title=f"{board.suite}: accuracy vs severity", xlabel="severity", ylabel="accuracy (all corruptions)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    _widen([ax], MIN_ACCURACY_SPAN)
    _legend(figure, [ax])
    return figure


def heatmap_plot(board: Leaderboard) -> Figure | None:
    """Model × corruption accuracy at each model's chosen timestep."""
    scores = board.results.scores
    names = in_corruption_order(scores.loc[scores["perturbation"] == "corruption", "corruption"])
    if not names:
        return None
    values = board.metrics.set_index(["model", "timestep", "metric"])["value"]
    models = list(board.selection.chosen.index)
    grid = np.array(
        [
            [values.get((model, int(board.selection.chosen[model]), f"{name}_acc"), np.nan) for name in names]
            for model in models
        ],
        dtype=float,
    )
    figure = Figure(figsize=(0.55 * len(names) + 3, 0.5 * len(models) + 2.2), layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(names)), names, rotation=90, fontsize="small")  # upright boxes never touch
    ax.set_yticks(range(len(models)), [f"{m} t={int(board.selection.chosen[m])}" for m in models], fontsize="small")
    for (row, column), value in np.ndenumerate(grid):
        if np.isfinite(value):
            ax.text(
                column,
                row,
                f"{100 * value:.0f}",
                ha="center",
                va="center",
                fontsize="x-small",
                color="white" if value < 0.6 else "black",
            )
    ax.set_title(f"{board.suite}: accuracy per corruption (timestep: {board.options.timestep})")
    figure.colorbar(image, ax=ax, label="accuracy")
    return figure


def relative_error_plot(board: Leaderboard) -> Figure | None:
    """Predify's relative corruption error vs timestep (bootstrap band)."""
    rows = _metric(board, "relative_corruption_error")
    if not rows:
        return None
    figure, (ax,) = _grid(1)
    _over_timesteps(ax, board, rows, f"{board.suite}: relative corruption error", "error / error at timestep 0")
    ax.axhline(1.0, color="grey", linewidth=0.8)
    _widen([ax], MIN_ACCURACY_SPAN, bounds=None)
    _legend(figure, [ax])
    return figure


def epsilon_plot(board: Leaderboard) -> Figure | None:
    """Adversarial accuracy vs ε per attack, at timestep 0 and the chosen timestep.

    A panel whose attack was run at one ε only gets a single tick, at that ε, in the
    middle of an axis from ε/2 to 3ε/2 (±0.5 for ε = 0); automatic ticks would read
    0.0285 … 0.0315."""
    lines = _scores_at(board, "attack")
    if not lines:
        return None
    attacks = list(pd.unique(board.results.scores.loc[board.results.scores["perturbation"] == "attack", "attack"]))
    colors = _colors(board)
    figure, axes = _grid(len(attacks))
    for ax, attack in zip(axes, attacks, strict=True):
        epsilons = set()
        for model, timestep, rows, style in lines:
            rows = rows[rows["attack"] == attack].sort_values("epsilon")
            if not rows.empty:
                epsilons.update(rows["epsilon"].astype(float))
                ax.plot(
                    rows["epsilon"],
                    rows["correct"] / rows["n"],
                    style,
                    color=colors[model],
                    label=f"{model} t={timestep}",
                )
        if len(epsilons) == 1:
            (epsilon,) = epsilons
            ax.set_xticks([epsilon], [f"{epsilon:g}"])
            half = epsilon / 2 if epsilon > 0 else 0.5
            ax.set_xlim(epsilon - half, epsilon + half)
        ax.set(title=attack, xlabel="ε", ylabel="accuracy")
        ax.grid(alpha=0.3)
    _widen(axes, MIN_ACCURACY_SPAN)
    _legend(figure, axes)
    return figure


#: Heatmap panels of ``attack-readout.png`` per row of the figure, and inches per grid cell.
READOUT_COLUMNS = 3
READOUT_CELL_INCHES = 0.34


def attack_readout_plot(board: Leaderboard) -> Figure | None:
    """The attack × read-out matrix: one heatmap per model, threat and ε (rows: attacked at;
    columns: read out; accuracy in % written in each evaluated cell), one colour scale."""
    found = panels(board.attack_readout)
    if not found:
        return None
    columns = min(READOUT_COLUMNS, len(found))
    rows = math.ceil(len(found) / columns)
    width = max(max(len(panel.readouts) for panel in found) * READOUT_CELL_INCHES + 1.6, 3.0)
    height = max(max(len(panel.rows) for panel in found) * READOUT_CELL_INCHES + 1.4, 2.0)
    figure = Figure(figsize=(width * columns + 1.0, height * rows), layout="constrained")
    axes = list(figure.subplots(rows, columns, squeeze=False).ravel())
    for ax in axes[len(found) :]:
        ax.set_visible(False)
    image = None
    for ax, panel in zip(axes, found, strict=False):
        image = ax.imshow(panel.accuracy, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(panel.readouts)), [str(t) for t in panel.readouts], fontsize="small")
        ax.set_yticks(range(len(panel.rows)), panel.rows, fontsize="small")
        for (row, column), value in np.ndenumerate(panel.accuracy):
            if np.isfinite(value):
                color = "white" if value < 0.6 else "black"
                ax.text(column, row, f"{100 * value:.0f}", ha="center", va="center", fontsize="x-small", color=color)
        ax.set(title=f"{panel.model}\n{panel.threat}@{panel.epsilon:g}", xlabel="read out at", ylabel="attacked at")
    assert image is not None
    figure.colorbar(image, ax=axes[: len(found)], label="accuracy")
    return figure


PLOTS: dict[str, Callable[[Leaderboard], Figure | None]] = {
    "clean": clean_plot,
    "corruption-families": family_plot,
    "attacks": attack_plot,
    "variant-vs-base": variant_vs_base_plot,
    "severity": severity_plot,
    "heatmap": heatmap_plot,
    "relative-corruption-error": relative_error_plot,
    "robust-vs-epsilon": epsilon_plot,
    "attack-readout": attack_readout_plot,
}
