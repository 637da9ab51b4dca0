"""One suite's results combined from several result directories (runs, machines).

A score row is identified by ``(model, cell, timestep)`` and its provenance by
``(cell_key, checkpoint_hash)``. Copies of the same row with the same provenance are
identical (the cell key covers everything that determines the numbers) and are kept
once. Copies with different provenance are a *conflict*: the same cell was computed
from a different model, checkpoint, data subset, seed or suite entry. Conflicts are
never averaged; by default they raise a one-line :class:`PcbenchError` naming the
cells, and ``on_conflict="first"`` keeps the copy of the first directory (in the order
given) that holds the row. Predictions follow their scores: a row's per-sample
predictions come from the directory whose score row was kept.

Rows of a registered model stored under another spec than the registry's now are left out,
with a warning; a PC variant without feedback weights is named untrained
(:mod:`pcbench.leaderboards.registered`).

Rows of different evaluation sets (data set, split or evaluated samples: the rows'
``dataset_hash``) are never compared: merging them is a :class:`PcbenchError` naming the
models and cells of each set. Rows from different package versions or devices are merged,
with a warning per differing column (:attr:`Results.warnings`), since floating point may
differ between them. Rows of different precisions or memory formats are merged with a
warning of their own (the two differ more than floating point between machines).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import pandas as pd

from pcbench.errors import PcbenchError
from pcbench.leaderboards.registered import check_against_registry
from pcbench.store import read_predictions, read_scores

#: What ``--on-conflict`` does with a cell stored twice with different provenance: refuse, or keep the first copy.
OnConflict = Literal["error", "first"]
ON_CONFLICT: tuple[OnConflict, ...] = get_args(OnConflict)
ROW_ID = ["model", "cell", "timestep"]
PROVENANCE = ["cell_key", "checkpoint_hash"]
#: Score columns saying how the numbers were computed (:mod:`pcbench.models.precision`).
NUMERICS = ("precision", "memory_format")
SCORE_ORDER = ["model", "perturbation", "corruption", "severity", "attack", "epsilon", "timestep"]
_SOURCE = "_source"
_LISTED = 8  # conflicting cells named in the error message before "and N more"


@dataclass(frozen=True)
class Results:
    """Scores and per-sample predictions of one suite, merged over ``directories``.

    ``predictions`` are the cells' own rows (what the scores count); ``attack_readout`` the
    off-diagonal attack × read-out rows of ``each`` attack cells (non-null ``attacked_at``,
    :mod:`pcbench.store.schema`), None where the results were built without them.
    """

    suite: str
    directories: tuple[Path, ...]
    scores: pd.DataFrame
    predictions: pd.DataFrame
    warnings: tuple[str, ...] = ()
    attack_readout: pd.DataFrame | None = None


def load_results(directories: Sequence[Path], suite: str, on_conflict: str = "error") -> Results:
    """Read ``<directory>/<suite>/`` of every directory and merge them (see module docstring).

    Raises PcbenchError for an unknown ``on_conflict``, for results that are all stale, for a
    directory without results or
    with an incomplete cell, i.e. one whose scores and predictions files are not both whole
    with the same cell key (from :func:`pcbench.store.read_scores` and
    :func:`~pcbench.store.read_predictions`, one line naming the cells), and, with
    ``on_conflict="error"``, for conflicts.
    """
    if on_conflict not in ON_CONFLICT:
        raise PcbenchError(f"--on-conflict {on_conflict!r} is not allowed: one of {', '.join(ON_CONFLICT)}")
    directories = tuple(Path(directory) for directory in directories)
    if not directories:
        raise PcbenchError("no --results directory given: name at least one")
    scores = merge_scores([read_scores(directory / suite) for directory in directories], directories, on_conflict)
    scores, registry_warnings = check_against_registry(scores)
    if scores.empty:
        raise PcbenchError(f"no current results of suite '{suite}' are left: {'; '.join(registry_warnings)}")
    check_one_evaluation_set(scores)
    predictions = pd.concat(
        [
            read_predictions(directory / suite, matrix=True).merge(
                scores.loc[scores[_SOURCE] == index, ROW_ID], on=ROW_ID, how="inner", validate="many_to_one"
            )
            for index, directory in enumerate(directories)
        ],
        ignore_index=True,
    )
    off_diagonal = predictions["attacked_at"].notna()
    return Results(
        suite=suite,
        directories=directories,
        scores=scores.drop(columns=_SOURCE),
        predictions=predictions[~off_diagonal].reset_index(drop=True),
        warnings=(*registry_warnings, *provenance_warnings(scores)),
        attack_readout=predictions[off_diagonal].reset_index(drop=True),
    )


def check_one_evaluation_set(scores: pd.DataFrame) -> None:
    """Raise :class:`PcbenchError` when ``scores`` hold more than one evaluation set.

    The data hash covers the evaluated images, labels and sample ids, so it tells sets
    apart; an attack with a ``limit`` evaluates a subset of its set (smaller ``n``, same
    data hash). The message names, per set (data set, split, samples, data hash), its models
    and a few of their cells, and what to do.
    """
    sets = scores.groupby(["dataset", "split", "dataset_hash"], sort=False, dropna=False)
    if sets.ngroups <= 1:
        return
    described = []
    for (dataset, split, data_hash), rows in sets:
        n = rows["n"].max()
        cells = [f"{model} {cell}" for model, cell in rows[["model", "cell"]].drop_duplicates().itertuples(index=False)]
        more = f" and {len(cells) - _LISTED} more" if len(cells) > _LISTED else ""
        described.append(f"{dataset}/{split}, {n} samples (data hash {data_hash}): {', '.join(cells[:_LISTED])}{more}")
    raise PcbenchError(
        f"the results mix {sets.ngroups} evaluation sets, which cannot be compared: {' | '.join(described)} — "
        "rerun the models on one set (same dataset, root, --limit and seed), or keep each set in its own "
        "--results directory"
    )


def provenance_warnings(scores: pd.DataFrame) -> tuple[str, ...]:
    """One line per provenance column (package versions, device, precision, memory format)
    whose value differs between rows.

    Rows of different precisions (``fp32``, ``bf16``, ...) are never put side by side
    silently: their line says so, naming each precision's models, in every report and on
    the command line.
    """
    columns = [c for c in scores.columns if c.endswith("_version")] + ["device", *NUMERICS]
    warnings = []
    for column in columns:
        if column not in scores.columns:
            continue
        groups = scores.dropna(subset=[column]).groupby(column, sort=True)["model"].unique()
        if len(groups) > 1:
            listed = "; ".join(f"{value} ({', '.join(models)})" for value, models in groups.items())
            if column in NUMERICS:
                warnings.append(
                    f"rows of different {column.replace('_', ' ')}s are mixed in these tables: {listed}; "
                    "their numbers are not computed alike (docs/precision.md)"
                )
                continue
            warnings.append(
                f"rows come from different {column.removesuffix('_version')} "
                f"{'values' if column == 'device' else 'versions'}: {listed}; "
                "floating point may differ between them"
            )
    return tuple(warnings)


def merge_scores(
    tables: Sequence[pd.DataFrame], directories: Sequence[Path], on_conflict: str = "error"
) -> pd.DataFrame:
    """Concatenate score tables, keep one copy per row and check provenance.

    The result has a ``_source`` column: the position in ``tables`` of each kept row's
    table. Rows are sorted by model, cell and timestep.
    """
    merged = pd.concat([table.assign(**{_SOURCE: index}) for index, table in enumerate(tables)], ignore_index=True)
    merged = merged.infer_objects()  # an all-null column of one table must not turn the merged one into objects
    versions = merged[ROW_ID + PROVENANCE].drop_duplicates()
    clashing = versions[versions.duplicated(ROW_ID, keep=False)]
    if not clashing.empty and on_conflict == "error":
        raise PcbenchError(_conflict_message(merged.merge(clashing[ROW_ID].drop_duplicates(), on=ROW_ID), directories))
    kept = merged.drop_duplicates(ROW_ID, keep="first")
    return kept.sort_values(SCORE_ORDER, kind="stable", na_position="last").reset_index(drop=True)


def _conflict_message(rows: pd.DataFrame, directories: Sequence[Path]) -> str:
    """One line naming each conflicting (model, cell), its timesteps and the directories involved."""
    named = []
    for (model, cell), group in rows.groupby(["model", "cell"], sort=True):
        timesteps = sorted(set(group["timestep"]))
        span = f"{timesteps[0]}" if len(timesteps) == 1 else f"{timesteps[0]}-{timesteps[-1]}"
        where = ", ".join(str(directories[index]) for index in sorted(set(group[_SOURCE])))
        named.append(f"{model} {cell} t{span} ({where})")
    more = f" and {len(named) - _LISTED} more" if len(named) > _LISTED else ""
    return (
        f"{len(named)} cell(s) stored with different cell_key or checkpoint_hash: {'; '.join(named[:_LISTED])}{more}"
        " — remove the stale results or pass --on-conflict first to keep the first --results directory's copy"
    )
