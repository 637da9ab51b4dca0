"""``pcbench run --dry-run``: the cells still to compute, the passes they imply and a timed budget.

Only cells the run would evaluate are counted: with ``resume`` (the default), a cell stored
under the key it would be computed with now is done (:func:`pcbench.runner.run.cell_keys`,
:func:`pcbench.store.stored_key`) and is listed as stored, not planned.

The estimate is measured, not guessed, as *cells × batches × measured seconds per batch*
(:func:`cell_batches`, :func:`projected_seconds`): for each model with cells to compute,
pcbench builds it as the run would (its full unroll, on the run's device, with the run's
precision and layout) and times one batch of each kind its cells consist of: a clean
forward batch at the run's batch size (never more than the cell's samples), and one attack
step (a forward+backward pass through the unroll to the input) at the batch the attack
runs with (the run's batch size for the foolbox kinds, the attack's ``batch_size`` for the
AutoAttack kinds). A cell then costs ⌈n / batch⌉ forward batches, plus, for an
attack, ⌈n / attack batch⌉ × steps attack steps (scaled by the share of the unroll the
attack differentiates through: 1 / (T + 1) for ``first``, (T + 2) / 2 for ``each``); a
last, partial batch counts as a whole one.

Each timing is a warm-up call, then at least :data:`MIN_REPEATS` timed repeats (up to
:data:`REPEATS` while :data:`BUDGET_SECONDS` last) of enough calls to take at least
:data:`MIN_REPEAT_SECONDS`, of which the fastest counts (as :mod:`timeit` advises: slower
repeats measure other work on the machine, not the model; on a shared CPU a median swung
by more than 10× between two estimates of one grid). On a CPU each measurement is made with
torch's threads and with one thread, and the faster counts: on a busy CPU, threads that wait
for each other made a threaded timing swing 12× between two estimates, while on an idle
machine the threaded one is the faster, as in the run; a call longer than
:data:`BUDGET_SECONDS` is timed with torch's threads only. On a CPU a batch that would take
longer than :data:`CPU_BATCH_SECONDS` (judged from a first call on :data:`CPU_PROBE_IMAGES`
images) is timed on :data:`CPU_PROBE_IMAGES` images and scaled linearly to its size (a CPU's
time is close to linear in the batch at that size; a GPU's is not, so a GPU always times the
whole batch). Not included: corruption generation, data loading and writing the results;
AutoAttack kinds are counted at their most gradient passes (they stop early on samples
already broken), so their time is an upper bound. Two estimates of one grid on the same
machine agree within a factor :data:`AGREEMENT` (tested). The estimate is the run's time on
an otherwise idle machine: other work on it slows the run.

GPU-hours: on a CUDA device the estimate is GPU time. On a CPU the table also projects it to
one GPU by dividing by :data:`CPU_PER_GPU`, the ratio of CPU to GPU time per batch (where it
comes from is documented there: an estimate, not a GPU measurement). N GPUs (``--executor``
tasks, one GPU each) divide the wall time, not the GPU-hours.

A dry run needs neither the data nor the weights: when a suite's data set has no root (or
its root is not a folder) and its image size is known (:data:`SYNTHETIC`), the plan uses as
many random images of that size as the suite would evaluate (``dataset.limit``, else the
split's size); then no cell can be known to be stored, and the plan says so. A registered
model whose weights files are absent is timed with its seeded initial weights (the same
computation), and the plan says so too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional

from pcbench.data import ImageSet
from pcbench.errors import PcbenchError
from pcbench.models.build import build_model, expected_weights_path
from pcbench.models.precision import FP32, Numerics
from pcbench.registry.registry import get_model_spec
from pcbench.runner.entries import Entry, evaluation_timesteps, registered_entry
from pcbench.runner.grid import Perturbation, expand_perturbations
from pcbench.runner.run import cell_keys, load_suite_data, resolve_device
from pcbench.store import cell_stem, stored_key
from pcbench.suite import Suite

#: Most timed repeats of each measurement; the fastest counts.
REPEATS = 100
#: Fewest timed repeats of each measurement ("a couple of batches").
MIN_REPEATS = 2
#: Seconds after which a measurement stops repeating (once it has :data:`MIN_REPEATS` repeats).
BUDGET_SECONDS = 1.0
#: Least seconds one timed repeat takes (short calls are repeated within it).
MIN_REPEAT_SECONDS = 0.002
#: Two estimates of one grid on one machine agree within this factor (tests/test_plan.py).
AGREEMENT = 2.0
#: Images of a CPU timing batch when the whole batch would take longer than :data:`CPU_BATCH_SECONDS`.
CPU_PROBE_IMAGES = 1
#: Seconds above which a CPU batch is timed on :data:`CPU_PROBE_IMAGES` images and scaled.
CPU_BATCH_SECONDS = 2.0
#: CPU seconds per GPU second of the same batch, to project a CPU estimate to GPU-hours. An
#: estimate, not a GPU measurement (no GPU was lent to this project): ``vgg16``'s fp32
#: forward at 224 px, batch 2, took 0.25 CPU-seconds per image on one thread of pcbench's
#: development machine (2 cores of an AMD EPYC, torch 2.x; 2026-12-07; measured as process
#: CPU time because the machine was shared), so about 0.13 s per image on its 2 idle cores,
#: against about 0.8 ms per image on one H100 (fp32, TF32 off, batch 128: a V100's published
#: 2.8 ms per image at batch 64 scaled by the H100/V100 fp32 peak ratio, 67/15.7 TFLOPS, and
#: rounded up for lower utilisation): 0.13 / 0.0008 ≈ 160. Another CPU has another ratio:
#: for a measured figure run the dry run on the GPU.
CPU_PER_GPU = 160.0
#: Data sets a dry run can stand in for without their files: name -> (image size, classes,
#: split -> samples).
SYNTHETIC: dict[str, tuple[int, int, dict[str, int]]] = {
    "imagenet": (224, 1000, {"val": 50_000}),
    "cifar10": (32, 10, {"test": 10_000, "train": 50_000}),
    "cifar100": (32, 100, {"test": 10_000, "train": 50_000}),
}


@dataclass(frozen=True)
class ModelPlan:
    """One model's share of the run: cells to compute and already stored, the image-timestep
    passes of the cells to compute, and their estimated seconds on the plan's device
    (``None``: not estimated; ``note`` says why when the model could not be timed, or that it
    was timed with its initial weights); ``timings``: the measured seconds of one batch per
    (``forward`` or ``gradient``, images in the batch), which ``seconds`` is made of."""

    name: str
    timesteps: int
    cells: int
    stored: int
    forward_passes: int
    gradient_passes: int
    seconds: float | None
    note: str | None = None
    timings: Mapping[tuple[str, int], float] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """What a run of ``suite`` would do: one :class:`ModelPlan` per model, in suite order;
    ``note`` says when the data were random stand-ins (:data:`SYNTHETIC`)."""

    suite: Suite
    samples: int
    perturbations: tuple[Perturbation, ...]
    models: tuple[ModelPlan, ...]
    results: Path | None
    device: str
    batch_size: int
    numerics: Numerics = FP32
    note: str | None = None

    @property
    def cells(self) -> int:
        """Cells the run would evaluate."""
        return sum(model.cells for model in self.models)

    @property
    def stored(self) -> int:
        """Cells already stored with their current key (the run skips them)."""
        return sum(model.stored for model in self.models)

    @property
    def seconds(self) -> float | None:
        """Estimated seconds of the whole run; ``None`` when not estimated."""
        times = [model.seconds for model in self.models]
        return None if None in times else sum(t for t in times if t is not None)

    def gpu_hours(self, seconds: float | None) -> float | None:
        """``seconds`` on the plan's device as hours of one GPU: as they are on CUDA, divided
        by :data:`CPU_PER_GPU` on a CPU.

        >>> Plan(None, 0, (), (), None, "cpu", 1).gpu_hours(3600 * CPU_PER_GPU)
        1.0
        """
        if seconds is None:
            return None
        return seconds / 3600 / (1.0 if self.device.startswith("cuda") else CPU_PER_GPU)


def make_plan(
    suite: Suite,
    *,
    results_dir: Path | None = None,
    resume: bool = True,
    estimate: bool = True,
    device: str = "auto",
    batch_size: int = 128,
    checkpointing: bool = False,
    numerics: Numerics = FP32,
) -> Plan:
    """The plan of ``run_suite(suite, results_dir=..., resume=..., device=..., ...)``.

    Cells stored in ``results_dir`` under their current key count as done (unless not
    ``resume``); with ``estimate``, each model with cells to compute is built and timed as
    described in the module docstring. PcbenchError where the run would refuse the suite
    (but not for absent data of a :data:`SYNTHETIC` data set or absent weights).

    Example::

        from pcbench.suite import load_suite
        print(format_plan(make_plan(load_suite("quick"), results_dir=Path("results"))))
    """
    data, note = _plan_data(suite)
    perturbations = expand_perturbations(suite)
    torch_device = resolve_device(device)
    numerics.check(torch_device)
    known = resume and results_dir is not None and note is None
    done = _stored_cells(suite, results_dir, numerics, batch_size) if known and results_dir is not None else set()
    models = []
    for name in suite.models:
        entry, weights_note = _timed_entry(name, suite, data, torch_device, checkpointing)
        unroll = max(entry.timesteps) + 1
        todo = [p for p in perturbations if (name, p.label) not in done]
        seconds, model_note = None, weights_note
        timer = _Timer(entry, data, torch_device, numerics)
        if estimate:
            try:
                seconds = sum(timer.cell_seconds(p, len(data), unroll, batch_size) for p in todo)
            except PcbenchError as exc:  # the run itself would stop there
                model_note = f"{name}: no estimate ({exc})"
        models.append(
            ModelPlan(
                name,
                unroll - 1,
                len(todo),
                len(perturbations) - len(todo),
                sum(p.forward_passes(len(data), unroll) for p in todo),
                sum(p.gradient_passes(len(data), unroll) for p in todo),
                seconds,
                model_note,
                dict(timer.measured),
            )
        )
    return Plan(
        suite,
        len(data),
        tuple(perturbations),
        tuple(models),
        results_dir,
        str(torch_device),
        batch_size,
        numerics,
        note,
    )


@dataclass(frozen=True)
class CellBatches:
    """The batches one cell costs: ``forward`` whole-unroll forward batches of ``forward_size``
    images, and ``gradient`` whole-unroll forward+backward batches (attack steps) of
    ``gradient_size`` images (0 for a cell without attack)."""

    forward: int
    forward_size: int
    gradient: float
    gradient_size: int


def cell_batches(perturbation: Perturbation, samples: int, unroll: int, batch_size: int) -> CellBatches:
    """The batches of ``perturbation``'s cell for a model unrolled to ``unroll`` = T + 1 on
    ``samples`` evaluation samples (module docstring).

    >>> cell_batches(Perturbation("clean"), 300, 11, 128)
    CellBatches(forward=3, forward_size=128, gradient=0.0, gradient_size=0)
    """
    evaluated = perturbation.samples(samples)
    forward_size = min(batch_size, evaluated)
    if perturbation.attack is None:
        return CellBatches(math.ceil(evaluated / forward_size), forward_size, 0.0, 0)
    # AutoAttack kinds attack their own batch_size at once; foolbox kinds the run's (attack.batch_size None)
    gradient_size = min(perturbation.attack.batch_size or batch_size, evaluated)
    steps_per_image = perturbation.gradient_passes(samples, unroll) / (evaluated * unroll)
    return CellBatches(
        math.ceil(evaluated / forward_size),
        forward_size,
        math.ceil(evaluated / gradient_size) * steps_per_image,
        gradient_size,
    )


def projected_seconds(batches: CellBatches, forward_seconds: float, gradient_seconds: float) -> float:
    """Seconds of a cell of ``batches``, given the measured seconds of one forward batch and
    of one attack step (forward+backward batch): batches × seconds per batch.

    >>> projected_seconds(CellBatches(3, 128, 30.0, 128), 2.0, 5.0)
    156.0
    """
    return batches.forward * forward_seconds + batches.gradient * gradient_seconds


def format_plan(plan: Plan) -> str:
    """A text table of cells to compute and stored per model, their passes, estimated time
    on the plan's device and GPU-hours (:meth:`Plan.gpu_hours`).

    A clean or corruption cell costs ``n × (T + 1)`` image-timestep forward passes (one
    unroll to T per image); an attack cell adds ``steps`` forward+backward passes per image
    through the attacked unroll (T + 1 timesteps; 1 for ``first``; Σ_t (t + 1) for ``each``).
    """
    suite = plan.suite
    total = len(plan.perturbations) * len(plan.models)
    where = f" in {plan.results / suite.name}" if plan.results is not None else ""
    lines = [
        f"suite {suite.name} ({suite.content_hash}): {suite.dataset.name}/{suite.dataset.split}, "
        f"{plan.samples} samples, {len(plan.perturbations)} perturbations × {len(plan.models)} models "
        f"= {total} cells: {plan.cells} to compute, {plan.stored} already stored{where}",
        f"{'model':<24}{'T':>4}{'to compute':>12}{'stored':>8}{'forward passes':>17}"
        f"{'attack gradient passes':>25}{'estimate':>11}{'GPU-h':>9}",
    ]
    for model in plan.models:
        lines.append(
            f"{model.name:<24}{model.timesteps:>4}{model.cells:>12}{model.stored:>8}{model.forward_passes:>17,}"
            f"{model.gradient_passes:>25,}{_duration(model.seconds):>11}{_hours(plan.gpu_hours(model.seconds)):>9}"
        )
    lines.append(
        f"{'total':<28}{plan.cells:>12}{plan.stored:>8}{sum(m.forward_passes for m in plan.models):>17,}"
        f"{sum(m.gradient_passes for m in plan.models):>25,}{_duration(plan.seconds):>11}"
        f"{_hours(plan.gpu_hours(plan.seconds)):>9}"
    )
    if plan.seconds is not None:
        lines.append(
            f"estimate: {plan.device} time of the cells to compute ({plan.numerics.precision}, "
            f"{plan.numerics.memory_format}), cells × batches × the measured time of each model's forward batch "
            f"and attack step (forward+backward) at batch size {plan.batch_size} (AutoAttack kinds: theirs), fastest "
            f"of at least {MIN_REPEATS} timed batches after a warm-up (an otherwise idle machine); corruption "
            "generation, data loading and writing not included; AutoAttack kinds at their most passes (an upper "
            "bound)"
        )
        if plan.device.startswith("cuda"):
            lines.append(
                "GPU-h: the estimate in hours of this one GPU; N tasks of one GPU each (--executor) take about 1/N "
                "of the wall time for the same GPU-hours"
            )
        else:
            lines.append(
                f"GPU-h: projected to one GPU as the cpu estimate / {CPU_PER_GPU:g} (CPU_PER_GPU in "
                "pcbench/runner/plan.py: an estimate from a published V100 figure scaled to an H100, not a GPU "
                "measurement; run --dry-run on the GPU for a measured figure); N GPUs take about 1/N of the wall time"
            )
    if plan.note is not None:
        lines.append(plan.note)
    lines += [model.note for model in plan.models if model.note is not None]
    for model in plan.models:
        if model.timings:
            measured = ", ".join(
                f"{'forward batch' if kind == 'forward' else 'attack step'} of {size} {_duration(seconds, 3)}"
                for (kind, size), seconds in sorted(model.timings.items())
            )
            lines.append(f"{model.name}: measured per batch on {plan.device}: {measured}")
    lines.append("cells: " + ", ".join(p.label for p in plan.perturbations))
    return "\n".join(lines)


def _plan_data(suite: Suite) -> tuple[ImageSet, str | None]:
    """The suite's data, or, when its :data:`SYNTHETIC` data set has no root folder, random
    stand-ins of its size and a note saying so."""
    config = suite.dataset
    absent = config.root is None or not Path(config.root).expanduser().is_dir()
    if not absent or config.name not in SYNTHETIC:
        return load_suite_data(suite), None
    size, classes, splits = SYNTHETIC[config.name]
    if config.split not in splits:
        return load_suite_data(suite), None  # the run's own error about the split
    samples = config.limit or splits[config.split]
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    data = ImageSet(
        config.name,
        config.split,
        np.broadcast_to(image, (samples, size, size, 3)),  # one random image, repeated: no memory
        rng.integers(0, classes, samples),
        np.arange(samples),
        classes,
    )
    where = "no dataset.root" if config.root is None else f"dataset.root {config.root} is not a folder"
    return data, (
        f"data: {where}, so the plan times {samples} random {size}×{size} images (the suite's samples) and cannot "
        "tell which cells are already stored"
    )


def _timed_entry(
    name: str, suite: Suite, data: ImageSet, device: torch.device, checkpointing: bool
) -> tuple[Entry, str | None]:
    """The run's entry for ``name``; when its weights files are absent, an entry built with
    its seeded initial weights (the same computation, for timing only) and a note."""
    try:
        return registered_entry(name, suite, data, device, checkpointing), None
    except PcbenchError as error:
        spec = get_model_spec(name)
        specs = [spec] + ([get_model_spec(spec.base)] if spec.base is not None else [])
        absent = [path for s in specs if (path := expected_weights_path(s)) is not None and not path.is_file()]
        if not absent:
            raise
        first = str(error).split(";")[0]
        timesteps = evaluation_timesteps(spec, suite)

        def build() -> torch.nn.Module:
            return build_model(spec, device=device, timesteps=max(timesteps), weights=False)

        entry = Entry(spec.name, spec.variant, spec.base, "", "", timesteps, build)  # type: ignore[arg-type]
        return entry, f"{name}: timed with its initial weights ({first}); the same computation as with them"


def _stored_cells(suite: Suite, results_dir: Path, numerics: Numerics, batch_size: int) -> set[tuple[str, str]]:
    """(model, perturbation label) of the cells stored in ``results_dir`` under their current key."""
    root = Path(results_dir) / suite.name
    if not root.is_dir():
        return set()
    return {
        (model, label)
        for model, keys in cell_keys(suite, numerics, batch_size).items()
        for label, key in keys.items()
        if stored_key(root, cell_stem(model, label)) == key
    }


class _Timer:
    """Seconds of one model's forward batch and attack step, measured on first use for each
    batch size (the model too is built, as the run builds it, on first use)."""

    def __init__(self, entry: Entry, data: ImageSet, device: torch.device, numerics: Numerics) -> None:
        self.entry, self.data, self.device, self.numerics = entry, data, device, numerics
        self.measured: dict[tuple[str, int], float] = {}

    def cell_seconds(self, perturbation: Perturbation, samples: int, unroll: int, batch_size: int) -> float:
        """Estimated seconds of one cell (see the module docstring)."""
        batches = cell_batches(perturbation, samples, unroll, batch_size)
        forward = self.batch_seconds("forward", batches.forward_size)
        gradient = self.batch_seconds("gradient", batches.gradient_size) if batches.gradient else 0.0
        return projected_seconds(batches, forward, gradient)

    def batch_seconds(self, kind: str, batch: int) -> float:
        """Seconds of a ``kind`` (forward or gradient) call on ``batch`` images through the whole unroll."""
        if (kind, batch) not in self.measured:
            model = self.entry.built()
            with self.numerics.applied(model, self.device):
                probe, warmed = batch, False
                if self.device.type == "cpu" and batch > CPU_PROBE_IMAGES:
                    first = _call(model, self.data, CPU_PROBE_IMAGES, kind, self.device)
                    started = time.perf_counter()
                    first()  # also the warm-up when the probe batch is timed
                    if (time.perf_counter() - started) * batch / CPU_PROBE_IMAGES > CPU_BATCH_SECONDS:
                        probe, warmed = CPU_PROBE_IMAGES, True
                call = _call(model, self.data, probe, kind, self.device)
                self.measured[kind, batch] = _fastest_seconds(call, self.device, warmed) * batch / probe
        return self.measured[kind, batch]


def _call(model: torch.nn.Module, data: ImageSet, batch: int, kind: str, device: torch.device) -> Callable[[], None]:
    """A forward (no gradient) or an attack step (input gradient of the last timestep's
    cross-entropy) of ``model`` on the first ``batch`` images of ``data``."""
    images = data.tensor(data.images[:batch]).to(device)
    labels = torch.as_tensor(data.labels[:batch], dtype=torch.long, device=device)

    def forward() -> None:
        with torch.no_grad():
            model(images)

    def gradient() -> None:
        leaf = images.detach().requires_grad_(True)
        torch.autograd.grad(functional.cross_entropy(model(leaf)[-1], labels), leaf)

    return forward if kind == "forward" else gradient


def _fastest_seconds(call: Callable[[], None], device: torch.device, warmed: bool = False) -> float:
    """Seconds of one ``call`` on ``device``; on a CPU, the faster of torch's threads and one
    thread (:func:`_repeated_seconds` each), unless the threaded call takes longer than
    :data:`BUDGET_SECONDS` (a long call is not worth doubling; threads waiting on each other
    distort short calls most). ``warmed``: the call has just run once (no warm-up needed)."""
    threads = torch.get_num_threads()
    threaded = _repeated_seconds(call, device, warmed)
    if device.type != "cpu" or threads == 1 or threaded > BUDGET_SECONDS:
        return threaded
    torch.set_num_threads(1)
    try:
        return min(threaded, _repeated_seconds(call, device))
    finally:
        torch.set_num_threads(threads)


def _repeated_seconds(call: Callable[[], None], device: torch.device, warmed: bool = False) -> float:
    """Seconds of one ``call``: the fastest of its timed repeats after a warm-up (module
    docstring; none when ``warmed``)."""

    def timed(loops: int) -> float:
        started = time.perf_counter()
        for _ in range(loops):
            call()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return (time.perf_counter() - started) / loops

    if not warmed:
        timed(1)  # warm-up: first-call allocations and kernel selection
    started = time.perf_counter()
    loops = 1
    while (fastest := timed(loops)) * loops < MIN_REPEAT_SECONDS:
        loops *= 2
    repeats = 1
    while repeats < REPEATS and (repeats < MIN_REPEATS or time.perf_counter() - started < BUDGET_SECONDS):
        fastest = min(fastest, timed(loops))
        repeats += 1
    return fastest


def _duration(seconds: float | None, digits: int = 0) -> str:
    """``45 s``, ``0.42 s``, ``12 min``, ``3.2 h``; ``-`` when unknown; ``digits`` significant
    digits below 90 s (two below 10 s when not given, so a short estimate never reads ``0 s``).

    >>> _duration(0.01234, 3), _duration(0.4234), _duration(45.4), _duration(7200)
    ('0.0123 s', '0.42 s', '45 s', '2.0 h')
    """
    if seconds is None:
        return "-"
    if seconds < 90:
        if not digits:
            return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:.0f} s"
        return f"{seconds:.{digits}g} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _hours(hours: float | None) -> str:
    """``0``, ``<0.01``, ``0.37``, ``8.20``, ``1,234``; ``-`` when unknown."""
    if hours is None:
        return "-"
    if hours == 0:
        return "0"
    if hours < 0.01:
        return "<0.01"
    return f"{hours:.2f}" if hours < 10 else f"{hours:,.0f}"
