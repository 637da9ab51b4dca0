"""Atomic, resumable Parquet storage of a suite's scores and per-sample predictions, one writer at a time."""

from pcbench.store.lock import results_lock
from pcbench.store.results import (
    CELL_KEY,
    cell_stem,
    commit_cell,
    read_predictions,
    read_scores,
    remove_stale_temp_files,
    stored_key,
)
from pcbench.store.schema import PREDICTIONS_SCHEMA, SCORES_SCHEMA

__all__ = [
    "CELL_KEY",
    "PREDICTIONS_SCHEMA",
    "SCORES_SCHEMA",
    "cell_stem",
    "commit_cell",
    "read_predictions",
    "read_scores",
    "remove_stale_temp_files",
    "results_lock",
    "stored_key",
]
