"""What a run says before it evaluates: cells it replaces under another spec, untrained models.

Decision: neither is an error. A changed spec is the ordinary way to recompute a model (its
cell keys change, so its cells are evaluated again and overwrite the stored ones), and an
untrained PC variant may be evaluated on purpose; but neither may happen without a word.
:func:`run_notices` gives one line per model for each, which the runner prints on stderr
(:func:`announce_run`, above its progress bar) before the first cell is evaluated:

- ``replacing N cell(s) of model 'X' stored under spec hash A with spec hash B``: cells of
  the run whose stored scores carry another ``model_spec_hash`` than the model has now
  (an edited registry entry, or another module evaluated under the same name);
- the line of :func:`pcbench.registry.spec.untrained_message` for a registered PC variant
  without feedback weights.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Collection, Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from pcbench.registry.registry import list_model_specs, spec_hash
from pcbench.registry.spec import untrained_message
from pcbench.store import cell_stem
from pcbench.store.results import SCORES


def run_notices(root: Path, spec_hashes: Mapping[str, str], cells: Collection[tuple[str, str]]) -> list[str]:
    """The lines a run of ``cells`` (model, perturbation label) prints before evaluating.

    ``spec_hashes`` maps each model of the run to the spec hash its cells are computed with
    now; ``root`` is the suite's results directory. A model counts as registered (and may be
    named untrained) only when its registered spec has that hash: an unregistered module
    evaluated through :func:`pcbench.api.evaluate` never does.
    """
    lines = [line for model, now in spec_hashes.items() if (line := _replaced(root, model, now, cells))]
    registered = {spec.name: spec for spec in list_model_specs()}
    for model, now in spec_hashes.items():
        spec = registered.get(model)
        if spec is not None and spec.untrained_feedback and spec_hash(spec) == now:
            lines.append(untrained_message(spec))
    return lines


def announce_run(root: Path, spec_hashes: Mapping[str, str], cells: Collection[tuple[str, str]]) -> None:
    """Print :func:`run_notices` on stderr, above a progress bar that may be showing."""
    for line in run_notices(root, spec_hashes, cells):
        tqdm.write(line, file=sys.stderr)


def _replaced(root: Path, model: str, now: str, cells: Collection[tuple[str, str]]) -> str | None:
    """The line for ``model``'s cells stored under another spec hash, or None."""
    stored = Counter(_stored_spec_hash(root, cell_stem(model, label)) for name, label in cells if name == model)
    other = {spec: count for spec, count in stored.items() if spec is not None and spec != now}
    if not other:
        return None
    count = sum(other.values())
    return (
        f"replacing {count} cell{'s' if count != 1 else ''} of model '{model}' stored under spec hash "
        f"{', '.join(sorted(other))} with spec hash {now}"
    )


def _stored_spec_hash(root: Path, stem: str) -> str | None:
    """The ``model_spec_hash`` of a stored cell's scores; None when there is no readable one."""
    path = Path(root) / SCORES / f"{stem}.parquet"
    if not path.is_file():
        return None
    try:
        column = pq.read_table(path, columns=["model_spec_hash"]).column(0)
    except (OSError, pa.ArrowException):  # an unreadable half: the cell is recomputed anyway
        return None
    return column[0].as_py() if len(column) else None
