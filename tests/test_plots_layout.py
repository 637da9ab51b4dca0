"""The rendered layout of every plot: nothing a reader trips over.

Each figure is drawn with the Agg renderer and its texts are measured in pixels: no two
texts (titles, axis and tick labels, legends) overlap, no legend covers a panel or a data
point, every accuracy axis spans at least :data:`MIN_ACCURACY_SPAN` (differences
:data:`MIN_DELTA_SPAN`), and a panel with one ε has one tick, at that ε.

The boards are the synthetic scenario of ``test_compare`` with the model names of the
committed ``quick`` example (long enough for titles to collide), plus a scenario whose
accuracies barely move (which autoscaling would blow up to fill a panel).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox
from test_compare import COMMON_CORRUPTIONS, Outcomes, first, results, scenario

from pcbench.leaderboards.board import CompareOptions, Leaderboard, build_leaderboard
from pcbench.leaderboards.merge import Results
from pcbench.leaderboards.plots import MIN_ACCURACY_SPAN, MIN_DELTA_SPAN, PLOTS

NAMES = {"ff": "digits-cnn", "pc": "digits-pcnn"}
#: Plots whose y-axis is an accuracy (fraction), and the smallest span each must show.
SPANS = {
    "clean": MIN_ACCURACY_SPAN,
    "corruption-families": MIN_ACCURACY_SPAN,
    "attacks": MIN_ACCURACY_SPAN,
    "severity": MIN_ACCURACY_SPAN,
    "robust-vs-epsilon": MIN_ACCURACY_SPAN,
    "relative-corruption-error": MIN_ACCURACY_SPAN,
    "variant-vs-base": MIN_DELTA_SPAN,
}
#: More than one pixel in both directions counts as an overlap (anti-aliasing aside).
TOLERANCE_PX = 1.0


def renamed(outcomes: Outcomes) -> Results:
    """``results(outcomes)`` with ff and pc named as the committed example's models."""
    base = results(outcomes)
    scores = base.scores.replace({"model": NAMES, "base": NAMES})
    predictions = base.predictions.replace({"model": NAMES})
    return Results(base.suite, base.directories, scores, predictions)


def quick_like() -> Outcomes:
    """The scenario plus pgd-linf at ε 0.02, 0.05 and 0.5 (four threat models, as in quick)."""
    outcomes = scenario()
    for model, timesteps in (("ff", 1), ("pc", 3)):
        for t in range(timesteps):
            outcomes[model, "pgd-linf@0.02", t] = first(9)
            outcomes[model, "pgd-linf@0.05", t] = first(7 + (t == 1))
            outcomes[model, "pgd-linf@0.5", t] = set()
    return outcomes


def flat() -> Outcomes:
    """Accuracies that barely move, equal at timesteps 0 and 1: clean 9/10, the 3 noise
    corruptions at severities 1-3 (pooled over them 29/30, 27/30, 27/30), fgsm@0.03 7/10."""
    outcomes: Outcomes = {}
    for model, timesteps in (("ff", 1), ("pc", 2)):
        for t in range(timesteps):
            outcomes[model, "clean", t] = first(9)
            for name in COMMON_CORRUPTIONS[:3]:
                for severity in (1, 2, 3):
                    outcomes[model, f"{name}/{severity}", t] = first(
                        10 if severity == 1 and name != "shot_noise" else 9
                    )
            outcomes[model, "fgsm@0.03", t] = first(7)
    return outcomes


BOARDS = {
    "quick-like": lambda: build_leaderboard(renamed(quick_like()), CompareOptions(timestep="last")),
    "flat": lambda: build_leaderboard(renamed(flat()), CompareOptions(timestep="last")),
}


@pytest.fixture(scope="module", params=list(BOARDS))
def board(request) -> Leaderboard:
    return BOARDS[request.param]()


def drawn(figure: Figure) -> Figure:
    """``figure`` laid out and rendered by Agg (constrained layout runs at draw time)."""
    FigureCanvasAgg(figure).draw()
    return figure


def panels(figure: Figure) -> list[Axes]:
    """Visible axes of the figure, its subfigures' included (and colour bars)."""
    return [ax for ax in figure.get_axes() if ax.get_visible()]


def legends(figure: Figure) -> list:
    """Figure legends and axes legends."""
    found = list(figure.legends)
    found += [ax.get_legend() for ax in panels(figure) if ax.get_legend() is not None]
    return found


def tick_labels(ax: Axes, axis: str) -> list[Text]:
    """The tick labels of ``ax``'s x or y axis that are drawn: labelled ticks inside the view
    (the locator also places ticks just outside it, which are not drawn)."""
    which = ax.xaxis if axis == "x" else ax.yaxis
    low, high = sorted(which.get_view_interval())
    coordinate = 0 if axis == "x" else 1
    return [
        label
        for label in which.get_ticklabels()
        if label.get_text() and low - 1e-12 <= label.get_position()[coordinate] <= high + 1e-12
    ]


def text_boxes(figure: Figure) -> list[tuple[str, Bbox]]:
    """(label, pixel box) of every drawn text; each legend counts as one box."""
    found = legends(figure)
    in_legends = {id(t) for legend in found for t in legend.findobj(Text)}
    in_axes = {id(t) for ax in figure.get_axes() for t in ax.findobj(Text)}
    texts = [t for t in figure.findobj(Text) if id(t) not in in_axes]  # suptitles, figure texts
    for ax in panels(figure):
        ticks = {id(t) for t in ax.xaxis.get_ticklabels() + ax.yaxis.get_ticklabels()}
        texts += [t for t in ax.findobj(Text) if id(t) not in ticks]
        texts += tick_labels(ax, "x") + tick_labels(ax, "y")
    renderer = figure.canvas.get_renderer()
    boxes = [
        (repr(t.get_text()), t.get_window_extent(renderer))
        for t in texts
        if id(t) not in in_legends and t.get_visible() and t.get_text().strip()
    ]
    return boxes + [
        (f"legend {[t.get_text() for t in legend.get_texts()]}", legend.get_window_extent()) for legend in found
    ]


def overlap(a: Bbox, b: Bbox) -> bool:
    """Whether two pixel boxes share more than :data:`TOLERANCE_PX` in both directions."""
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return width > TOLERANCE_PX and height > TOLERANCE_PX


@pytest.mark.parametrize("name", list(PLOTS))
def test_no_two_texts_overlap(board: Leaderboard, name: str) -> None:
    figure = PLOTS[name](board)
    if figure is None:
        pytest.skip(f"{name}: no data in this board")
    boxes = text_boxes(drawn(figure))
    clashes = [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2) if overlap(box_a, box_b)]
    assert not clashes, f"{name}: {clashes[:5]}"


@pytest.mark.parametrize(
    "name", [name for name in PLOTS if name not in ("variant-vs-base", "heatmap", "attack-readout")]
)
def test_legends_cover_no_panel_and_no_data_point(board: Leaderboard, name: str) -> None:
    figure = PLOTS[name](board)
    if figure is None:
        pytest.skip(f"{name}: no data in this board")
    figure = drawn(figure)
    (legend,) = legends(figure)  # one legend per figure
    box = legend.get_window_extent()
    for ax in panels(figure):
        assert not overlap(box, ax.get_window_extent()), f"{name}: the legend sits on the panel {ax.get_title()!r}"
        for line in ax.get_lines():
            points = ax.transData.transform(np.column_stack(line.get_data()).astype(float))
            assert not box.count_contains(points), f"{name}: the legend covers points of {line.get_label()!r}"


@pytest.mark.parametrize("name", list(SPANS))
def test_every_accuracy_axis_spans_the_documented_minimum(board: Leaderboard, name: str) -> None:
    figure = PLOTS[name](board)
    if figure is None:
        pytest.skip(f"{name}: no data in this board")
    for ax in panels(drawn(figure)):
        low, high = ax.get_ylim()
        assert high - low >= SPANS[name] - 1e-12, f"{name} {ax.get_title()!r}: y from {low:.4f} to {high:.4f}"


def test_the_flat_board_would_be_blown_up_without_the_minimum_span() -> None:
    """Guards the span test: the flat board's severities differ by one sample in 20."""
    board = BOARDS["flat"]()
    scores = board.results.scores
    pooled = scores[scores["perturbation"] == "corruption"].groupby("severity")[["correct", "n"]].sum()
    accuracy = (pooled["correct"] / pooled["n"]).tolist()
    assert accuracy == [29 / 30, 27 / 30, 27 / 30] and max(accuracy) - min(accuracy) < MIN_ACCURACY_SPAN


def test_a_single_epsilon_gets_one_tick_at_that_epsilon(board: Leaderboard) -> None:
    figure = drawn(PLOTS["robust-vs-epsilon"](board))
    scores = board.results.scores
    attacks = scores[scores["perturbation"] == "attack"].groupby("attack", sort=False)["epsilon"].unique()
    axes = {ax.get_title(): ax for ax in panels(figure)}
    single = {attack: float(epsilons[0]) for attack, epsilons in attacks.items() if len(epsilons) == 1}
    assert single  # fgsm (and, on the flat board, nothing else) has one ε
    for attack, epsilon in single.items():
        ticks = [t.get_text() for t in tick_labels(axes[attack], "x")]
        assert ticks == [f"{epsilon:g}"], attack
        low, high = axes[attack].get_xlim()
        assert low < epsilon < high


def test_variant_vs_base_names_each_pair_once_above_its_panels() -> None:
    board = BOARDS["quick-like"]()
    figure = drawn(PLOTS["variant-vs-base"](board))
    (row,) = figure.subfigs
    assert row.get_suptitle() == "digits-pcnn − digits-cnn"
    titles = [ax.get_title() for ax in row.get_axes()]
    assert titles == [
        "clean\n(10 samples)",
        "corr\n(19 corruptions × 2 severities)",
        *[f"robust-linf@{eps}\n(10 samples)" for eps in ("0.02", "0.05", "0.1", "0.5")],
    ]
    limits = {ax.get_ylim() for ax in row.get_axes()}
    assert len(limits) == 1  # one scale for every panel
    timesteps = {t.get_text() for ax in row.get_axes() for t in tick_labels(ax, "x")}
    assert timesteps == {"0", "1", "2"}  # integer timesteps only
