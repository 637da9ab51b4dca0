"""HTML leaderboard: a static site that works offline from ``file://`` and requests nothing.

Layout of a site of one suite (``pcbench report SUITE --html`` writes it to
``<leaderboards>/<suite>-site/``)::

    index.html            the suite's sortable table and its per-timestep curves
    models/<model>.html   one page per model: every summary value, model card, provenance

A site of several suites (``pcbench site``) has ``index.html`` listing them and each suite
as above under ``<suite>/``.

The table holds, per model, the clean, pooled corruption and best-known robust accuracy
(and mCE and the sort metric where present) at the last and the best timestep — a switch
shows one or the other — each with a dynamic (PC or recurrent) variant's Δ against its
base, the paired 95 % bootstrap interval (:mod:`~pcbench.leaderboards.differences`) and the exact McNemar p-value,
and the failed gradient-masking checks. Every value cell carries the summary CSV's column name
and text (``data-column``, ``data-value``), so the page can be checked against
``<suite>-summary.csv`` and sorts on exact values.

Decisions: the curves (:mod:`~pcbench.leaderboards.html_curves`) are inline SVG drawn in
Python (:mod:`~pcbench.leaderboards.svg`), and a few lines of vanilla JavaScript
(``assets/site.js``) sort the table, switch last/best and pick the curve shown; no library
is vendored. Each page inlines its CSS and script and sets a
Content-Security-Policy of ``default-src 'none'`` plus the hashes of exactly that script and
style, so the browser refuses any request and any other script (a model name that got past
the escaping would still not run). Pages hold no timestamp and no local path (model cards
name weight files by their registry references): the same results and registry give the
same files.
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
import re
from collections.abc import Sequence
from html import escape
from importlib import resources
from pathlib import Path

import pandas as pd

from pcbench.errors import PcbenchError
from pcbench.files import atomic_write, inside
from pcbench.leaderboards.board import Leaderboard
from pcbench.leaderboards.differences import variant_differences
from pcbench.leaderboards.html_curves import curves_section
from pcbench.leaderboards.outcomes import BEST_KNOWN
from pcbench.leaderboards.report import MASKING_ADVICE, model_provenance, provenance_facts
from pcbench.leaderboards.summary import summary_metrics
from pcbench.leaderboards.view import format_value, short_name
from pcbench.models.cards import format_model_card
from pcbench.names import is_name
from pcbench.registry.weight_files import PACKAGE_DIR, PACKAGE_PREFIX, WEIGHTS_PREFIX, weights_dir

#: Where each table value is shown; "t0" stays in the model pages.
TABLE_AT = ("last", "best")
#: Metrics of the suite table besides the best-known robust accuracies and the sort metric.
TABLE_METRICS = ("clean_acc", "corruption_acc", "mce")


def site_dir(leaderboards: Path, suite: str) -> Path:
    """``<leaderboards>/<suite>-site``, where ``report --html`` writes."""
    return inside(leaderboards, f"{suite}-site")


def write_site(boards: Sequence[Leaderboard], directory: Path) -> list[Path]:
    """Write the site of ``boards`` into ``directory`` (module docstring); return the pages
    written, ``index.html`` first. PcbenchError when no board is given or two have one suite.

    Example::

        write_site([leaderboard("quick")], Path("leaderboards/quick-site"))
    """
    suites = [board.suite for board in boards]
    if not suites:
        raise PcbenchError("a site needs at least one suite: name one or more")
    twice = sorted({suite for suite in suites if suites.count(suite) > 1})
    if twice:
        raise PcbenchError(f"suite {', '.join(map(repr, twice))} given twice for one site: name each suite once")
    directory = Path(directory)
    if len(boards) == 1:
        return _write_suite(boards[0], directory, home=None)
    index = inside(directory, "index.html")
    _write(index, _index_page(boards))
    pages = [index]
    for board in boards:
        pages += _write_suite(board, inside(directory, board.suite), home="../index.html")
    return pages


def page_name(model: str) -> str:
    """File name of a model's page: ``<model>.html`` for a name that follows pcbench's name
    rule, else ``model-<hash>.html`` (never a path, whatever the results hold)."""
    if is_name(model):
        return f"{model}.html"
    return f"model-{hashlib.sha256(model.encode()).hexdigest()[:12]}.html"


def csv_text(value: object) -> str:
    """A summary value as ``<suite>-summary.csv`` writes it: floats with six significant
    digits, missing values empty."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _write_suite(board: Leaderboard, directory: Path, home: str | None) -> list[Path]:
    differences = variant_differences(board.outcomes, board.models, board.options.bootstrap)
    index = inside(directory, "index.html")
    _write(index, _suite_page(board, differences, home))
    pages = [index]
    for model in board.summary["model"]:
        path = inside(directory, "models", page_name(model))
        _write(path, _model_page(board, model))
        pages.append(path)
    return pages


def _write(path: Path, text: str) -> None:
    atomic_write(path, lambda handle: handle.write(text.encode()))


# --- pages ------------------------------------------------------------------------------------


def _asset(name: str) -> str:
    return resources.files("pcbench.leaderboards").joinpath("assets", name).read_text(encoding="utf-8")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _page(title: str, body: str) -> str:
    """A whole page: inline style and script, and a policy that allows nothing else."""
    style, script = _asset("site.css"), _asset("site.js")
    policy = f"default-src 'none'; img-src data:; style-src {_csp_hash(style)}; script-src {_csp_hash(script)}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="icon" href="data:,"><title>{escape(title)}</title><style>{style}</style></head>\n'
        f"<body>\n{body}\n<script>{script}</script></body></html>\n"
    )


def _index_page(boards: Sequence[Leaderboard]) -> str:
    rows = "".join(
        f'<tr><td><a href="{escape(board.suite)}/index.html">{escape(board.suite)}</a></td>'
        f'<td data-value="{board.summary.shape[0]}">{board.summary.shape[0]}</td>'
        f"<td>{escape(', '.join(board.summary['model']))}</td></tr>"
        for board in boards
    )
    table = '<table class="sortable"><thead><tr><th>suite</th><th>models</th><th>names</th></tr></thead>'
    return _page("pcbench leaderboards", f"<h1>pcbench leaderboards</h1>{table}<tbody>{rows}</tbody></table>")


def _suite_page(board: Leaderboard, differences: pd.DataFrame, home: str | None) -> str:
    options = board.options
    shown = "best" if options.timestep == "best" else "last"
    intro = (
        f"{board.summary.shape[0]} models, {board.results.scores['cell'].nunique()} perturbations; sorted by "
        f"<code>{escape(board.selection.sort)}</code> at timestep <code>{escape(str(options.timestep))}</code>; "
        f"mCE baseline: {escape(board.baseline or 'none')}. Accuracies and mCE in %; Δ: dynamic variant minus its "
        "feedforward base at the base's last timestep (percentage points), its paired 95 % bootstrap interval "
        "and the exact McNemar p-value; masking: failed gradient-masking checks (- none, ? nothing to check). "
        "Click a column to sort."
    )
    switch = "".join(
        f'<label><input type="radio" name="at" value="{where}"{" checked" if where == shown else ""}> '
        f"{where} timestep</label> "
        for where in TABLE_AT
    )
    parts = [
        f'<p><a href="{escape(home)}">all suites</a></p>' if home else "",
        f"<h1>Leaderboard: {escape(board.suite)}</h1>",
        f"<p>{intro}</p>",
        f'<div class="controls">Show: {switch}</div>',
        _suite_table(board, differences, shown),
        _masking_legend(board),
        curves_section(board, differences),
        "<h2>Provenance</h2>",
        _facts(provenance_facts(board)),
        _frame_table(model_provenance(board)),
    ]
    return _page(f"pcbench leaderboard: {board.suite}", "\n".join(part for part in parts if part))


def _model_page(board: Leaderboard, model: str) -> str:
    row = board.summary.set_index("model").loc[model]
    names = summary_metrics(board.metrics, board.selection.sort)
    header = "<tr><th>metric</th>" + "".join(
        f"<th>{where} (t={_timestep(row, where)})</th><th>Δ {where}</th>" for where in ("t0", "last", "best")
    )
    body = "".join(
        f"<tr><td>{escape(short_name(name))}</td>"
        + "".join(
            _value_cell(row, name, where, None, with_delta=False) + _delta_cell(row, name, where)
            for where in ("t0", "last", "best")
        )
        + "</tr>"
        for name in names
    )
    provenance = model_provenance(board).set_index("model").loc[[model]].reset_index()
    warnings = row.get("autoattack_warnings")
    parts = [
        '<p><a href="../index.html">leaderboard</a></p>',
        f"<h1>{escape(model)}</h1>",
        f"<p>Suite {escape(board.suite)}; variant {escape(str(row['variant']))}"
        + (f", base {escape(str(row['base']))}" if isinstance(row["base"], str) else "")
        + ". Accuracies and mCE in %; Δ against the base at its last timestep (percentage points), p: exact "
        "McNemar.</p>",
        f'<table class="values"><thead>{header}</tr></thead><tbody>{body}</tbody></table>',
        f"<p>AutoAttack's own checks: {escape(warnings or 'no warning')}</p>" if isinstance(warnings, str) else "",
        "<h2>Per-timestep values</h2>",
        _timestep_table(board.metrics[board.metrics["model"] == model]),
        "<h2>Model card</h2>",
        f"<pre>{escape(model_card_text(model))}</pre>",
        "<h2>Provenance</h2>",
        _frame_table(provenance),
    ]
    return _page(f"{model} ({board.suite})", "\n".join(part for part in parts if part))


def model_card_text(model: str) -> str:
    """``pcbench models show MODEL`` with paths inside the package and the weights directory
    written as the registry's references (``pcbench:...``, ``$PCBENCH_WEIGHTS/...``), so the
    page is the same on every machine; a line saying why when there is no card.

    Example::

        model_card_text("digits-cnn")   # '... weights  pcbench:models/weights/digits-cnn.pt ...'
    """
    try:
        text = format_model_card(model)
    except PcbenchError as error:
        return f"no model card: {error}"
    for directory, reference in ((PACKAGE_DIR, PACKAGE_PREFIX), (weights_dir(), WEIGHTS_PREFIX)):
        text = text.replace(f"{directory}{os.sep}", reference)
    return text


# --- the suite table --------------------------------------------------------------------------


def table_metrics(board: Leaderboard) -> list[str]:
    """The metrics of the suite table: clean, pooled corruption accuracy, mCE, each
    best-known robust accuracy and the sort metric, where the leaderboard has them."""
    return [
        name
        for name in summary_metrics(board.metrics, board.selection.sort)
        if name in TABLE_METRICS or name.startswith(BEST_KNOWN) or name == board.selection.sort
    ]


def _suite_table(board: Leaderboard, differences: pd.DataFrame, shown: str) -> str:
    names = table_metrics(board)
    header = "<th>model</th><th>variant</th><th>base</th>" + "".join(
        f'<th class="at-{where}">t</th>'
        + "".join(f'<th class="at-{where}">{escape(short_name(name))}</th>' for name in names)
        + f'<th class="at-{where}">masking</th>'
        for where in TABLE_AT
    )
    intervals = differences.set_index(["model", "metric", "timestep"])[["ci_low", "ci_high"]]
    rows = []
    for _, row in board.summary.iterrows():
        model = str(row["model"])
        cells = [
            f'<td data-column="model" data-value="{escape(model)}">'
            f'<a href="models/{escape(page_name(model))}">{escape(model)}</a></td>',
            _text_cell(row, "variant"),
            _text_cell(row, "base"),
        ]
        for where in TABLE_AT:
            cells.append(_text_cell(row, f"{where}_timestep", f"at-{where}"))
            for name in names:
                interval = _interval(intervals, model, name, int(row[f"{where}_timestep"]))
                cells.append(_value_cell(row, name, where, interval, with_delta=True))
            cells.append(f'<td class="at-{where}" data-flags="{where}">{escape(failed_checks(row, where))}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="scroll"><table class="sortable board" data-at="{shown}"><thead><tr>{header}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _text_cell(row: pd.Series, column: str, css: str = "") -> str:
    text = csv_text(row[column])
    attribute = f' class="{css}"' if css else ""
    return f'<td{attribute} data-column="{column}" data-value="{escape(text)}">{escape(text or "-")}</td>'


def _value_cell(
    row: pd.Series, metric: str, where: str, interval: tuple[float, float] | None, *, with_delta: bool
) -> str:
    """A metric's value at ``where``, followed (``with_delta``) by its Δ, interval and p."""
    column = f"{metric}:{where}"
    value = row.get(column)
    delta = _delta_span(row, metric, where, interval) if with_delta else ""
    return (
        f'<td class="at-{where}" data-column="{escape(column)}" data-value="{csv_text(value)}">'
        f"{format_value(metric, value)}{delta}</td>"
    )


def _delta_cell(row: pd.Series, metric: str, where: str) -> str:
    return f"<td>{_delta_span(row, metric, where, None)}</td>"


def _delta_span(row: pd.Series, metric: str, where: str, interval: tuple[float, float] | None) -> str:
    """``Δ +1.2 [-0.3, +2.5] p 0.03`` with each part's CSV column, or "" without a delta."""
    delta, p = row.get(f"delta_{metric}:{where}"), row.get(f"p_{metric}:{where}")
    if csv_text(delta) == "":
        return ""
    text = f"Δ {format_value(metric, delta, signed=True)}"
    if interval is not None:
        low, high = (format_value(metric, bound, signed=True) for bound in interval)
        text += f' <span class="ci">[{low}, {high}]</span>'
    p_span = (
        f' <span data-column="p_{escape(metric)}:{where}" data-value="{csv_text(p)}">p {p:.2g}</span>'
        if csv_text(p)
        else ""
    )
    return (
        f'<span class="delta" data-column="delta_{escape(metric)}:{where}" data-value="{csv_text(delta)}">'
        f"{text}{p_span}</span>"
    )


def _interval(intervals: pd.DataFrame, model: str, metric: str, timestep: int) -> tuple[float, float] | None:
    key = (model, metric, timestep)
    if key not in intervals.index:
        return None
    low, high = intervals.loc[key]
    return None if pd.isna(low) else (float(low), float(high))


def failed_checks(row: pd.Series, where: str) -> str:
    """The masking checks of a summary row that failed at ``where``, comma-joined without
    ``flag_``; ``-`` when none failed, ``?`` when none could be checked."""
    flags = {c.removeprefix("flag_").removesuffix(f":{where}"): row[c] for c in row.index if _is_flag(c, where)}
    checked = {name: value for name, value in flags.items() if csv_text(value) != ""}
    if not checked:
        return "?"
    return ",".join(name for name, value in checked.items() if str(value) == "True") or "-"


def _is_flag(column: str, where: str) -> bool:
    return column.startswith("flag_") and column.endswith(f":{where}")


def _masking_legend(board: Leaderboard) -> str:
    items = "".join(
        f"<li><b>{escape(flag.removeprefix('flag_'))}</b>: {_code_spans(advice)}</li>"
        for flag, advice in MASKING_ADVICE.items()
        if flag in board.flags.columns
    )
    return f"<details><summary>What the masking checks mean</summary><ul>{items}</ul></details>" if items else ""


def _code_spans(markdown: str) -> str:
    """Escaped ``markdown`` with its `code` spans as ``<code>`` elements."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(markdown))


# --- small tables -----------------------------------------------------------------------------


def _timestep(row: pd.Series, where: str) -> str:
    return "0" if where == "t0" else csv_text(row[f"{where}_timestep"])


def _timestep_table(rows: pd.DataFrame) -> str:
    """Metric × timestep values of one model, each with its interval as a tooltip."""
    timesteps = sorted(rows["timestep"].unique())
    header = "<tr><th>metric</th>" + "".join(f"<th>t={t}</th>" for t in timesteps) + "</tr>"
    body = []
    for metric, group in rows.groupby("metric", sort=False):
        by_step = group.set_index("timestep")
        cells = []
        for t in timesteps:
            if t not in by_step.index:
                cells.append("<td>-</td>")
                continue
            r = by_step.loc[t]
            tip = f"95 % interval [{format_value(metric, r['ci_low'])}, {format_value(metric, r['ci_high'])}]"
            cells.append(f'<td title="{escape(tip)}">{format_value(metric, r["value"])}</td>')
        body.append(f"<tr><td>{escape(short_name(str(metric)))}</td>{''.join(cells)}</tr>")
    return f'<table class="values"><thead>{header}</thead><tbody>{"".join(body)}</tbody></table>'


def _facts(facts: dict[str, str]) -> str:
    return "<ul>" + "".join(f"<li><b>{escape(k)}</b>: {escape(v)}</li>" for k, v in facts.items()) + "</ul>"


def _frame_table(frame: pd.DataFrame) -> str:
    header = "".join(f"<th>{escape(str(column))}</th>" for column in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(csv_text(value) or '-')}</td>" for value in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f'<table class="values"><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>'
