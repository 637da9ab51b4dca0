"""The evaluation set a suite's results directory belongs to, and replacing it.

A results directory ``<results>/<suite>/`` holds the cells of **one** evaluation set: the
same data set, split and evaluated samples (root content, ``limit`` and the subset's seed
all end up in the content hash of the evaluated images, labels and ids, the rows'
``dataset_hash``). A run whose evaluation set differs from the stored one is refused before
anything is evaluated or written (:func:`check_evaluation_set`), so a quick ``--limit 10``
check can never overwrite the cells of a long run under the same file names. The two ways
out are another ``--results`` directory, or ``--replace``, which drops the stored cells of
the run's models that belong to another set (:func:`drop_cells`) and then evaluates.

Decision: ``--limit`` runs do not get a separate namespace by default; the refusal names
both sets and both ways out, and the leaderboard refuses mixed sets as well
(:func:`pcbench.leaderboards.merge.load_results`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pcbench.errors import PcbenchError

SCORES, PREDICTIONS = "scores", "predictions"
_COLUMNS = ("model", "dataset", "split", "dataset_hash", "n", "limit")
_LISTED = 6  # models named per set before "and N more"


@dataclass(frozen=True)
class EvaluationSet:
    """What a cell was evaluated on: data set, split, sample count, ``limit`` and the
    content hash of the evaluated images, labels and ids (the identity)."""

    dataset: str
    split: str
    dataset_hash: str
    n: int
    limit: int | None = None

    def describe(self) -> str:
        """E.g. ``digits/test, 10 samples (limit 10, data hash 1a2b3c4d5e6f7a8b)``."""
        limit = "full split" if self.limit is None else f"limit {self.limit}"
        return f"{self.dataset}/{self.split}, {self.n} samples ({limit}, data hash {self.dataset_hash})"


@dataclass(frozen=True)
class StoredCell:
    """One committed cell: its file stem, model and evaluation set."""

    stem: str
    model: str
    evaluation_set: EvaluationSet


def stored_cells(root: Path) -> list[StoredCell]:
    """Every readable scores file under ``root`` with its model and evaluation set.

    Reads a few columns of each file; unreadable files are left out (they count as not done).
    """
    cells = []
    for path in sorted((Path(root) / SCORES).glob("*.parquet")):
        if path.name.startswith((".", "_")):
            continue
        try:
            names = pq.read_schema(path).names
            table = pq.read_table(path, columns=[c for c in _COLUMNS if c in names]).slice(0, 1)
        except (OSError, pa.ArrowException):
            continue
        row = table.to_pylist()
        if not row or any(c not in row[0] for c in _COLUMNS[:5]):
            continue
        first = row[0]
        limit = first.get("limit")
        evaluation_set = EvaluationSet(
            first["dataset"],
            first["split"],
            first["dataset_hash"],
            int(first["n"]),
            None if limit is None else int(limit),
        )
        cells.append(StoredCell(path.stem, first["model"], evaluation_set))
    return cells


def check_evaluation_set(
    root: Path, requested: EvaluationSet, models: Sequence[str], *, replace: bool = False
) -> list[StoredCell]:
    """The stored cells that ``--replace`` must drop before a run on ``requested``.

    Without ``replace``, any stored cell of another evaluation set is a
    :class:`PcbenchError` naming the stored and the requested set and the two ways out.
    With it, the cells of ``models`` from other sets are returned (to be dropped); cells of
    other models from other sets still refuse the run, since dropping them was not asked.
    """
    other = [cell for cell in stored_cells(root) if cell.evaluation_set.dataset_hash != requested.dataset_hash]
    if not other:
        return []
    if not replace:
        raise PcbenchError(
            f"{root} holds cells evaluated on {_sets(other)}, but this run evaluates "
            f"{requested.describe()}; refusing to mix them: write to another directory with "
            f"--results DIR, or pass --replace to drop the stored cells of {_models(other)}"
        )
    foreign = [cell for cell in other if cell.model not in models]
    if foreign:
        raise PcbenchError(
            f"{root} also holds cells of {_models(foreign)} evaluated on {_sets(foreign)}, which this run "
            f"does not evaluate; --replace drops only the run's own models: add them with -m, "
            "or write to another directory with --results DIR"
        )
    return other


def drop_cells(root: Path, cells: Iterable[StoredCell]) -> int:
    """Delete the scores and predictions files of ``cells``; return how many files went.

    Only files directly inside ``<root>/scores`` and ``<root>/predictions`` are deleted:
    a target that resolves anywhere else (a symlink, an odd stem) is refused.
    """
    removed = 0
    for cell in cells:
        for kind in (SCORES, PREDICTIONS):
            directory = (Path(root) / kind).resolve()
            path = Path(root) / kind / f"{cell.stem}.parquet"
            if path.is_symlink() or path.resolve().parent != directory:
                raise PcbenchError(f"refusing to delete {path}: it is not a results file inside {directory}")
            if path.is_file():
                path.unlink()
                removed += 1
    return removed


def _sets(cells: Sequence[StoredCell]) -> str:
    return " and ".join(sorted({cell.evaluation_set.describe() for cell in cells}))


def _models(cells: Sequence[StoredCell]) -> str:
    names = sorted({cell.model for cell in cells})
    more = f" and {len(names) - _LISTED} more" if len(names) > _LISTED else ""
    return ", ".join(names[:_LISTED]) + more
