"""Per-timestep leaderboard ``<suite>-timesteps.csv``: one row per (model, timestep), one
accuracy column per kind of cell.

Columns of :func:`leaderboard_table`, in this order (a column appears only when at
least one model has a cell of that kind):

``model``
    Model name; rows keep the models' order of first appearance in the scores.
``timestep``
    Recurrent timestep (0 = the feedforward pass). Ascending within a model; a model
    has rows only for the timesteps it was scored at (feedforward models: 0 only).
``clean_acc``
    Accuracy on the clean test set.
``corruption_acc``
    Accuracy pooled over every corruption cell (all corruptions, all severities):
    sum(correct) / sum(n), so cells with more samples weigh more.
``<corruption>_acc``
    One per corruption, in imagecorruptions' order (the 15 common ones first, as
    ImageNet-C tables list them; other names after, in order of appearance): accuracy
    pooled over its severities, sum(correct) / sum(n).
``<attack>@<epsilon>_acc``
    One per (attack, epsilon), e.g. ``fgsm@0.01_acc`` (epsilon printed with ``%g``),
    sorted by attack label then epsilon: adversarial accuracy at that budget.

All accuracies are fractions in [0, 1], unrounded; NaN where the model has no such
cell at that timestep.
"""

from pathlib import Path

import pandas as pd

from pcbench.errors import PcbenchError
from pcbench.files import atomic_write
from pcbench.perturbations.corruptions import in_corruption_order

ROW = ["model", "timestep"]
CELL = ["model", "perturbation", "corruption", "severity", "attack", "epsilon", "timestep"]
REQUIRED = [*CELL, "n", "correct"]
PERTURBATIONS = ("clean", "corruption", "attack")
SUMMARY = ("model", "timestep", "clean_acc", "corruption_acc")


def _check(scores: pd.DataFrame) -> None:
    """Raise PcbenchError for empty scores, missing columns, unknown kinds or duplicate rows."""
    missing = [name for name in REQUIRED if name not in scores.columns]
    if missing:
        raise PcbenchError(f"scores lack column(s) {', '.join(missing)}")
    if scores.empty:
        raise PcbenchError("scores are empty: nothing to rank")
    unknown = sorted(map(str, set(scores["perturbation"]) - set(PERTURBATIONS)))
    if unknown:
        raise PcbenchError(f"unknown perturbation(s) {unknown} in scores: expected one of {list(PERTURBATIONS)}")
    copies = scores.groupby(CELL, dropna=False, sort=False).size()
    duplicated = copies[copies > 1]
    if not duplicated.empty:
        cell = dict(zip(CELL, duplicated.index[0], strict=True))
        raise PcbenchError(
            f"scores hold {duplicated.iloc[0]} copies of model {cell['model']!r} cell {_describe(cell)} "
            f"at timestep {cell['timestep']} (merged result directories?): keep only one"
        )


def _describe(cell: dict) -> str:
    """Short text naming a cell, e.g. ``corruption gaussian_noise severity 3``."""
    if cell["perturbation"] == "corruption":
        return f"corruption {cell['corruption']} severity {_number(cell['severity'])}"
    if cell["perturbation"] == "attack":
        return f"attack {cell['attack']} epsilon {_number(cell['epsilon'])}"
    return "clean"


def _number(value: object) -> str:
    """A severity or epsilon as ``%g`` (``2``, not ``2.0``); ``null`` when missing."""
    return "null" if pd.isna(value) else f"{value:g}"


def accuracy_columns(scores: pd.DataFrame) -> dict[str, pd.Series]:
    """Accuracy column name -> boolean mask of the rows pooled into it.

    Names and order are the leaderboard's (module docstring). Works on any frame with
    ``perturbation``, ``corruption``, ``attack`` and ``epsilon`` columns: score rows,
    or one row per cell.
    """
    kind = scores["perturbation"]
    corrupted = kind == "corruption"
    attacked = kind == "attack"
    columns: list[tuple[str, pd.Series]] = []
    if (kind == "clean").any():
        columns.append(("clean_acc", kind == "clean"))
    if corrupted.any():
        columns.append(("corruption_acc", corrupted))
    for corruption in in_corruption_order(scores.loc[corrupted, "corruption"]):
        columns.append((f"{corruption}_acc", corrupted & (scores["corruption"] == corruption)))
    budgets = scores.loc[attacked, ["attack", "epsilon"]].drop_duplicates()
    for attack, epsilon in sorted(budgets.itertuples(index=False, name=None)):
        mask = attacked & (scores["attack"] == attack) & (scores["epsilon"] == epsilon)
        columns.append((f"{attack}@{epsilon:g}_acc", mask))
    masks = dict(columns)
    if len(masks) < len(columns):
        names = [name for name, _ in columns]
        clash = next(name for name in names if names.count(name) > 1)
        raise PcbenchError(f"different cells would share the leaderboard column {clash!r}")
    return masks


def leaderboard_table(scores: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard of ``scores`` (columns documented in this module's docstring)."""
    _check(scores)
    order = {model: rank for rank, model in enumerate(pd.unique(scores["model"]))}
    rows = scores[ROW].drop_duplicates()
    rows = rows.sort_values(ROW, key=lambda col: col.map(order) if col.name == "model" else col, kind="stable")
    table = rows.set_index(ROW)
    for name, mask in accuracy_columns(scores).items():
        sums = scores.loc[mask, [*ROW, "correct", "n"]].groupby(ROW).sum()
        table[name] = sums["correct"] / sums["n"]
    return table.reset_index()


def write_leaderboard(scores: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Build the leaderboard, write it atomically as CSV (``%.4f`` floats), return it."""
    table = leaderboard_table(scores)
    atomic_write(Path(path), lambda handle: table.to_csv(handle, index=False, float_format="%.4f"))
    return table


def _percent(value: float) -> str:
    """An accuracy fraction as a percentage with one decimal; ``-`` when missing."""
    return "-" if pd.isna(value) else f"{100 * value:.1f}"


def format_leaderboard(table: pd.DataFrame, max_columns: int = 14) -> str:
    """Terminal view: model, timestep, clean, pooled corruption and attack accuracies in %.

    Per-corruption columns are left out (they are in the CSV); of the rest, the first
    ``max_columns`` are kept, and the ``_acc`` suffix is dropped from the headers.
    Returns a header line followed by one aligned line per row.
    """
    names = [c for c in table.columns if c in SUMMARY or (c.endswith("_acc") and "@" in c)]
    view = table[names[:max_columns]].copy()
    for name in view.columns:
        if name.endswith("_acc"):
            view[name] = view[name].map(_percent)
    return view.rename(columns=lambda name: name.removesuffix("_acc")).to_string(index=False)
