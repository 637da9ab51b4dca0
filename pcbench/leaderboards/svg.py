"""Inline SVG line charts for the HTML leaderboard: value vs timestep, one line per model.

Plain strings, no plotting library and no JavaScript: a chart is an ``<svg>`` element with
axes, a shaded 95 % interval band per line where given, and a native tooltip (``<title>``)
on every point. Every text that comes from data is escaped.

Example::

    chart = line_chart(
        [Line("digits-pcnn", "#1f77b4", [Point(0, 98.6, 96.8, 99.4, "t=0: 98.6")])],
        title="clean accuracy", y_label="%",
    )
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

#: Line colours (matplotlib's tab10), given to models in leaderboard order.
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 56, 170, 28, 40  # margins; the legend sits in the right one


@dataclass(frozen=True)
class Point:
    """One value at timestep ``x`` (NaN: missing), its interval (NaN: none) and tooltip."""

    x: int
    y: float
    low: float
    high: float
    tip: str


@dataclass(frozen=True)
class Line:
    """A model's points, drawn in ``color`` and named ``label`` in the legend; a ``constant``
    line (a feedforward model, stored at timestep 0 only) is drawn dashed across the chart at
    its first value."""

    label: str
    color: str
    points: Sequence[Point]
    constant: bool = False


def line_chart(
    lines: Sequence[Line], *, title: str, y_label: str, min_span: float = 0.0, zero_line: bool = False
) -> str:
    """An ``<svg>`` chart of ``lines`` against the timestep ("" when no point has a value);
    the y range fits the values and intervals (and 0 when ``zero_line``, drawn dashed) and
    spans at least ``min_span``, so that a change of a sample or two never fills the chart."""
    present = [p for line in lines for p in line.points if math.isfinite(p.y)]
    if not present:
        return ""
    xs = [p.x for p in present]
    ys = [v for p in present for v in (p.y, p.low, p.high) if math.isfinite(v)] + ([0.0] if zero_line else [])
    low, high = min(ys), max(ys)
    if high - low < min_span:
        middle = (low + high) / 2
        low, high = middle - min_span / 2, middle + min_span / 2
    x_axis, y_axis = _Axis(min(xs), max(xs), integer=True), _Axis(low, high, integer=False)
    scale = _Scale(x_axis, y_axis)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<text class="title" x="{LEFT}" y="16">{escape(title)}</text>',
        *_grid(scale),
        f'<text class="label" x="{LEFT + scale.plot_width / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle">'
        "timestep</text>",
        f'<text class="label" transform="translate(14 {TOP + scale.plot_height / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle">{escape(y_label)}</text>',
    ]
    if zero_line:
        parts.append(_hline(scale, 0.0, "zero"))
    for index, line in enumerate(lines):
        parts += _line(scale, line)
        y = TOP + 14 * index + 6
        parts.append(
            f'<g class="legend"><line x1="{WIDTH - RIGHT + 12}" x2="{WIDTH - RIGHT + 30}" y1="{y}" y2="{y}" '
            f'stroke="{escape(line.color)}" stroke-width="2"/><text x="{WIDTH - RIGHT + 35}" y="{y + 4}">'
            f"{escape(line.label)}</text></g>"
        )
    return "".join(parts) + "</svg>"


class _Axis:
    """Tick positions for ``[low, high]``: whole numbers on the timestep axis, 1/2/5 steps else."""

    def __init__(self, low: float, high: float, integer: bool) -> None:
        if high == low:
            low, high = (low - 1, high + 1) if integer else (low - max(abs(low) * 0.05, 0.5), high + 0.5)
        raw = (high - low) / 5
        magnitude = 10 ** math.floor(math.log10(raw))
        step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
        step = max(step, 1) if integer else step
        self.low = low if integer else math.floor(low / step) * step
        self.high = high if integer else math.ceil(high / step) * step
        first = math.ceil(self.low / step) * step
        self.ticks = [first + i * step for i in range(int(round((self.high - first) / step)) + 1)]
        self.decimals = 0 if integer else max(0, -math.floor(math.log10(step)))


class _Scale:
    """Data coordinates to SVG coordinates."""

    def __init__(self, x: _Axis, y: _Axis) -> None:
        self.x_axis, self.y_axis = x, y
        self.plot_width, self.plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(self, value: float) -> float:
        return LEFT + (value - self.x_axis.low) / (self.x_axis.high - self.x_axis.low) * self.plot_width

    def y(self, value: float) -> float:
        return TOP + (self.y_axis.high - value) / (self.y_axis.high - self.y_axis.low) * self.plot_height


def _grid(scale: _Scale) -> list[str]:
    """Axis frame, horizontal grid lines with y labels, x ticks with labels."""
    bottom = TOP + scale.plot_height
    parts = [f'<rect class="frame" x="{LEFT}" y="{TOP}" width="{scale.plot_width}" height="{scale.plot_height}"/>']
    for tick in scale.y_axis.ticks:
        y = scale.y(tick)
        parts.append(_hline(scale, tick, "grid"))
        parts.append(
            f'<text class="tick" x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">'
            f"{tick:.{scale.y_axis.decimals}f}</text>"
        )
    for tick in scale.x_axis.ticks:
        x = scale.x(tick)
        parts.append(f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{bottom}" y2="{bottom + 4}"/>')
        parts.append(f'<text class="tick" x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">{tick:.0f}</text>')
    return parts


def _hline(scale: _Scale, value: float, kind: str) -> str:
    y = scale.y(value)
    return f'<line class="{kind}" x1="{LEFT}" x2="{LEFT + scale.plot_width}" y1="{y:.1f}" y2="{y:.1f}"/>'


def _line(scale: _Scale, line: Line) -> list[str]:
    """Interval band, the polyline (broken where a value is missing) and the points."""
    color = escape(line.color)
    parts = []
    values = [p.y for p in line.points if math.isfinite(p.y)]
    if line.constant and values:
        y = scale.y(values[0])
        parts.append(
            f'<line class="line constant" stroke="{color}" x1="{LEFT}" x2="{LEFT + scale.plot_width}" '
            f'y1="{y:.1f}" y2="{y:.1f}"/>'
        )
    for run in _runs(line.points, lambda p: math.isfinite(p.low) and math.isfinite(p.high)):
        outline = [(scale.x(p.x), scale.y(p.high)) for p in run] + [(scale.x(p.x), scale.y(p.low)) for p in run[::-1]]
        parts.append(f'<polygon class="band" fill="{color}" points="{_coordinates(outline)}"/>')
    for run in _runs(line.points, lambda p: math.isfinite(p.y)):
        path = _coordinates([(scale.x(p.x), scale.y(p.y)) for p in run])
        parts.append(f'<polyline class="line" stroke="{color}" points="{path}"/>')
        parts += [
            f'<circle class="point" fill="{color}" cx="{scale.x(p.x):.1f}" cy="{scale.y(p.y):.1f}" r="3">'
            f"<title>{escape(p.tip)}</title></circle>"
            for p in run
        ]
    return parts


def _runs(points: Sequence[Point], keep: Callable[[Point], bool]) -> list[list[Point]]:
    """Consecutive stretches of ``points`` for which ``keep(point)`` holds."""
    runs: list[list[Point]] = [[]]
    for point in points:
        if keep(point):
            runs[-1].append(point)
        elif runs[-1]:
            runs.append([])
    return [run for run in runs if run]


def _coordinates(pairs: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in pairs)
