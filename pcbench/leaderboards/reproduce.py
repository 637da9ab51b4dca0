"""Reproduction as a feature: compare this machine's long leaderboard with a reference ``<suite>.csv``.

``pcbench compare SUITE --against REFERENCE.csv`` builds the leaderboard as usual, then
matches its long table (:mod:`~pcbench.leaderboards.metrics`) with the reference row by
row on (model, metric, timestep). Decisions:

Compared as written
    This machine's ``value``, ``ci_low`` and ``ci_high`` are formatted with
    :data:`FLOAT_FORMAT` (``%.6g``, as :func:`~pcbench.leaderboards.board.write_csvs`
    writes them) before comparing, so a row is *equal* exactly when its CSV line would be
    byte-identical: the three written values and ``n``.
Bitwise
    Every metric that does not depend on an attack (``clean_acc``, ``corruption_acc``,
    ``<corruption>_acc``, ``mean_corruption_acc_15``/``_19``, ``mce``, ``relative_mce``,
    ``relative_corruption_error``) must be equal; any difference *differs*.
Within tolerance
    Attack metrics (``<attack>@<ε>_acc``, i.e. names containing ``@``, and
    ``best_known_*``) may differ by up to :func:`allowed_samples` = max(2, 1 % of n)
    correctly classified samples, because floating-point differences between CPUs can
    flip a borderline sample during an iterative attack. ``n`` must match exactly.
Reduced precision
    A model whose rows here were computed at another precision than fp32 (``tf32``,
    ``bf16``, ``fp16``: the rows' ``precision``, :mod:`pcbench.models.precision`) cannot
    match an fp32 reference bitwise: every one of its metrics is compared within tolerance,
    accuracies by up to :func:`allowed_reduced_samples` = max(3, 2 % of n) samples, other
    metrics (mean corruption accuracies, mCE, relative mCE, relative corruption error) by
    up to :data:`REDUCED_RELATIVE` (2 %) of the reference's value (what bf16 changed on
    ``quick``: docs/precision.md). ``n`` must match exactly.
Δ samples
    For accuracies (``*_acc``): Δcorrect = round(value · n) here − the same in the
    reference (= round(Δvalue × n) when the n match). For the aggregates (mean
    corruption accuracies, mCE, relative mCE, relative corruption error) only the value
    difference. Every compared row also says whether this machine's value lies inside the
    reference's interval [ci_low, ci_high].
Missing and extra rows
    A reference row absent here is *missing here* and a failure; a row only here is
    *extra here*, listed but no failure.

The leaderboard is reproduced when no row differs and none is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pcbench.errors import PcbenchError
from pcbench.leaderboards.metrics import COLUMNS, NOTE
from pcbench.leaderboards.outcomes import BEST_KNOWN

FLOAT_FORMAT = "%.6g"
KEYS = ["model", "metric", "timestep"]
WRITTEN = ["value", "ci_low", "ci_high"]
TOLERANCE_SAMPLES = 2
TOLERANCE_PERCENT = 1
REDUCED_SAMPLES = 3
REDUCED_PERCENT = 2
#: Relative |Δvalue| a metric of a reduced-precision model that is not an accuracy may differ by.
REDUCED_RELATIVE = 0.02
EQUAL, WITHIN, DIFFERS, MISSING, EXTRA = "equal", "within tolerance", "differs", "missing here", "extra here"
STATUSES = (EQUAL, WITHIN, DIFFERS, MISSING, EXTRA)
#: Columns of :attr:`Reproduction.rows`.
ROW_COLUMNS = [
    "model",
    "metric",
    "timestep",
    "status",
    "reference",
    "here",
    "delta_samples",
    "delta_value",
    "allowed",
    "inside_ci",
    "n_reference",
    "n_here",
]


def is_attack_metric(metric: str) -> bool:
    """Whether ``metric`` depends on an attack and is compared within tolerance.

    >>> [is_attack_metric(name) for name in ("fgsm@0.05_acc", "best_known_linf@0.1_acc", "mce")]
    [True, True, False]
    """
    return "@" in metric or metric.startswith(BEST_KNOWN)


def allowed_samples(n: int) -> int:
    """The |Δcorrect| an attack metric over ``n`` samples may differ by: max(2, 1 % of n).

    >>> allowed_samples(20), allowed_samples(360)
    (2, 3)
    """
    return max(TOLERANCE_SAMPLES, n * TOLERANCE_PERCENT // 100)


def allowed_reduced_samples(n: int) -> int:
    """The |Δcorrect| any accuracy of a reduced-precision model over ``n`` samples may differ
    by: max(3, 2 % of n).

    >>> allowed_reduced_samples(60), allowed_reduced_samples(1000)
    (3, 20)
    """
    return max(REDUCED_SAMPLES, n * REDUCED_PERCENT // 100)


def reduced_precision_models(scores: pd.DataFrame) -> tuple[str, ...]:
    """Models with a score row computed at another precision than fp32, in order of appearance.

    >>> reduced_precision_models(pd.DataFrame({"model": ["a", "b", "b"], "precision": ["fp32", "fp32", "bf16"]}))
    ('b',)
    """
    return tuple(pd.unique(scores.loc[scores["precision"] != "fp32", "model"]))


@dataclass(frozen=True)
class Reproduction:
    """The comparison of a long leaderboard with a reference.

    ``rows``: one row per (model, metric, timestep) of either table, the reference's
    first, columns :data:`ROW_COLUMNS`: ``status`` (one of :data:`STATUSES`), the
    ``reference`` and ``here`` values as written, ``delta_samples`` (Δcorrect, accuracies
    only), ``delta_value``, ``allowed`` (|Δcorrect| tolerated: 0 for bitwise metrics, null
    for a reduced-precision model's aggregates, which are bounded relatively),
    ``inside_ci`` (here's value inside the reference's interval) and both ``n``.
    ``counts``: rows per status (columns :data:`STATUSES`), indexed by model; ``reduced``:
    the models compared as reduced precision.
    """

    rows: pd.DataFrame
    counts: pd.DataFrame
    reduced: tuple[str, ...] = ()

    @property
    def failures(self) -> int:
        """Rows that differ beyond tolerance or are missing here."""
        return int(self.rows["status"].isin([DIFFERS, MISSING]).sum())

    @property
    def reproduced(self) -> bool:
        """True when every reference row is here, equal or within tolerance."""
        return self.failures == 0


def read_reference(path: Path) -> pd.DataFrame:
    """The reference long leaderboard at ``path`` (columns :data:`~pcbench.leaderboards.metrics.COLUMNS`,
    and the optional ``note``, which is not compared).

    PcbenchError, one line naming the file and the expected columns, when it is missing,
    not a CSV, has other columns, non-numeric values, no rows or a (model, metric,
    timestep) twice. Example: ``read_reference(Path("leaderboards/quick.csv"))``.
    """
    path = Path(path)
    if not path.is_file():
        raise _bad_reference(path, "no such file")
    try:
        frame = pd.read_csv(path)
    except ValueError as exc:  # ParserError, EmptyDataError, UnicodeDecodeError
        raise _bad_reference(path, f"not readable as CSV ({' '.join(str(exc).split())})") from exc
    if set(frame.columns) - {NOTE} != set(COLUMNS):
        raise _bad_reference(path, f"its columns are {', '.join(map(str, frame.columns))}")
    if frame.empty:
        raise _bad_reference(path, "it has no rows")
    integers = all(pd.api.types.is_integer_dtype(frame[column]) for column in ("timestep", "n"))
    if not integers or not all(pd.api.types.is_numeric_dtype(frame[column]) for column in WRITTEN):
        raise _bad_reference(path, "timestep and n must be integers, value, ci_low and ci_high numbers")
    frame = frame[COLUMNS].astype({"model": str, "metric": str})
    twice = frame[frame.duplicated(KEYS)]
    if not twice.empty:
        model, metric, timestep = twice.iloc[0][KEYS]
        raise _bad_reference(path, f"({model}, {metric}, {timestep}) appears twice")
    return frame


def _bad_reference(path: Path, problem: str) -> PcbenchError:
    return PcbenchError(
        f"--against {path}: {problem}; expected a long leaderboard CSV with columns {', '.join(COLUMNS)}"
    )


def compare_to_reference(metrics: pd.DataFrame, reference: pd.DataFrame, reduced: Sequence[str] = ()) -> Reproduction:
    """Compare the long table ``metrics`` (this machine) with ``reference``, row by row.

    Both have the columns :data:`~pcbench.leaderboards.metrics.COLUMNS`; the rules are in
    the module docstring; ``reduced`` names the models whose rows here are of reduced
    precision (:func:`reduced_precision_models`). Example::

        >>> row = {"model": "m", "metric": "fgsm@0.05_acc", "timestep": 0, "ci_low": 0.6, "ci_high": 0.9}
        >>> row["n"] = 20
        >>> here, reference = pd.DataFrame([{**row, "value": 0.8}]), pd.DataFrame([{**row, "value": 0.75}])
        >>> result = compare_to_reference(here, reference)
        >>> result.rows.loc[0, "status"], int(result.rows.loc[0, "delta_samples"]), result.reproduced
        ('within tolerance', 1, True)
    """
    ours, theirs = _as_written(metrics), _as_written(reference)
    keys = pd.concat([theirs[KEYS], ours[KEYS]]).drop_duplicates()
    rows = keys.merge(theirs, on=KEYS, how="left")
    rows = rows.merge(ours, on=KEYS, how="left", suffixes=("_reference", "_here"))
    in_reference, in_here = rows["n_reference"].notna(), rows["n_here"].notna()
    both = in_reference & in_here
    same_n = both & (rows["n_reference"] == rows["n_here"])
    same = same_n & np.logical_and.reduce([rows[f"{c}_reference"] == rows[f"{c}_here"] for c in WRITTEN])
    value = {side: rows[f"value_{side}"].astype(float) for side in ("reference", "here")}
    correct = {side: (value[side] * rows[f"n_{side}"]).round() for side in value}
    accuracy = rows["metric"].str.endswith("_acc")
    attack = rows["metric"].map(is_attack_metric).astype(bool)
    delta_samples = (correct["here"] - correct["reference"]).where(accuracy)
    lenient = rows["model"].isin(list(reduced))
    n = rows["n_reference"].fillna(0).astype(int)
    allowed = n.map(allowed_samples).where(attack, 0).where(~lenient, n.map(allowed_reduced_samples))
    allowed = allowed.where(both & ~(lenient & ~accuracy))  # reduced-precision aggregates: a relative bound
    close = (value["here"] - value["reference"]).abs() <= REDUCED_RELATIVE * value["reference"].abs()
    within = same_n & (
        ((attack | lenient) & (delta_samples.abs() <= allowed)) | (lenient & ~accuracy & close.fillna(False))
    )
    low, high = (rows[f"{bound}_reference"].astype(float) for bound in ("ci_low", "ci_high"))
    inside = (low <= value["here"]) & (value["here"] <= high)
    table = rows[KEYS].assign(
        status=np.select([same, within, both, in_reference], [EQUAL, WITHIN, DIFFERS, MISSING], EXTRA),
        reference=value["reference"],
        here=value["here"],
        delta_samples=delta_samples.astype("Int64"),
        delta_value=value["here"] - value["reference"],
        allowed=allowed.astype("Int64"),
        inside_ci=inside.astype("boolean").where(both),
        n_reference=rows["n_reference"].astype("Int64"),
        n_here=rows["n_here"].astype("Int64"),
    )[ROW_COLUMNS]
    counts = pd.crosstab(table["model"], table["status"]).reindex(
        index=pd.unique(table["model"]), columns=list(STATUSES), fill_value=0
    )
    return Reproduction(table, counts.rename_axis(index="model", columns=None), tuple(reduced))


def _as_written(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame``'s long columns with the values as the CSV writes them (strings, :data:`FLOAT_FORMAT`)."""
    frame = frame[COLUMNS].astype({"timestep": int, "n": int})
    return frame.assign(**{column: frame[column].map(lambda v: FLOAT_FORMAT % v) for column in WRITTEN})


def format_reproduction(reproduction: Reproduction) -> str:
    """One summary line per model, a table of every row that is not equal, and the verdict.

    Example of a verdict line: ``reproduced: no (1 row differs, 2 rows missing here)``.
    """
    lines = [
        _model_line(str(model), counts, model in reproduction.reduced)
        for model, counts in reproduction.counts.iterrows()
    ]
    unequal = reproduction.rows[reproduction.rows["status"] != EQUAL]
    if not unequal.empty:
        lines += ["", _unequal_view(unequal).to_string(index=False), ""]
    counts = reproduction.counts.sum()
    failures = {
        DIFFERS: _count(counts[DIFFERS], "row", "differs", "differ"),
        MISSING: _count(counts[MISSING], "row", "missing here"),
    }
    failed = [text for status, text in failures.items() if counts[status]]
    lines.append("reproduced: yes" if reproduction.reproduced else f"reproduced: no ({', '.join(failed)})")
    return "\n".join(lines)


def _model_line(model: str, counts: pd.Series, reduced: bool = False) -> str:
    """E.g. ``digits-cnn: 231 rows equal, 12 within tolerance (attacks), 0 differ``."""
    parts = [
        _count(counts[EQUAL], "row", "equal"),
        f"{counts[WITHIN]} within tolerance ({'reduced precision: every metric' if reduced else 'attacks'})",
        f"{counts[DIFFERS]} differ",
    ]
    parts += [f"{counts[status]} {status}" for status in (MISSING, EXTRA) if counts[status]]
    return f"{model}: {', '.join(parts)}"


def _count(number: int, noun: str, verb: str, plural_verb: str | None = None) -> str:
    """``1 row differs``, ``3 rows differ``, ``2 rows equal``."""
    if number == 1:
        return f"1 {noun} {verb}"
    return f"{number} {noun}s {plural_verb or verb}"


def _unequal_view(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows that are not equal, as strings for the terminal (``-`` where a side is absent)."""

    def written(value: float) -> str:
        return "-" if pd.isna(value) else FLOAT_FORMAT % value

    def delta(row: pd.Series) -> str:
        if pd.notna(row["delta_samples"]):
            return f"{row['delta_samples']:+d}"
        return "-" if pd.isna(row["delta_value"]) else f"{row['delta_value']:+.6g} (value)"

    return pd.DataFrame(
        {
            "model": rows["model"],
            "metric": rows["metric"],
            "timestep": rows["timestep"],
            "reference": rows["reference"].map(written),
            "here": rows["here"].map(written),
            "Δ samples": rows.apply(delta, axis=1),
            "allowed": rows["allowed"].map(lambda a: "-" if pd.isna(a) else str(a)),
            "inside CI": rows["inside_ci"].map(lambda inside: "-" if pd.isna(inside) else ("no", "yes")[inside]),
            "status": rows["status"],
        }
    )
