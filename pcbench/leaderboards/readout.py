"""The attack × read-out matrix: accuracy at every read-out timestep of the adversarial
images crafted against each attack time, per model and attack cell.

An ``attack_timestep = "each"`` cell attacks every evaluated timestep a separately; its
scores are the diagonal (images attacked at a, read at a) and its off-diagonal prediction
rows (``attacked_at`` not null, :mod:`pcbench.store.schema`) give the rest. The other
choices (``first``, ``last``, ``mean``, ``sum``) craft one set of images that the cell
already reads at every timestep: one row of the matrix, taken from the scores.

Rows of :func:`attack_readout_table` (the long CSV ``<suite>-attack-readout.csv``):

``model``, ``variant``, ``base``, ``cell``, ``attack``, ``epsilon``  the attack cell
``threat``            ``attack`` without its ``-<attack_timestep>`` suffix: cells that
                      differ only in the attack time share it (one heatmap panel)
``attack_timestep``   ``each``, ``first``, ``last``, ``mean`` or ``sum``
``attacked_at``       the timestep whose output the images were attacked at: a for
                      ``each``, 0 for ``first``, the model's last timestep for ``last``,
                      empty for ``mean`` and ``sum`` (every timestep at once)
``readout``           the timestep whose prediction is counted
``n``, ``correct``, ``accuracy``

The diagonal rows are the cell's score rows, so they equal the ``each`` numbers of every
other table exactly; nothing here is counted in those tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pcbench.files import atomic_write, inside

COLUMNS = [
    "model",
    "variant",
    "base",
    "cell",
    "attack",
    "epsilon",
    "threat",
    "attack_timestep",
    "attacked_at",
    "readout",
    "n",
    "correct",
    "accuracy",
]
#: Order of the rows of one panel after the ``each`` rows (which come first, by timestep).
SINGLE_ROWS = ("first", "last", "mean", "sum")
_CELL = ["model", "cell"]


def attack_readout_path(directory: Path, suite: str) -> Path:
    """``<directory>/<suite>-attack-readout.csv``."""
    return inside(directory, f"{suite}-attack-readout.csv")


def attack_readout_table(scores: pd.DataFrame, off_diagonal: pd.DataFrame | None) -> pd.DataFrame:
    """The matrix of every attack cell of ``scores`` in long form (:data:`COLUMNS`; empty
    without attack cells). ``off_diagonal``: the ``each`` cells' prediction rows with a
    non-null ``attacked_at`` (:attr:`pcbench.leaderboards.merge.Results.attack_readout`; None
    or empty: only the diagonal of those cells).

    Example::

        results = load_results("quick")
        table = attack_readout_table(results.scores, results.attack_readout)
        table.query("model == 'digits-pcnn' and attacked_at == 0 and readout == 10")
    """
    attacks = scores[scores["perturbation"] == "attack"].copy()
    if attacks.empty:
        return pd.DataFrame(columns=COLUMNS)
    attacks["attack_timestep"] = attacks["attack_timestep"].fillna("last")
    choice = attacks["attack_timestep"]
    last = attacks.groupby("model")["timestep"].transform("max")
    attacks["attacked_at"] = (
        attacks["timestep"].where(choice == "each").mask(choice == "first", 0).mask(choice == "last", last)
    ).astype("Int64")
    attacks["readout"] = attacks["timestep"]
    rows = [attacks]
    if off_diagonal is not None and not off_diagonal.empty:
        counted = (
            off_diagonal.assign(right=off_diagonal["prediction"] == off_diagonal["label"])
            .groupby([*_CELL, "attacked_at", "timestep"], sort=False)["right"]
            .agg(n="size", correct="sum")
            .reset_index()
            .rename(columns={"timestep": "readout"})
        )
        cells = attacks.drop_duplicates(_CELL).drop(columns=["attacked_at", "readout", "n", "correct"])
        rows.append(counted.merge(cells, on=_CELL, how="inner", validate="many_to_one"))
    table = pd.concat(rows, ignore_index=True)
    table["threat"] = [
        label if choice == "last" else label.replace(f"-{choice}", "", 1)
        for label, choice in zip(table["attack"], table["attack_timestep"], strict=True)
    ]
    table["n"] = table["n"].astype("int64")
    table["correct"] = table["correct"].astype("int64")
    table["accuracy"] = table["correct"] / table["n"]
    table["attacked_at"] = table["attacked_at"].astype("Int64")
    table["readout"] = table["readout"].astype("int64")
    order = {model: index for index, model in enumerate(pd.unique(scores["model"]))}
    cells = {cell: index for index, cell in enumerate(pd.unique(attacks["cell"]))}
    table = table.assign(_model=table["model"].map(order), _cell=table["cell"].map(cells))
    table = table.sort_values(["_model", "_cell", "attacked_at", "readout"], kind="stable", na_position="last")
    return table[COLUMNS].reset_index(drop=True)


@dataclass(frozen=True)
class Panel:
    """One heatmap panel: a model under one threat (attack without its attack time) at one ε.

    ``rows``: the attack-time labels (``each`` rows by the attacked timestep, then
    ``first``, ``last``, ``mean``, ``sum``); ``readouts``: the read-out timesteps;
    ``accuracy``: ``[rows, readouts]``, NaN where not evaluated.
    """

    model: str
    threat: str
    epsilon: float
    rows: list[str]
    readouts: list[int]
    accuracy: np.ndarray


def panels(table: pd.DataFrame) -> list[Panel]:
    """The heatmap panels of ``table`` (:func:`attack_readout_table`): one per (model, threat,
    ε), in table order."""
    found = []
    for (model, threat, epsilon), rows in table.groupby(["model", "threat", "epsilon"], sort=False):
        readouts = sorted(set(rows["readout"]))
        keyed = rows.assign(
            _row=[_row_label(c, a) for c, a in zip(rows["attack_timestep"], rows["attacked_at"], strict=True)]
        )
        labels = sorted(set(keyed["_row"]), key=_row_order)
        grid = np.full((len(labels), len(readouts)), np.nan)
        for label, readout, accuracy in keyed[["_row", "readout", "accuracy"]].itertuples(index=False):
            grid[labels.index(label), readouts.index(readout)] = accuracy
        found.append(Panel(str(model), str(threat), float(epsilon), labels, [int(r) for r in readouts], grid))
    return found


def _row_label(choice: str, attacked_at: object) -> str:
    """A panel row's label: the attacked timestep of an ``each`` row, else the choice."""
    return str(int(attacked_at)) if choice == "each" else choice  # type: ignore[call-overload]


def _row_order(label: str) -> tuple[int, int]:
    """``each`` rows by timestep first, then :data:`SINGLE_ROWS` in their order."""
    return (1, SINGLE_ROWS.index(label)) if label in SINGLE_ROWS else (0, int(label))


def write_attack_readout(table: pd.DataFrame, path: Path) -> Path:
    """Write ``table`` as CSV atomically (six significant digits); return ``path``."""
    atomic_write(path, lambda handle: table.to_csv(handle, index=False, float_format="%.6g"))
    return path
