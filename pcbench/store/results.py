"""On-disk results of one suite: a scores and a predictions Parquet dataset.

Layout under ``root = <results>/<suite>/``::

    scores/<stem>.parquet       one row per (model, cell, timestep), as the runner built it
    predictions/<stem>.parquet  per-sample predictions of that cell (long format:
                                model, cell, sample_id, label, timestep, prediction,
                                attacked_at: null but on the off-diagonal rows of an
                                ``each`` attack's attack × read-out matrix)
    .lock, .lock.holder         held by the one run writing here (:mod:`pcbench.store.lock`)

There is one file pair per (model, cell), named by :func:`cell_stem`. Every file of a
dataset has exactly its explicit schema (:mod:`pcbench.store.schema`), so any Parquet reader
takes a directory as one table. Both files carry the cell key in their Parquet schema
metadata under :data:`CELL_KEY` (next to pandas' metadata).

Writes are atomic: each file is written to a hidden temporary file (name starting with
``.``, which Parquet datasets and the readers here ignore) in the same directory,
fsynced, then ``os.replace``-d onto its final name. Predictions are committed before
scores, so a killed run leaves hidden temp files, or a new predictions file next to the
cell's old scores file (or none).

**A cell is done only when both of its files are whole and carry the same key.**
Decision: the check reads both footers (:func:`stored_key`), not a third marker file
naming the two files' hashes. A footer read is a fraction of a millisecond; a readable
footer means the file is whole, since a truncated file loses its footer and a partly
written one is never visible under its final name; the keys tie the two halves to one
computation. A marker would be a third file to keep in step, and verifying its hashes
would mean reading every byte of every cell on each resume. So a kill between the two
renames, a truncated or a missing half all make the cell "not done": the next run
recomputes it and overwrites both files. :func:`read_scores` and :func:`read_predictions`
check the same on every cell (the files they read in full, the other half by its footer)
and refuse a directory with an incomplete cell in one line naming it, rather than
silently dropping its rows. Files written before pcbench stored keys carry none: such a
pair reads as consistent, but is never "done" for resume.
"""

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pcbench.errors import PcbenchError
from pcbench.files import TEMP_SUFFIX, atomic_write
from pcbench.store.schema import DEFAULTS, PREDICTIONS_SCHEMA, SCORES_SCHEMA

CELL_KEY = b"pcbench.cell_key"
SCORES = "scores"
PREDICTIONS = "predictions"
SCORE_SORT = ("model", "perturbation", "corruption", "severity", "attack", "epsilon", "timestep")
PREDICTION_SORT = ("model", "cell", "attacked_at", "timestep", "sample_id")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_MAX_PART = 80  # characters kept of model and label: stems stay far below NAME_MAX
_SCHEMAS = {SCORES: SCORES_SCHEMA, PREDICTIONS: PREDICTIONS_SCHEMA}
_NULLABLE_DTYPES = {
    pa.int64(): pd.Int64Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.float64(): pd.Float64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}
_LISTED = 8  # incomplete cells named in an error message before "and N more"


def cell_stem(model: str, cell_label: str) -> str:
    """File stem of a (model, cell): ``<model>__<label>__<8 hex>``, filesystem safe.

    Characters outside ``[A-Za-z0-9._-]`` become ``-`` and each part is cut to 80
    characters, which keeps the name readable; the suffix, the first 8 hex digits of
    sha256(``model \\0 label``), is always appended, so distinct (model, label) pairs
    never share a stem (up to a 32-bit hash collision). A leading ``.`` or ``_`` is
    replaced by ``-`` so that Parquet readers never take the file for a hidden one.
    """
    digest = hashlib.sha256(f"{model}\0{cell_label}".encode()).hexdigest()[:8]
    parts = (_UNSAFE.sub("-", part)[:_MAX_PART] for part in (model, cell_label))
    stem = "__".join((*parts, digest))
    return "-" + stem[1:] if stem.startswith((".", "_")) else stem


def _path(root: Path, kind: str, stem: str) -> Path:
    """The visible Parquet file of one cell in the ``scores`` or ``predictions`` dataset."""
    return Path(root) / kind / f"{stem}.parquet"


@dataclass(frozen=True)
class _Half:
    """One file of a cell as its Parquet footer shows it.

    ``problem`` is ``"missing"``, ``"unreadable"`` (the footer does not parse: truncated or
    not Parquet) or None for a whole file; ``key`` is the file's cell key (None without one).
    """

    problem: str | None = None
    key: str | None = None


def _key_in(schema: pa.Schema) -> str | None:
    """The cell key in a file's schema metadata, None when it has none."""
    key = (schema.metadata or {}).get(CELL_KEY)
    return None if key is None else key.decode()


def _read_half(path: Path, kind: str) -> _Half:
    """What the footer of ``path``, a file of the ``kind`` dataset, says; reads nothing else.
    A file whose columns are not the dataset's (the other dataset's file copied over it) is
    ``"of the wrong dataset"``."""
    if not path.is_file():
        return _Half("missing")
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException):
        return _Half("unreadable")
    if _foreign_columns(schema, kind):
        return _Half("of the wrong dataset")
    return _Half(key=_key_in(schema))


def _foreign_columns(schema: pa.Schema, kind: str) -> list[str]:
    """Columns of a ``kind`` file that the ``kind`` dataset does not have."""
    return [name for name in schema.names if name not in _SCHEMAS[kind].names]


def _disagreement(scores: _Half, predictions: _Half) -> str | None:
    """Why two files do not make a complete cell (e.g. ``predictions file missing``); None when they do."""
    for kind, half in ((SCORES, scores), (PREDICTIONS, predictions)):
        if half.problem is not None:
            return f"{kind} file {half.problem}"
    return None if scores.key == predictions.key else "its two files carry different cell keys"


def stored_key(root: Path, stem: str) -> str | None:
    """The cell key of a done cell, None when the cell is not done.

    Done means both files are whole and carry the same key (see the module docstring); only
    the two Parquet footers are read. A missing, truncated or corrupt half, or halves with
    different keys (a run killed between the two renames of :func:`commit_cell`), mean "not
    done", so the runner recomputes the cell and :func:`commit_cell` overwrites both files.
    """
    scores, predictions = (_read_half(_path(root, kind, stem), kind) for kind in (SCORES, PREDICTIONS))
    return None if _disagreement(scores, predictions) else scores.key


def _names(columns: list[str]) -> str:
    """Column names for an error message: ``'a', 'b'``."""
    return ", ".join(repr(name) for name in columns)


def _to_table(frame: pd.DataFrame, kind: str, stem: str) -> pa.Table:
    """``frame`` as an Arrow table of exactly the ``kind`` dataset's schema.

    Raises PcbenchError naming the column(s) when the frame has a column the schema lacks
    or lacks one of its columns, or when a value does not fit its field (wrong type, an
    integer out of range, a null in a field that is never null).
    """
    schema = _SCHEMAS[kind]
    extra = [name for name in frame.columns if name not in schema.names]
    missing = [name for name in schema.names if name not in frame.columns]
    where = f"{kind} of cell {stem}"
    problems = [
        f"{label} {_names(names)}"
        for label, names in (("columns not in the schema:", extra), ("missing columns:", missing))
        if names
    ]
    if problems:
        raise PcbenchError(f"{where}: {'; '.join(problems)} (the frame and pcbench/store/schema.py must agree)")
    try:
        return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    except (pa.ArrowException, ValueError) as error:
        reason = " ".join(str(error).split())
        raise PcbenchError(f"{where} does not fit pcbench/store/schema.py: {reason}") from error


def _write_parquet(path: Path, table: pa.Table, key: str) -> None:
    """Atomically write ``table`` as zstd Parquet with ``key`` added to its schema metadata."""
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), CELL_KEY: key.encode()})
    atomic_write(path, lambda handle: pq.write_table(table, handle, compression="zstd"))


def commit_cell(root: Path, stem: str, key: str, scores: pd.DataFrame, predictions: pd.DataFrame) -> None:
    """Store one finished cell, predictions first and scores last, replacing any old pair.

    Both frames are converted to their datasets' schemas before anything is written, so a
    frame that does not fit (PcbenchError, see :func:`_to_table`) leaves the old pair as it was.
    Call it only while holding the results directory's lock (:mod:`pcbench.store.lock`).
    """
    prediction_table = _to_table(predictions, PREDICTIONS, stem)
    score_table = _to_table(scores, SCORES, stem)
    _write_parquet(_path(root, PREDICTIONS, stem), prediction_table, key)
    _write_parquet(_path(root, SCORES, stem), score_table, key)


def _visible_files(directory: Path) -> list[Path]:
    """The dataset's ``*.parquet`` files in name order, without hidden (``.``/``_``) ones."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*.parquet") if not p.name.startswith((".", "_")))


def _read_file(path: Path, model: str | None) -> pa.Table:
    """One Parquet file, only the rows of ``model`` when given (a pyarrow filter)."""
    if model is None:
        return pq.read_table(path)
    if "model" not in pq.read_schema(path).names:
        raise PcbenchError(f"cannot select model {model!r}: {path} has no 'model' column")
    return pq.read_table(path, filters=[("model", "==", model)])


def _conform(table: pa.Table, schema: pa.Schema, path: Path) -> pa.Table:
    """One file's ``table`` in exactly ``schema``, in its column order and without metadata.

    Files written before the explicit schema have Parquet ``null`` columns where their cell
    left a column empty, and lack columns added since (``limit``); both become typed nulls,
    except a column with a value in :data:`~pcbench.store.schema.DEFAULTS`, which takes it.
    Raises PcbenchError naming the file and the column for a column the schema lacks, a
    missing column that is never null, or a column whose values do not cast.
    """
    extra = [name for name in table.column_names if name not in schema.names]
    if extra:
        raise PcbenchError(f"{path} has columns {_names(extra)} that are not in pcbench/store/schema.py")
    columns = []
    for field in schema:
        if field.name not in table.column_names:
            if field.name in DEFAULTS:
                columns.append(pa.array([DEFAULTS[field.name]] * len(table), field.type))
                continue
            if not field.nullable:
                raise PcbenchError(f"{path} has no {field.name!r} column")
            columns.append(pa.nulls(len(table), field.type))
            continue
        column = table.column(field.name)
        try:
            columns.append(column.cast(field.type))
        except pa.ArrowException as error:
            raise PcbenchError(
                f"{path}: column {field.name!r} of type {column.type} does not cast to {field.type}"
            ) from error
    return pa.Table.from_arrays(columns, schema=schema)


def _to_pandas(table: pa.Table, schema: pa.Schema) -> pd.DataFrame:
    """``table`` as pandas; the schema's nullable int64 / int16 / float64 fields become ``Int64`` /
    ``Int16`` / ``Float64``.

    The dtypes follow the schema, not the pandas metadata of whichever file was read first,
    so they are the same whether or not a directory holds files written before a column existed.
    """
    frame = table.to_pandas()
    for field in schema:
        if field.nullable and field.type in _NULLABLE_DTYPES:
            frame[field.name] = table.column(field.name).to_pandas(types_mapper=_NULLABLE_DTYPES.get)
    return frame


def _read_dataset(root: Path, kind: str, sort: tuple[str, ...], model: str | None = None) -> pd.DataFrame:
    """Concatenate one dataset's files in its schema, optionally keep one model, sort deterministically.

    Raises PcbenchError when there is no file, when a file is unreadable (naming it) or
    does not fit the schema (see :func:`_conform`), when ``model`` is given but a file has
    no ``model`` column to filter on, or when a cell is incomplete (:func:`_check_cells`).
    """
    root = Path(root)
    directory = root / kind
    files = _visible_files(directory)
    if not files:
        raise PcbenchError(f"no {kind} files in {directory}: run `pcbench run {root.name}` first")
    schema = _SCHEMAS[kind]
    tables = []
    keys: dict[str, str | None] = {}  # stem -> cell key of each file read
    for path in files:
        try:
            table = _read_file(path, model)
        except (OSError, pa.ArrowException) as error:
            reason = " ".join(str(error).split())
            raise PcbenchError(
                f"corrupt results file {path} ({reason}): rerun `pcbench run {root.name}` to recompute it"
            ) from error
        keys[path.stem] = _key_in(table.schema)
        held = table if model is None else _cell_columns(path)  # a filtered table may hide another's rows
        _check_file_holds_its_cell(table.schema, held, path, kind, root.name)
        tables.append(_conform(table, schema, path))
    _check_cells(root, kind, keys)
    table = pa.concat_tables(tables)
    keys = [(name, "ascending") for name in sort if name in table.column_names]
    if keys:
        table = table.sort_by(keys)  # stable; nulls sort last
    return _to_pandas(table, schema)


def _cell_columns(path: Path) -> pa.Table:
    """The ``model`` and ``cell`` columns of every row of ``path`` (those it has)."""
    return pq.read_table(path, columns=[name for name in ("model", "cell") if name in pq.read_schema(path).names])


def _check_file_holds_its_cell(schema: pa.Schema, table: pa.Table, path: Path, kind: str, suite: str) -> None:
    """Raise PcbenchError when a file (its ``schema``, and ``table``: all its rows' ``model`` and
    ``cell``) holds another dataset's columns or another cell's rows than its name stands for
    (a file copied or moved there); a rerun recomputes such a cell, since its files cannot
    carry the key it is computed with."""
    repair = f"rerun `pcbench run {suite}` to recompute the cell"
    foreign = _foreign_columns(schema, kind)
    if foreign:
        raise PcbenchError(f"{path} is not a {kind} file (it has columns {_names(foreign)}): {repair}")
    if table.num_rows == 0 or not {"model", "cell"} <= set(table.column_names):
        return
    models, cells = (table.column(name).unique().to_pylist() for name in ("model", "cell"))
    if len(models) != 1 or len(cells) != 1 or cell_stem(models[0], cells[0]) != path.stem:
        held = ", ".join(f"{model}/{cell}" for model in models for cell in cells)
        raise PcbenchError(f"{path} holds the rows of {held}, not of the cell its name stands for: {repair}")


def _check_cells(root: Path, kind: str, keys: dict[str, str | None]) -> None:
    """Raise PcbenchError naming every cell of ``root`` whose two files do not agree.

    ``keys`` maps the stem of each ``kind`` file just read in full to its cell key; the other
    half of every cell (of either dataset) is judged by its footer alone, so the check costs
    one footer read per cell.
    """
    other = PREDICTIONS if kind == SCORES else SCORES
    stems = keys.keys() | {path.stem for path in _visible_files(root / other)}
    problems = []
    for stem in sorted(stems):
        halves = {
            kind: _Half(key=keys[stem]) if stem in keys else _Half("missing"),
            other: _read_half(_path(root, other, stem), other),
        }
        reason = _disagreement(halves[SCORES], halves[PREDICTIONS])
        if reason is not None:
            problems.append(f"{stem} ({reason})")
    if problems:
        more = f" and {len(problems) - _LISTED} more" if len(problems) > _LISTED else ""
        raise PcbenchError(
            f"{len(problems)} incomplete cell(s) in {root}: {'; '.join(problems[:_LISTED])}{more} — "
            f"rerun `pcbench run {root.name}` to recompute them (or delete both files of a cell that "
            "is no longer in the suite)"
        )


def read_scores(root: Path) -> pd.DataFrame:
    """All scores of the suite at ``root``, sorted by model, cell and timestep (stable).

    Every file is read in :data:`~pcbench.store.schema.SCORES_SCHEMA` (older files too,
    see :func:`_conform`), so the frame has its columns in its order. Sort columns are
    :data:`SCORE_SORT`; nulls sort last. Raises PcbenchError when no scores file exists,
    one is corrupt or does not fit the schema, or a cell's predictions file is missing,
    unreadable or carries another key.
    """
    return _read_dataset(root, SCORES, SCORE_SORT)


def read_predictions(root: Path, model: str | None = None, *, matrix: bool = False) -> pd.DataFrame:
    """All per-sample predictions at ``root``, optionally only those of ``model``.

    Columns are those of :data:`~pcbench.store.schema.PREDICTIONS_SCHEMA`, sorted by
    :data:`PREDICTION_SORT` where present. By default only the cells' own rows (null
    ``attacked_at``: one per sample and timestep, what the scores count); ``matrix=True``
    adds the off-diagonal attack × read-out rows of ``each`` attack cells (non-null
    ``attacked_at``). An unknown ``model`` gives an empty frame. Raises PcbenchError when
    no predictions file exists, one is corrupt or does not fit the schema, or a cell's
    scores file is missing, unreadable or carries another key (for any model: the check
    covers the whole directory).

    Example::

        rows = read_predictions(Path("results/quick"), matrix=True)
        off_diagonal = rows[rows["attacked_at"].notna()]
    """
    frame = _read_dataset(root, PREDICTIONS, PREDICTION_SORT, model)
    return frame if matrix else frame[frame["attacked_at"].isna()].reset_index(drop=True)


def remove_stale_temp_files(root: Path) -> int:
    """Delete hidden ``.*.tmp`` files left by killed runs; return how many were removed.

    Call it only while holding the results directory's lock (:mod:`pcbench.store.lock`): the
    lock admits one writer, so every temporary file found then belongs to a writer that is gone.
    """
    stale = [
        path
        for kind in (SCORES, PREDICTIONS)
        for path in (Path(root) / kind).glob(f".*{TEMP_SUFFIX}")
        if path.is_file()
    ]
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)
