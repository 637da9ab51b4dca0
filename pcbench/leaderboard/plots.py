"""PNG plots of a leaderboard (matplotlib's Agg renderer, no display needed).

``write_plots`` writes, into ``<leaderboards>/<suite>-plots/``, each plot the results
have data for:

``clean.png``                      clean accuracy vs timestep (Wilson band)
``corruption-families.png``        per family (noise, blur, weather, digital, extra): mean
                                   of the family's per-corruption accuracies vs timestep
``attacks.png``                    one panel per attack and ε: accuracy vs timestep
``severity.png``                   accuracy pooled over corruptions vs severity, at
                                   timestep 0 (dashed) and at the chosen timestep
``heatmap.png``                    model × corruption accuracy at the chosen timestep
``relative-corruption-error.png``  Predify's relative corruption error vs timestep
                                   (bootstrap band; below 1 = the dynamics helped)
``robust-vs-epsilon.png``          one panel per attack: accuracy vs ε at timestep 0
                                   (dashed) and at the chosen timestep

A model stored at timestep 0 only (feedforward) is drawn as a dashed horizontal line in
the plots over timesteps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pcbench.files import atomic_write
from pcbench.leaderboard.board import Leaderboard
from pcbench.leaderboard.families import FAMILIES
from pcbench.perturbations.corruptions import in_corruption_order

DPI = 110


def plots_dir(leaderboards: Path, suite: str) -> Path:
    """``<leaderboards>/<suite>-plots``."""
    return Path(leaderboards) / f"{suite}-plots"


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
    """Per model: its rows of ``metric`` in the long table (timestep, value, ci_low, ci_high)."""
    rows = board.metrics[board.metrics["metric"] == metric]
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
    ax.grid(alpha=0.3)


def _grid(count: int, columns: int = 3) -> tuple[Figure, list[Axes]]:
    """A figure with ``count`` panels in rows of ``columns``; unused panels hidden."""
    rows = math.ceil(count / columns)
    columns = min(columns, count)
    figure = Figure(figsize=(4.2 * columns, 3.2 * rows), layout="constrained")
    axes = list(np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel())
    for ax in axes[count:]:
        ax.set_visible(False)
    return figure, axes[:count]


def clean_plot(board: Leaderboard) -> Figure | None:
    """Clean accuracy vs timestep."""
    rows = _metric(board, "clean_acc")
    if not rows:
        return None
    figure, (ax,) = _grid(1)
    _over_timesteps(ax, board, rows, f"{board.suite}: clean accuracy", "accuracy")
    ax.legend(fontsize="small")
    return figure


def family_plot(board: Leaderboard) -> Figure | None:
    """Mean per-corruption accuracy of each corruption family vs timestep."""
    table = board.metrics
    families = {}
    for family, names in FAMILIES.items():
        rows = table[table["metric"].isin([f"{name}_acc" for name in names])]
        if not rows.empty:
            mean = rows.groupby(["model", "timestep"], sort=False)["value"].mean().reset_index()
            families[family] = {model: g.assign(ci_low=np.nan, ci_high=np.nan) for model, g in mean.groupby("model", sort=False)}
    if not families:
        return None
    figure, axes = _grid(len(families))
    for ax, (family, rows) in zip(axes, families.items()):
        _over_timesteps(ax, board, rows, f"{family} ({len(FAMILIES[family])} corruptions)", "mean accuracy")
    axes[0].legend(fontsize="small")
    return figure


def attack_plot(board: Leaderboard) -> Figure | None:
    """Adversarial accuracy vs timestep, one panel per attack and ε."""
    names = [name for name in pd.unique(board.metrics["metric"]) if "@" in name]
    if not names:
        return None
    figure, axes = _grid(len(names), columns=4)
    for ax, name in zip(axes, names):
        _over_timesteps(ax, board, _metric(board, name), name.removesuffix("_acc"), "accuracy")
    axes[0].legend(fontsize="small")
    return figure


def _scores_at(board: Leaderboard, kind: str) -> list[tuple[str, int, pd.DataFrame, str]]:
    """(model, timestep, its score rows of ``kind``, line style) at timestep 0 and the chosen one."""
    scores = board.results.scores
    scores = scores[scores["perturbation"] == kind]
    lines = []
    for model, rows in scores.groupby("model", sort=False):
        chosen = int(board.selection.chosen[model])
        for timestep, style in ((0, "--"), (chosen, "o-"))[chosen == 0:]:
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
        ax.plot(pooled.index.astype(int), pooled["correct"] / pooled["n"], style, color=colors[model], label=f"{model} t={timestep}")
    ax.set(title=f"{board.suite}: accuracy vs severity", xlabel="severity", ylabel="accuracy (all corruptions)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return figure


def heatmap_plot(board: Leaderboard) -> Figure | None:
    """Model × corruption accuracy at each model's chosen timestep."""
    scores = board.results.scores
    names = in_corruption_order(scores.loc[scores["perturbation"] == "corruption", "corruption"])
    if not names:
        return None
    values = board.metrics.set_index(["model", "timestep", "metric"])["value"]
    models = list(board.selection.chosen.index)
    grid = np.array([[values.get((model, int(board.selection.chosen[model]), f"{name}_acc"), np.nan) for name in names]
                     for model in models], dtype=float)
    figure = Figure(figsize=(0.55 * len(names) + 3, 0.5 * len(models) + 2.2), layout="constrained")
    ax = figure.subplots()
    image = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize="small")
    ax.set_yticks(range(len(models)), [f"{m} t={int(board.selection.chosen[m])}" for m in models], fontsize="small")
    for (row, column), value in np.ndenumerate(grid):
        if np.isfinite(value):
            ax.text(column, row, f"{100 * value:.0f}", ha="center", va="center", fontsize="x-small",
                    color="white" if value < 0.6 else "black")
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
    ax.legend(fontsize="small")
    return figure


def epsilon_plot(board: Leaderboard) -> Figure | None:
    """Adversarial accuracy vs ε per attack, at timestep 0 and the chosen timestep."""
    lines = _scores_at(board, "attack")
    if not lines:
        return None
    attacks = list(pd.unique(board.results.scores.loc[board.results.scores["perturbation"] == "attack", "attack"]))
    colors = _colors(board)
    figure, axes = _grid(len(attacks))
    for ax, attack in zip(axes, attacks):
        for model, timestep, rows, style in lines:
            rows = rows[rows["attack"] == attack].sort_values("epsilon")
            if not rows.empty:
                ax.plot(rows["epsilon"], rows["correct"] / rows["n"], style, color=colors[model], label=f"{model} t={timestep}")
        ax.set(title=attack, xlabel="ε", ylabel="accuracy")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    return figure


PLOTS: dict[str, Callable[[Leaderboard], Figure | None]] = {
    "clean": clean_plot,
    "corruption-families": family_plot,
    "attacks": attack_plot,
    "severity": severity_plot,
    "heatmap": heatmap_plot,
    "relative-corruption-error": relative_error_plot,
    "robust-vs-epsilon": epsilon_plot,
}
