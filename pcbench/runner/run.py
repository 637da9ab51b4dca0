"""Run a suite: evaluate every (model, perturbation) cell at all timesteps and commit it.

Each cell is evaluated once for all timesteps (one unroll per batch) and committed
atomically, scores and per-sample predictions together (:mod:`pcbench.store`). A cell is
skipped when its stored key equals the key it would be computed with now; the key covers
exactly what determines the cell's numbers (model spec and checkpoint, perturbation, the
evaluated data's content, timesteps, and the seed, corruption source and numerics
(precision and layout other than fp32 contiguous) where they matter; not the batch size:
attacks draw their random starts per sample). So a changed model, checkpoint or suite entry
re-runs exactly the cells it affects, and a killed run resumes where it stopped.

A stochastic model (:mod:`pcbench.runner.stochastic`: detected before its first key) is
evaluated ``suite.draws`` times per cell, every forward seeded from the cell's key, the draw
and the batch; its cells' keys also record the draws and the batch size.
"""

from __future__ import annotations

import contextlib
import errno
import json
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from pcbench.data import ImageSet, load_dataset
from pcbench.errors import PcbenchError
from pcbench.files import inside
from pcbench.hashing import hash_arrays, hash_json
from pcbench.models.precision import FP32, Numerics
from pcbench.perturbations.corruption_cells import CorruptedCell, CorruptionSource
from pcbench.perturbations.corruption_sources import open_corruptions
from pcbench.runner.adversarial import attacked_predictions, attacked_samples, correct_at_every_timestep
from pcbench.runner.entries import Entry, UserModule, module_entry, registered_entry
from pcbench.runner.evaluate import predict_batches
from pcbench.runner.grid import Perturbation, expand_perturbations
from pcbench.runner.notices import announce_run
from pcbench.runner.settings import RunSettings
from pcbench.runner.stochastic import DETECTION_SAMPLES, Draw, is_stochastic, stochastic_key
from pcbench.store import cell_stem, commit_cell, remove_stale_temp_files, results_lock, stored_key
from pcbench.store.evaluation_set import EvaluationSet, check_evaluation_set, drop_cells
from pcbench.store.provenance import new_run_id, package_versions
from pcbench.streams import array_blocks, stream_batches
from pcbench.suite import AttackConfig, Suite


@dataclass
class RunSummary:
    """What a run did: cells evaluated and skipped, and where the results are; ``report``
    and ``warnings`` are the files and provenance warnings of the report written afterwards
    (:func:`pcbench.api.run`), empty when none was; ``job_id``: the executor's id of a
    distributed run's tasks (:mod:`pcbench.executors`)."""

    run_id: str
    results: Path
    evaluated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    report: list[Path] = field(default_factory=list)
    warnings: tuple[str, ...] = ()
    job_id: str | None = None


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or ``cuda:i``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        if not torch.cuda.is_available():
            raise PcbenchError(f"--device {name}: CUDA is not available on this machine")
        return torch.device(name)
    raise PcbenchError(f"--device {name!r} is not allowed; use auto, cpu, cuda or cuda:<index>")


def load_suite_data(suite: Suite) -> ImageSet:
    """The suite's evaluation data: the split, then the seeded stratified subset.

    A ``dataset.limit`` (or ``--limit``) above the split's size is an error naming the size;
    every error about a ``dataset.*`` value (an unknown split, a root that is not a folder)
    names the suite file.
    """
    config = suite.dataset
    where = suite.path or f"suite {suite.name!r}"
    try:
        data = load_dataset(config.name, config.split, config.root)
    except PcbenchError as error:  # a bad dataset.* value of the suite: name the suite file too
        raise PcbenchError(f"{where}: {error}" if str(error).startswith("dataset") else str(error)) from None
    return data.subset(config.limit, config.seed, key=f"{where}: dataset.limit (or --limit)")


def run_suite(
    suite: Suite,
    settings: RunSettings | None = None,
    *,
    modules: Mapping[str, UserModule] | None = None,
    cells: Mapping[str, Collection[str]] | None = None,
    coordinated: bool = False,
    on_cell: Callable[[str], None] | None = None,
    before_commit: Callable[[], None] | None = None,
    **changes: Any,
) -> RunSummary:
    """Evaluate every cell of ``suite`` for ``suite.models`` and store the results.

    ``settings`` (:class:`~pcbench.runner.settings.RunSettings`, default: its defaults) say
    where the results go and how the cells are evaluated; ``changes`` replace some of its
    fields, e.g. ``run_suite(suite, results_dir=Path("results"), device="cpu")``.

    ``modules`` maps some of ``suite.models`` to users' own modules (:class:`UserModule`,
    evaluated as they are: the caller lends them with :func:`pcbench.runner.entries.borrowed`);
    the other names are looked up in the registry.

    A results directory holds one evaluation set (:mod:`pcbench.store.evaluation_set`): a
    run on another set is refused before anything is evaluated, unless ``replace`` drops
    the stored cells of the run's models that belong to another set. Models whose declared
    ``dataset`` is not the suite's are refused too, unless their spec lists the suite's
    data set in ``transfer_datasets``.

    ``workers`` processes (default: all CPUs) generate corrupted images, each cell once
    into the on-disk cache, or decode precomputed ones; cells are evaluated one at a time.

    ``checkpointing`` turns on activation checkpointing across timesteps for PC models
    (less memory during attacks, about one extra sweep of compute per attack step; the
    numbers are identical, so it is not part of any cell key).

    One run writes to a results directory at a time: the run holds ``<root>/.lock``
    (:mod:`pcbench.store.lock`) from before it drops or cleans anything until it ends. When
    another process holds it, ``wait`` waits for it (saying so once on stderr); without,
    PcbenchError names the holder. A cell is skipped only when both of its files are whole and
    carry the key it would be computed with now (:func:`pcbench.store.stored_key`).

    For executors (:mod:`pcbench.executors`): ``cells`` (model -> perturbation labels)
    restricts the run to those cells (the others are neither evaluated nor counted, and
    models it does not name are not even looked up), ``coordinated``
    marks the run as one task of a run whose coordinator holds the lock and has already
    checked the evaluation set and cleaned the directory (tasks write disjoint cells, each
    committed atomically, so they run side by side), ``on_cell(stem)`` is called before
    each cell is evaluated and ``before_commit()`` before each cell is committed (a task's
    check that its coordinator still holds the directory; it raises to stop the task).
    ``numerics`` (:mod:`pcbench.models.precision`) is the precision and layout every model
    computes with; it is recorded in each row and, unless fp32 contiguous, in the cell key.
    """
    settings = replace(settings or RunSettings(), **changes)
    device = resolve_device(settings.device)
    settings.numerics.check(device)
    data = load_suite_data(suite)
    root = inside(settings.results_dir, suite.name)
    evaluated_on = evaluation_set(suite, data)
    if not coordinated:
        check_evaluation_set(root, evaluated_on, suite.models, replace=settings.replace)  # before any file is made
    entries = _entries(suite, data, device, settings.checkpointing, modules or {}, cells)
    perturbations = expand_perturbations(suite)
    costs = _costs(entries, perturbations, cells, len(data))
    summary = RunSummary(run_id=new_run_id(), results=root)
    with (
        contextlib.nullcontext() if coordinated else results_lock(root, wait=settings.wait),
        open_corruptions(suite, data, settings.workers) as corruptions,
        contextlib.ExitStack() as engaged,  # the models' numerics, for the whole run
        _progress_bar(suite.name, costs, settings.progress) as bar,
    ):
        if not coordinated:
            # checked again under the lock: a run that held it before may have written another set
            drop_cells(root, check_evaluation_set(root, evaluated_on, suite.models, replace=settings.replace))
            remove_stale_temp_files(root)  # one writer at a time: whoever wrote a temp file is gone
        announce_run(root, {entry.name: entry.spec_hash for entry in entries}, set(costs))
        context = _row_context(suite, data, summary.run_id, device, settings.batch_size, settings.numerics)
        run = _Run(
            suite, settings, device, data, corruptions, summary, costs, context, bar, engaged, on_cell, before_commit
        )
        for perturbation in perturbations:
            todo = _cells_to_compute(run, entries, perturbation)
            corrupted = _corrupted_cell(perturbation, corruptions) if todo else None
            for entry, key in todo:
                _evaluate_cell(run, entry, perturbation, key, corrupted)
    return summary


@dataclass
class _Run:
    """What the steps of one :func:`run_suite` share: its inputs, the open corruption source,
    the summary and progress bar it updates, and each model's clean-correct samples."""

    suite: Suite
    settings: RunSettings
    device: torch.device
    data: ImageSet
    corruptions: CorruptionSource | None
    summary: RunSummary
    costs: dict[tuple[str, str], int]  # the run's cells (model, label) -> their passes
    context: dict[str, Any]  # the columns every row of this run carries
    bar: tqdm
    engaged: contextlib.ExitStack  # the models' numerics, for the whole run
    on_cell: Callable[[str], None] | None = None
    before_commit: Callable[[], None] | None = None
    clean_correct: dict[str, np.ndarray] = field(default_factory=dict)  # model -> right at every timestep

    def advance(self, entry: Entry, perturbation: Perturbation) -> None:
        """Count a cell done (stored before or just committed) on the progress bar."""
        _show_cells(self.bar, self.summary, len(self.costs))
        self.bar.update(self.costs[entry.name, perturbation.label])


def _entries(
    suite: Suite,
    data: ImageSet,
    device: torch.device,
    checkpointing: bool,
    modules: Mapping[str, UserModule],
    cells: Mapping[str, Collection[str]] | None,
) -> list[Entry]:
    """The run's models: users' own modules by name, the others from the registry (only the
    models ``cells`` names, when given)."""
    return [
        module_entry(name, modules[name], suite, data, device)
        if name in modules
        else registered_entry(name, suite, data, device, checkpointing)
        for name in suite.models
        if cells is None or name in cells
    ]


def _costs(
    entries: list[Entry], perturbations: list[Perturbation], cells: Mapping[str, Collection[str]] | None, n: int
) -> dict[tuple[str, str], int]:
    """(model, label) -> passes of each cell the run covers (all, or those ``cells`` names)."""
    return {
        (entry.name, p.label): p.cost(n, max(entry.timesteps) + 1)
        for entry in entries
        for p in perturbations
        if cells is None or p.label in cells[entry.name]
    }


def _progress_bar(name: str, costs: dict[tuple[str, str], int], shown: bool) -> tqdm:
    """The run's bar, counting forward/backward passes and cells."""
    return tqdm(
        total=sum(costs.values()),
        desc=name,
        unit="pass",
        unit_scale=True,
        disable=not shown,
        bar_format=_BAR_FORMAT,
        postfix=f"0/{len(costs)} cells",
    )


def _cells_to_compute(run: _Run, entries: list[Entry], perturbation: Perturbation) -> list[tuple[Entry, str]]:
    """(model, key) of the run's cells of ``perturbation`` that are not stored under their key
    now; stored ones are counted as skipped."""
    todo = []
    for entry in entries:
        if (entry.name, perturbation.label) not in run.costs:
            continue
        key = _cell_key(entry, perturbation, run.suite, run.data, run.corruptions, run.settings.numerics)
        key = _drawn_key(entry, key, run.suite, run.data, run.settings.batch_size, run.device)
        stem = cell_stem(entry.name, perturbation.label)
        if run.settings.resume and stored_key(run.summary.results, stem) == key:
            run.summary.skipped.append(stem)
            run.advance(entry, perturbation)
        else:
            todo.append((entry, key))
    return todo


def _evaluate_cell(
    run: _Run, entry: Entry, perturbation: Perturbation, key: str, corrupted: CorruptedCell | None
) -> None:
    """Evaluate one cell (every draw of a stochastic model) and commit it."""
    stem = cell_stem(entry.name, perturbation.label)
    _show_cells(run.bar, run.summary, len(run.costs), f"{entry.name} {perturbation.label}")
    if run.on_cell is not None:
        run.on_cell(stem)
    started = time.perf_counter()
    model = entry.built()
    run.engaged.enter_context(run.settings.numerics.applied(model, run.device))  # a no-op once applied
    draws = [Draw(key, index) for index in range(run.suite.draws)] if entry.stochastic else [None]
    if perturbation.kind == "attack":
        cell_data, drawn, attack_warnings = _attacked(run, entry, perturbation, model, draws)
    else:
        cell_data, drawn, attack_warnings = run.data, _predicted(run, model, corrupted, draws), None
    columns = {
        **run.context,
        "subset_hash": hash_arrays(cell_data.ids),
        "wall_time_s": _first_row_only(time.perf_counter() - started, len(entry.timesteps)),
    }
    tables = [
        _tables(entry, perturbation, predictions, cell_data, key, columns, corrupted, attack_warnings, readout)
        for predictions, readout in drawn
    ]
    scores, per_sample = _pooled_draws(tables, bool(entry.stochastic))
    if run.before_commit is not None:
        run.before_commit()
    _commit(run.summary, stem, key, scores, per_sample)
    run.summary.evaluated.append(stem)
    run.advance(entry, perturbation)


def _predicted(
    run: _Run, model: torch.nn.Module, corrupted: CorruptedCell | None, draws: list[Draw | None]
) -> list[tuple[np.ndarray, None]]:
    """Per draw, the model's predictions on the clean or corrupted images."""
    drawn = []
    for draw in draws:
        batches = _image_batches(run.data, corrupted, run.settings.batch_size)
        seed = None if draw is None else draw.batches("batch")
        drawn.append((predict_batches(model, batches, device=run.device, seed=seed), None))
    return drawn


def _attacked(
    run: _Run, entry: Entry, perturbation: Perturbation, model: torch.nn.Module, draws: list[Draw | None]
) -> tuple[ImageSet, list[tuple[np.ndarray, np.ndarray | None]], list[str]]:
    """The attacked samples, per draw the predictions on their adversarial images (and the
    read-out), and the attack's warnings."""
    assert perturbation.attack is not None and perturbation.epsilon is not None
    correct = _clean_correct(run, entry, model) if perturbation.attack.samples == "correct" else None
    cell_data = attacked_samples(run.data, perturbation.attack, run.suite.seed, correct, entry.name)
    drawn, warned = [], []
    for draw in draws:
        predictions, messages, readout = attacked_predictions(
            model,
            _drawn_attack(entry, perturbation.attack),
            perturbation.epsilon,
            cell_data,
            entry.timesteps,
            seed=run.suite.seed,
            batch_size=run.settings.batch_size,
            device=run.device,
            draw=draw,
        )
        drawn.append((predictions, readout))
        warned += messages
    return cell_data, drawn, list(dict.fromkeys(warned))


def _clean_correct(run: _Run, entry: Entry, model: torch.nn.Module) -> np.ndarray:
    """The samples ``entry`` classifies right on clean images at every timestep (once per
    model and run)."""
    if entry.name not in run.clean_correct:
        seed = Draw(entry.spec_hash + entry.checkpoint, 0).batches("clean") if entry.stochastic else None
        batches = _image_batches(run.data, None, run.settings.batch_size)
        clean = predict_batches(model, batches, device=run.device, seed=seed)
        run.clean_correct[entry.name] = correct_at_every_timestep(clean, run.data.labels, entry.timesteps)
    return run.clean_correct[entry.name]


def _commit(summary: RunSummary, stem: str, key: str, scores: pd.DataFrame, per_sample: pd.DataFrame) -> None:
    """Commit a cell's tables; a full file system is one line saying what is kept."""
    try:
        commit_cell(summary.results, stem, key, scores, per_sample)
    except OSError as error:  # atomic writes: the cell's temporary file is already gone
        if error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise PcbenchError(
            f"the file system holding {summary.results} is full ({errno.errorcode[error.errno]}) while "
            f"committing cell {stem}: {len(summary.evaluated)} cell(s) committed by this run, "
            f"{len(summary.skipped)} already stored, nothing half-written; free space there and "
            "rerun the same command to resume"
        ) from None


def cell_keys(suite: Suite, numerics: Numerics = FP32, batch_size: int = 128) -> dict[str, dict[str, str]]:
    """Model -> perturbation label -> the key its cell is computed with now (with ``numerics``,
    and for a stochastic model ``batch_size``), in grid order.

    Builds each model on the CPU, only to tell whether it is stochastic (its cells' keys then
    record the draws and the batch size, :mod:`pcbench.runner.stochastic`); PcbenchError
    where :func:`run_suite` would refuse the suite or a model.
    A cell is done when :func:`pcbench.store.stored_key` returns its key.
    """
    data = load_suite_data(suite)
    entries = [registered_entry(name, suite, data, torch.device("cpu"), False) for name in suite.models]
    keys: dict[str, dict[str, str]] = {entry.name: {} for entry in entries}
    with open_corruptions(suite, data, 1) as corruptions:
        for perturbation in expand_perturbations(suite):
            for entry in entries:
                key = _cell_key(entry, perturbation, suite, data, corruptions, numerics)
                keys[entry.name][perturbation.label] = _drawn_key(
                    entry, key, suite, data, batch_size, torch.device("cpu")
                )
    return keys


#: Progress in cells would make the ETA wrong (an attack cell costs far more than a clean
#: one); the bar counts image-timestep passes, weighted by :meth:`Perturbation.cost`, and its
#: postfix counts cells (:func:`_show_cells`).
_BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}{postfix}]"


def _show_cells(bar: tqdm, summary: RunSummary, total: int, current: str | None = None) -> None:
    """The bar's postfix: ``n/N cells`` (this run's cells done: evaluated or already stored),
    then the cell being evaluated, if any (shown at once: it may take long)."""
    done = len(summary.evaluated) + len(summary.skipped)
    bar.set_postfix_str(f"{done}/{total} cells" + (f", {current}" if current else ""), refresh=current is not None)


def _first_row_only(seconds: float, rows: int) -> pd.api.extensions.ExtensionArray:
    """A cell's ``wall_time_s`` column: the seconds it took on its first row (its first
    evaluated timestep), null on the others, so that a sum over rows counts each cell once."""
    return pd.array([seconds, *[None] * (rows - 1)], dtype="Float64")


def evaluation_set(suite: Suite, data: ImageSet) -> EvaluationSet:
    """The evaluation set of a run of ``suite`` on ``data`` (its subset already drawn)."""
    return EvaluationSet(data.name, data.split, data.content_hash, len(data), suite.dataset.limit)


def _cell_key(
    entry: Entry,
    perturbation: Perturbation,
    suite: Suite,
    data: ImageSet,
    corruptions: CorruptionSource | None,
    numerics: Numerics = FP32,
) -> str:
    return hash_json(
        {
            "model": entry.spec_hash,
            "checkpoint": entry.checkpoint,
            "perturbation": perturbation.record(),
            "data": data.content_hash,
            "seed": suite.seed if perturbation.kind != "clean" else None,
            "timesteps": entry.timesteps,
            "corruption_source": _corruption_source(perturbation, corruptions),
            # absent, not null, elsewhere: only `each` cells' files changed (they hold the whole matrix)
            **({"readout": "every timestep"} if _each(perturbation) else {}),
            # absent for fp32 in the contiguous layout: the keys cells had before these options
            **({} if numerics.key() is None else {"numerics": numerics.key()}),
        }
    )


def _each(perturbation: Perturbation) -> bool:
    """Whether ``perturbation`` is an attack with ``attack_timestep = "each"``."""
    return perturbation.attack is not None and perturbation.attack.attack_timestep == "each"


def _drawn_key(entry: Entry, key: str, suite: Suite, data: ImageSet, batch_size: int, device: torch.device) -> str:
    """The key of an ``entry``'s cell whose deterministic key is ``key``: ``key`` itself, or
    for a stochastic model :func:`~pcbench.runner.stochastic.stochastic_key` (with the suite's
    draws and the batch size). The model is built and checked (twice run on the first images
    of ``data``, :func:`~pcbench.runner.stochastic.is_stochastic`) on first use."""
    if entry.stochastic is None:
        images = data.tensor(data.images[:DETECTION_SAMPLES])
        entry.stochastic = is_stochastic(entry.built(), images, device)
    return stochastic_key(key, suite.draws, batch_size) if entry.stochastic else key


def _drawn_attack(entry: Entry, attack: AttackConfig) -> AttackConfig:
    """The attack as run on ``entry``: with one draw (``eot = 1``) for a deterministic model,
    whose ``eot`` equal gradients average to the one gradient (the rows still record the
    suite's ``eot``)."""
    return attack if entry.stochastic else replace(attack, eot=1)


def _pooled_draws(
    drawn: list[tuple[pd.DataFrame, pd.DataFrame]], stochastic: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One cell's score rows and prediction rows from each draw's (:func:`_tables`): the
    score rows count every draw's predictions (``correct`` and ``n`` summed over draws, so
    ``accuracy`` is the mean accuracy over draws) and record ``stochastic`` and ``draws``; the
    prediction rows of draw d have ``draw = d``. One draw (a deterministic model) gives its
    rows unchanged, plus ``stochastic``, ``draws = 1`` and ``draw = 0``."""
    scores = drawn[0][0].copy()
    scores["correct"] = np.sum([rows["correct"].to_numpy() for rows, _ in drawn], axis=0)
    scores["n"] = scores["n"] * len(drawn)
    scores["accuracy"] = scores["correct"] / scores["n"]
    scores["stochastic"] = stochastic
    scores["draws"] = len(drawn)
    per_sample = pd.concat(
        [rows.assign(draw=np.int16(index)) for index, (_, rows) in enumerate(drawn)], ignore_index=True
    )
    return scores, per_sample


def _corruption_source(perturbation: Perturbation, corruptions: CorruptionSource | None) -> str | None:
    """Where a corruption cell's images come from (``None`` for other cells)."""
    if perturbation.kind != "corruption":
        return None
    assert corruptions is not None and perturbation.corruption is not None
    assert perturbation.severity is not None
    return corruptions.source(perturbation.corruption, perturbation.severity)


def _corrupted_cell(perturbation: Perturbation, corruptions: CorruptionSource | None) -> CorruptedCell | None:
    """The corrupted cell every model of a corruption perturbation is evaluated on (``None``
    for other perturbations: clean cells and attacks start from the clean images)."""
    if perturbation.kind != "corruption":
        return None
    assert corruptions is not None and perturbation.corruption is not None
    assert perturbation.severity is not None
    return corruptions.cell(perturbation.corruption, perturbation.severity)


def _image_batches(data: ImageSet, cell: CorruptedCell | None, batch_size: int) -> Iterator[np.ndarray]:
    """The uint8 batches a model is evaluated on: the corrupted cell's, else the clean images,
    streamed (:func:`pcbench.streams.stream_batches`) so that memory depends on the batch
    size, not on the number of samples. Batches are cut at multiples of ``batch_size``, as
    ``images.split(batch_size)`` would cut the whole array, so predictions are the same bits."""
    blocks = array_blocks(data.images) if cell is None else cell.blocks()
    return stream_batches(blocks, batch_size)


def _row_context(
    suite: Suite, data: ImageSet, run_id: str, device: torch.device, batch_size: int, numerics: Numerics
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "suite": suite.name,
        "suite_hash": suite.content_hash,
        "dataset": data.name,
        "split": data.split,
        "dataset_hash": data.content_hash,
        "limit": suite.dataset.limit,
        "seed": suite.seed,
        "device": str(device),
        "batch_size": batch_size,
        "precision": numerics.precision,
        "memory_format": numerics.memory_format,
        **package_versions(),
    }


def _tables(
    entry: Entry,
    perturbation: Perturbation,
    predictions: np.ndarray,
    data: ImageSet,
    key: str,
    context: dict[str, Any],
    corrupted: CorruptedCell | None,
    attack_warnings: list[str] | None,
    readout: np.ndarray | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cell's score rows (one per evaluated timestep) and per-sample predictions.

    Corruption rows record their source and how many images / pixels were non-finite
    before the uint8 cast (and were repaired, see :mod:`pcbench.perturbations.corruptions`);
    attack rows the distinct warnings of AutoAttack's checks as a JSON list. The cell's own
    prediction rows have a null ``attacked_at``; an ``each`` cell's ``readout`` matrix
    (:func:`~pcbench.runner.adversarial.attacked_predictions`) adds its off-diagonal rows.
    """
    model_timesteps = np.asarray(entry.timesteps)
    kept = predictions[model_timesteps]
    correct = (kept == data.labels[None, :]).sum(axis=1)
    attack = perturbation.attack
    scores = pd.DataFrame(
        {
            "model": entry.name,
            "variant": entry.variant,
            "base": entry.base,
            "perturbation": perturbation.kind,
            "corruption": perturbation.corruption,
            "severity": pd.array([perturbation.severity] * len(kept), dtype="Int64"),
            "attack": attack.label if attack else None,
            "epsilon": pd.array([perturbation.epsilon] * len(kept), dtype="Float64"),
            "timestep": model_timesteps.astype(np.int64),
            "n": len(data),
            "correct": correct.astype(np.int64),
            "accuracy": correct / len(data),
            "cell": perturbation.label,
            "cell_key": key,
            "model_spec_hash": entry.spec_hash,
            "checkpoint_hash": entry.checkpoint,
            "gradient_mode": attack.gradient_mode if attack else None,
            "attack_timestep": attack.attack_timestep if attack else None,
            "attack_params": json.dumps(attack.params(), sort_keys=True) if attack else None,
            "attack_warnings": None if attack_warnings is None else json.dumps(attack_warnings),
            "corruption_source": corrupted.source if corrupted else None,
            "nonfinite_images": pd.array(
                [corrupted.nonfinite.images if corrupted else None] * len(kept), dtype="Int64"
            ),
            "nonfinite_pixels": pd.array(
                [corrupted.nonfinite.pixels if corrupted else None] * len(kept), dtype="Int64"
            ),
            **context,
            "created_at": datetime.now(UTC).isoformat(timespec="microseconds"),
        }
    ).astype({"limit": "Int64"})
    per_sample = pd.DataFrame(
        {
            "model": entry.name,
            "cell": perturbation.label,
            "sample_id": np.repeat(data.ids[None, :], len(kept), axis=0).ravel().astype(np.int32),
            "label": np.tile(data.labels, len(kept)).astype(np.int16),
            "timestep": np.repeat(model_timesteps, len(data)).astype(np.int16),
            "prediction": kept.ravel(),
            "attacked_at": pd.array([None] * kept.size, dtype="Int16"),
        }
    )
    if readout is not None:
        per_sample = pd.concat([per_sample, _off_diagonal_rows(entry, perturbation, data, readout)], ignore_index=True)
    return scores, per_sample


def _off_diagonal_rows(entry: Entry, perturbation: Perturbation, data: ImageSet, readout: np.ndarray) -> pd.DataFrame:
    """Prediction rows of the attack × read-out matrix ``readout`` (``[attacked at, read out,
    sample]``) off its diagonal, over the model's timesteps, ordered by ``attacked_at`` then
    ``timestep``; the diagonal is the cell's own rows."""
    pairs = [(a, r) for a in entry.timesteps for r in entry.timesteps if a != r]
    attacked_at = np.array([a for a, _ in pairs], dtype=np.int64)
    timestep = np.array([r for _, r in pairs], dtype=np.int64)
    return pd.DataFrame(
        {
            "model": entry.name,
            "cell": perturbation.label,
            "sample_id": np.tile(data.ids, len(timestep)).astype(np.int32),
            "label": np.tile(data.labels, len(timestep)).astype(np.int16),
            "timestep": np.repeat(timestep, len(data)).astype(np.int16),
            "prediction": readout[attacked_at, timestep].ravel(),
            "attacked_at": pd.array(np.repeat(attacked_at, len(data)), dtype="Int16"),
        }
    )
