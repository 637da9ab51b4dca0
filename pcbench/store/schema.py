"""The one explicit Arrow schema of each results dataset (``scores`` and ``predictions``).

Every file of a dataset is written with exactly its schema (:func:`pcbench.store.commit_cell`
refuses a frame with a column too many or too few), so a results directory reads as one
table in any Parquet reader (pandas, pyarrow, polars, DuckDB): a column that is empty in
one cell, such as ``attack`` in a clean cell, is a typed null, never Parquet's ``null``
type. A field is nullable exactly where the runner may leave it empty; writing a null
into any other field fails.

A column added to :func:`pcbench.runner.run._tables` must be added here too; files
written before it existed read back with it all null (:func:`pcbench.store.read_scores`).

A column added later that is never null has a value in :data:`DEFAULTS` for files written
before it existed: ``precision`` and ``memory_format`` read as ``fp32`` and ``contiguous``,
which is how every cell was computed before ``--precision`` and ``--channels-last``.

``wall_time_s``, the seconds a cell took to evaluate, is a per-cell value: it is stored on
the cell's first row (its first evaluated timestep) and null on the others, so that summing
it over rows counts each cell once. Cells written by earlier versions repeat it on every
row and still read (the field only became nullable); for those, total one row per ``cell_key``.
"""

import pyarrow as pa


def _required(name: str, kind: pa.DataType) -> pa.Field:
    """A field that is never null."""
    return pa.field(name, kind, nullable=False)


def _optional(name: str, kind: pa.DataType) -> pa.Field:
    """A field that is null where it does not apply (e.g. ``epsilon`` of a clean cell)."""
    return pa.field(name, kind, nullable=True)


#: One row per (model, cell, timestep): the cell, its score and the provenance of the row.
SCORES_SCHEMA = pa.schema(
    [
        _required("model", pa.string()),
        _required("variant", pa.string()),
        _optional("base", pa.string()),
        _required("perturbation", pa.string()),
        _optional("corruption", pa.string()),
        _optional("severity", pa.int64()),
        _optional("attack", pa.string()),
        _optional("epsilon", pa.float64()),
        _required("timestep", pa.int64()),
        _required("n", pa.int64()),
        _required("correct", pa.int64()),
        _required("accuracy", pa.float64()),
        _required("cell", pa.string()),
        _required("cell_key", pa.string()),
        _required("model_spec_hash", pa.string()),
        _required("checkpoint_hash", pa.string()),
        _optional("gradient_mode", pa.string()),
        _optional("attack_timestep", pa.string()),
        _optional("attack_params", pa.string()),
        _optional("attack_warnings", pa.string()),
        _optional("corruption_source", pa.string()),
        _optional("nonfinite_images", pa.int64()),
        _optional("nonfinite_pixels", pa.int64()),
        _required("run_id", pa.string()),
        _required("suite", pa.string()),
        _required("suite_hash", pa.string()),
        _required("dataset", pa.string()),
        _required("split", pa.string()),
        _optional("limit", pa.int64()),
        _required("dataset_hash", pa.string()),
        _required("subset_hash", pa.string()),
        _required("seed", pa.int64()),
        _required("device", pa.string()),
        _required("batch_size", pa.int64()),
        _required("precision", pa.string()),  # fp32, tf32, bf16 or fp16 (pcbench.models.precision)
        _required("memory_format", pa.string()),  # contiguous or channels_last
        _required("python_version", pa.string()),
        _required("pcbench_version", pa.string()),
        _required("torch_version", pa.string()),
        _required("torchvision_version", pa.string()),
        _required("foolbox_version", pa.string()),
        _required("imagecorruptions_version", pa.string()),
        _required("numpy_version", pa.string()),
        _optional("pyautoattack_version", pa.string()),
        _optional("wall_time_s", pa.float64()),  # once per cell: on its first row, null on the others
        _optional("stochastic", pa.bool_()),  # null in files written before models were checked
        _optional("draws", pa.int64()),  # draws pooled in correct and n; null before draws existed (one)
        _required("created_at", pa.string()),
    ]
)

#: Values of never-null columns in files written before the column existed.
DEFAULTS = {"precision": "fp32", "memory_format": "contiguous"}

#: Per-sample predictions of one cell in long format: one row per (sample, timestep) with a
#: null ``attacked_at``: the cell's predictions, what its scores count. An ``attack_timestep =
#: "each"`` cell adds the off-diagonal of its attack × read-out matrix: one row per (sample,
#: attacked_at, timestep) with attacked_at != timestep, the prediction at read-out ``timestep``
#: on the images attacked at ``attacked_at`` (its diagonal is the cell's own rows). A reader
#: that counts a cell's predictions keeps the rows whose ``attacked_at`` is null
#: (:func:`pcbench.store.read_predictions` does unless asked for the matrix). Files written
#: before the column existed read with it all null.
PREDICTIONS_SCHEMA = pa.schema(
    [
        _required("model", pa.string()),
        _required("cell", pa.string()),
        _required("sample_id", pa.int32()),
        _required("label", pa.int16()),
        _required("timestep", pa.int16()),
        _required("prediction", pa.int16()),
        _optional("draw", pa.int16()),  # which draw of a stochastic model (0 otherwise); null before draws existed
        _optional("attacked_at", pa.int16()),
    ]
)
