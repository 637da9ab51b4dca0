"""Markdown report ``<leaderboards>/<suite>-report.md``: summary, variant-vs-base tables, plots, provenance.

The report links the plots and CSVs by paths relative to itself, so it renders on
GitHub when committed next to them. It holds no timestamp, so regenerating it from
the same results gives the same file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from pcbench.files import atomic_write, inside
from pcbench.leaderboards.board import Leaderboard, csv_paths
from pcbench.leaderboards.metrics import NOTE
from pcbench.leaderboards.paired import is_paired_variant
from pcbench.leaderboards.readout import attack_readout_path
from pcbench.leaderboards.summary import AT, summary_metrics
from pcbench.leaderboards.view import format_value, short_name, summary_view

PLOT_TITLES = {
    "clean": "Clean accuracy vs timestep",
    "corruption-families": "Corruption families vs timestep",
    "attacks": "Adversarial accuracy vs timestep",
    "variant-vs-base": "Did the dynamics help, and when? Dynamic variant − base per timestep (paired 95 % interval)",
    "severity": "Accuracy vs severity",
    "heatmap": "Accuracy per corruption",
    "relative-corruption-error": "Relative corruption error (Predify) vs timestep",
    "robust-vs-epsilon": "Adversarial accuracy vs ε",
    "attack-readout": "Attack time × read-out time: accuracy of the images attacked at one timestep, read at each",
}


def report_path(leaderboards: Path, suite: str) -> Path:
    """``<leaderboards>/<suite>-report.md``."""
    return inside(leaderboards, f"{suite}-report.md")


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub Markdown table of ``frame`` (cells as text, ``|`` escaped)."""

    def cell(value: object) -> str:
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(map(cell, frame.columns)) + " |", "|" + " --- |" * len(frame.columns)]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def write_report(board: Leaderboard, path: Path, plots: Sequence[Path]) -> Path:
    """Write the report for ``board`` to ``path``, linking ``plots``; return ``path``."""
    path = Path(path)
    text = (
        "\n\n".join(
            [
                f"# Leaderboard: `{board.suite}`",
                _introduction(board, path),
                "## Summary",
                markdown_table(summary_view(board)),
                _legend(board),
                *_notes(board),
                *_warnings(board),
                *_masking_section(board),
                *_variant_sections(board),
                *_readout_section(board, path),
                "## Plots",
                *[
                    f"### {PLOT_TITLES.get(plot.stem, plot.stem)}\n\n![{plot.stem}]({_relative(plot, path)})"
                    for plot in plots
                ],
                "## Provenance",
                _provenance(board),
            ]
        )
        + "\n"
    )
    atomic_write(path, lambda handle: handle.write(text.encode()))
    return path


def _relative(target: Path, report: Path) -> str:
    """``target`` relative to the report's directory, with ``/`` separators."""
    return Path(target).resolve().relative_to(report.resolve().parent).as_posix()


def _introduction(board: Leaderboard, path: Path) -> str:
    options = board.options
    files = ", ".join(f"[`{p.name}`]({_relative(p, path)})" for p in csv_paths(path.parent, board.suite).values())
    baseline = board.baseline or "none (pass `--baseline MODEL`)"
    scores = board.results.scores
    cells = len(scores[["model", "cell"]].drop_duplicates())  # evaluated cells: model × perturbation
    return (
        f"Results merged from {len(board.results.directories)} result director"
        f"{'y' if len(board.results.directories) == 1 else 'ies'}; {cells} cells "
        f"({scores['cell'].nunique()} perturbations), {board.models.shape[0]} models. mCE baseline: {baseline}. "
        f"Shown at timestep `{options.timestep}`, "
        f"sorted by `{board.selection.sort}`. Tables: {files} (columns documented in the docs, "
        "*Metrics and leaderboard files*)."
    )


def _legend(board: Leaderboard) -> str:
    return (
        "Accuracies, mCE and relative mCE in %; `t`: the timestep shown; `robust-<norm>@<ε>`: best-known robust "
        "accuracy (a sample counts only if it survives every attack of that norm and ε); "
        f"`Δ{short_name(board.selection.sort)}`/`p`: dynamic variant (PC, recurrent) minus its feedforward base "
        "(percentage points) and the exact McNemar p-value; `masking`: failed gradient-masking checks (`-` none, "
        "`?` nothing to check)."
    )


#: What each gradient-masking flag means and what to do when it fires (one sentence each).
MASKING_ADVICE = {
    "flag_iterative_weaker_than_fgsm": "an iterative L∞ attack (PGD/BIM) left more samples correct than FGSM at the "
    "same ε, so the iterative attack is too weak or its gradients mislead it: raise `steps`, use a random start or "
    'more restarts, and try `gradient_mode = "full"`.',
    "flag_not_monotonic_in_epsilon": "accuracy rose with ε for some attack, which a working attack never allows: "
    "raise `steps` and check the step size (`rel_stepsize`) at the larger budgets.",
    "flag_large_epsilon_not_zero": "accuracy stayed above 5 % at L∞ ε ≥ 0.5, a budget that can turn any image into "
    "any other: the gradients are masked (a non-differentiable or saturating stage); add a transfer or "
    "gradient-free attack before trusting any robust accuracy.",
    "flag_whitebox_weaker_than_transfer": "the white-box attack through the unroll was weaker than the same attack "
    "on timestep 0 (transferred from the feedforward pass), so the unroll's gradients mislead the attack: read "
    'the transfer (`attack_timestep = "first"`) and best-known robust accuracies, and try `gradient_mode = "full"`.',
    "flag_gradient_free_beats_whitebox": "the gradient-free Square attack broke more samples than the best "
    "gradient-based attack at the same norm and ε, so the gradients are masked or misleading: trust only the "
    'best-known robust accuracy (which includes Square), and try `gradient_mode = "full"`, '
    '`attack_timestep = "sum"` or `"each"` and AutoAttack before reading any white-box number.',
    "flag_eot_beats_one_draw": "an attack averaging its gradients over draws (`eot`) broke more samples than the "
    "same attack with one draw, so the model's randomness masks single-draw gradients: read only EOT attacks and "
    'the best-known robust accuracy for it, and raise `eot` (or use AutoAttack\'s `version = "rand"`) until the '
    "accuracy stops falling.",
}


def _notes(board: Leaderboard) -> list[str]:
    """The long table's notes (a ratio metric over fewer corruptions or undefined, an interval
    left out), one line per metric and note, naming the models and timesteps."""
    if NOTE not in board.metrics.columns:
        return []
    noted = board.metrics[board.metrics[NOTE] != ""]
    lines = []
    for (metric, note), group in noted.groupby(["metric", NOTE], sort=False):
        where = "; ".join(
            f"{model} t={', '.join(map(str, rows['timestep']))}" for model, rows in group.groupby("model", sort=False)
        )
        lines.append(f"- `{metric}` — {where}: {note}")
    return ["## Notes on missing values and intervals", "\n".join(lines)]


def _warnings(board: Leaderboard) -> list[str]:
    """Provenance warnings (different package versions or devices), when there are any."""
    if not board.results.warnings:
        return []
    return ["## Warnings", "\n".join(f"- {warning}" for warning in board.results.warnings)]


def _masking_section(board: Leaderboard) -> list[str]:
    """The gradient-masking checks: which fired for which model, what each means and what to do."""
    if board.flags.empty:
        return []
    lines = []
    for flag, advice in MASKING_ADVICE.items():
        if flag not in board.flags.columns:
            continue
        fired = board.flags.loc[board.flags[flag].fillna(False).astype(bool)]
        where = ", ".join(
            f"`{model}` t={', '.join(map(str, group['timestep']))}"
            for model, group in fired.groupby("model", sort=False)
        )
        if where:
            status = f"**fired** for {where}"
        elif board.flags[flag].notna().any():
            status = "passed everywhere it could be checked"
        else:
            status = "not checked (the suite has no cells it compares)"
        lines.append(f"- `{flag.removeprefix('flag_')}` — {status}. When it fires: {advice}")
    if "autoattack_warnings" in board.models.columns:
        for model, warned in board.models.set_index("model")["autoattack_warnings"].items():
            if not isinstance(warned, str):
                continue  # no AutoAttack cell of this model
            said = "; ".join(f"“{message}”" for message in warned.split(" | ")) if warned else "no warning"
            lines.append(f"- AutoAttack's own checks on `{model}`: {said}.")
    if "stochastic" in board.models.columns:
        for model in board.models.loc[board.models["stochastic"].fillna(False).astype(bool), "model"]:
            lines.append(
                f"- `{model}` is **stochastic** (two forwards of the same batch differ): its cells are seeded per "
                "cell, draw and batch and pooled over the suite's `draws`; its gradient attacks need `eot`."
            )
    return ["## Gradient-masking checks", "\n".join(lines)]


def _variant_sections(board: Leaderboard) -> list[str]:
    """One "did the dynamics help?" table per dynamic variant (PC, recurrent) whose base is in the results."""
    summary = board.summary.set_index("model")
    names = summary_metrics(board.metrics, board.selection.sort)
    sections = []
    for model, row in summary[is_paired_variant(summary["variant"], summary["base"])].iterrows():
        base = row["base"]
        if base not in summary.index:
            continue
        table = pd.DataFrame({"metric": [short_name(name) for name in names]})
        table[f"{base} (t={int(summary.loc[base, 'last_timestep'])})"] = [
            format_value(n, summary.loc[base, f"{n}:last"]) for n in names
        ]
        for where in AT:
            label = {
                "t0": "t=0",
                "last": f"last t={int(row['last_timestep'])}",
                "best": f"best t={int(row['best_timestep'])}",
            }[where]
            table[label] = [format_value(n, row[f"{n}:{where}"]) for n in names]
            table[f"Δ {where} (p)"] = [_delta(n, row[f"delta_{n}:{where}"], row[f"p_{n}:{where}"]) for n in names]
        table = pd.concat([table, _decisive_rows(summary, str(model), base, table.columns)], ignore_index=True)
        sections += [
            f"## Did the dynamics help? `{model}` vs `{base}`",
            markdown_table(table),
            f"Best timestep chosen by `{board.selection.sort}`. Δ in percentage points (mCE: lower is better); "
            "p: two-sided exact McNemar on the same samples (pooled over corruption cells for the means, "
            "whose pairs are not independent: a rough guide only). `broken only by`: the attack that alone "
            "broke the most samples of that threat model (how many: what its best-known robust accuracy "
            "would gain without it).",
        ]
    return sections


def _readout_section(board: Leaderboard, path: Path) -> list[str]:
    """Where the attack × read-out matrix is (CSV and heatmap) and how to read it; nothing
    without attack cells."""
    if board.attack_readout.empty:
        return []
    csv = attack_readout_path(path.parent, board.suite)
    return [
        "## Attack time × read-out time",
        f"[`{csv.name}`]({_relative(csv, path)}) and the plot *{PLOT_TITLES['attack-readout']}* below: per model, "
        "attack and ε, the accuracy at every read-out timestep of the images attacked at each timestep "
        '(`attack_timestep = "each"`: one row per attacked timestep, its diagonal the `each` numbers of the '
        "other tables) or crafted once (`first`, `last`, `mean`, `sum`: one row). An attack that fades as the "
        "dynamics unfold loses strength along its row; a timestep robust only to attacks aimed elsewhere is "
        "high in its column but low on the diagonal.",
    ]


def _decisive_rows(summary: pd.DataFrame, model: str, base: str, columns: pd.Index) -> pd.DataFrame:
    """The variant table's ``robust-<threat>: broken only by`` rows: per value column, the attack
    that alone broke the most samples and how many; the Δ columns stay empty."""
    suffix = ":last"
    threats = [
        name.removeprefix("decisive_attack_").removesuffix(suffix)
        for name in summary.columns
        if name.startswith("decisive_attack_") and name.endswith(suffix)
    ]
    rows = []
    for threat in threats:
        values = [_decisive(summary, base, threat, "last")]
        for where in AT:
            values += [_decisive(summary, model, threat, where), ""]
        rows.append([f"robust-{threat}: broken only by", *values])
    return pd.DataFrame(rows, columns=columns)


def _decisive(summary: pd.DataFrame, model: str, threat: str, where: str) -> str:
    """``square-linf (12)``, or ``-`` when no attack alone broke a sample."""
    column = f"decisive_attack_{threat}:{where}"
    if column not in summary.columns or pd.isna(summary.loc[model, column]):
        return "-"
    return f"{summary.loc[model, column]} ({summary.loc[model, f'decisive_samples_{threat}:{where}']})"


def _delta(metric: str, delta: float, p: float) -> str:
    """``+1.2 (0.03)``; the p-value part only where there is one."""
    text = format_value(metric, delta, signed=True)
    return text if pd.isna(p) else f"{text} ({p:.2g})"


def _provenance(board: Leaderboard) -> str:
    facts = provenance_facts(board) | {
        "result directories": ", ".join(f"`{d}`" for d in board.results.directories)  # as code: `_` stays literal
    }
    lines = [f"- **{name}**: {value}" for name, value in facts.items()]
    return "\n".join(lines) + "\n\n" + markdown_table(model_provenance(board).fillna("-"))


def provenance_facts(board: Leaderboard) -> dict[str, str]:
    """What produced the results, as ``{fact: text}``: suite hash, data set and subset,
    seeds, devices, corruption source, package versions, result directories, bootstrap.

    Example::

        provenance_facts(board)["seeds"]   # '0'
    """
    scores = board.results.scores
    versions = [column for column in scores.columns if column.endswith("_version")]
    return {
        "suite hash": _distinct(scores["suite_hash"]),
        "dataset": f"{_distinct(scores['dataset'])} / {_distinct(scores['split'])} "
        f"(dataset hash {_distinct(scores['dataset_hash'])}, subset hash {_distinct(scores['subset_hash'])})",
        "seeds": _distinct(scores["seed"]),
        "devices": _distinct(scores["device"]),
        "corruption source": _distinct(scores["corruption_source"]),
        "versions": "; ".join(f"{column.removesuffix('_version')} {_distinct(scores[column])}" for column in versions),
        "result directories": ", ".join(map(str, board.results.directories)),
        "bootstrap": f"{board.options.bootstrap.resamples} resamples over samples, seed {board.options.bootstrap.seed}",
    }


def model_provenance(board: Leaderboard) -> pd.DataFrame:
    """One row per model: variant, base, spec and checkpoint hashes, cells, run ids (distinct
    values comma-joined, ``-`` when none; ``base`` missing for a feedforward model).

    Example::

        model_provenance(board).set_index("model").loc["digits-pcnn", "checkpoint_hash"]
    """
    return (
        board.results.scores.groupby("model", sort=False)
        .agg(
            variant=("variant", "first"),
            base=("base", "first"),
            spec_hash=("model_spec_hash", _distinct),
            checkpoint_hash=("checkpoint_hash", _distinct),
            cells=("cell", "nunique"),
            run_ids=("run_id", _distinct),
        )
        .reset_index()
    )


def _distinct(values: pd.Series) -> str:
    """Distinct non-missing values, comma-separated in order of first appearance (``-`` if none)."""
    return ", ".join(map(str, pd.unique(values.dropna()))) or "-"
