"""``pcbench run --dry-run``: the cells still to compute, the model passes they imply and a timed estimate.

Only cells the run would evaluate are counted: with ``resume`` (the default), a cell stored
under the key it would be computed with now is done (:func:`pcbench.runner.run.cell_keys`,
:func:`pcbench.store.stored_key`) and is listed as stored, not planned.

The estimate is measured, not guessed: for each model with cells to compute, pcbench builds
it as the run would (its full unroll, on the run's device) and times, on the suite's own
images, the batches its cells consist of: a clean forward batch at the run's batch size
(never more than the cell's samples), and one attack step (a forward+backward pass through
the unroll to the input) at the batch the attack runs with (the batch size for the foolbox
kinds, one image for the AutoAttack kinds, which pcbench runs image by image). Each
measurement is a warm-up call, then up to :data:`REPEATS` repeats (at least 3, and no more
once :data:`BUDGET_SECONDS` are spent) of enough calls to take at least
:data:`MIN_REPEAT_SECONDS`, of which the fastest counts (as :mod:`timeit` advises: slower
repeats measure other work on the machine, not the model; on a shared CPU a median swung
by more than 10× between two estimates of one grid). On a CPU each measurement is made with
torch's threads and with one thread, and the faster counts: on a busy CPU, threads that wait
for each other made a threaded timing swing 12× between two estimates, while on an idle
machine the threaded one is the faster, as in the run. A cell's time is its forward passes
times the forward time per image-timestep plus its attack gradient passes times the attack
step's time per image-timestep (:meth:`pcbench.runner.grid.Perturbation.forward_passes`,
:meth:`~pcbench.runner.grid.Perturbation.gradient_passes`). Not included: corruption
generation, data loading and writing the results; AutoAttack kinds are counted at their most
gradient passes (they stop early on samples already broken), so their time is an upper bound.
Two estimates of one grid on the same machine agree within a factor :data:`AGREEMENT`
(tested). The estimate is the run's time on an otherwise idle machine: other work on it
slows the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn import functional

from pcbench.data import ImageSet
from pcbench.errors import PcbenchError
from pcbench.runner.entries import Entry, registered_entry
from pcbench.runner.grid import Perturbation, expand_perturbations
from pcbench.runner.run import cell_keys, load_suite_data, resolve_device
from pcbench.store import cell_stem, stored_key
from pcbench.suite import Suite
from pcbench.suite.schema import AUTOATTACK_KINDS

#: Most timed repeats of each measurement; the fastest counts.
REPEATS = 100
#: Seconds after which a measurement stops repeating (once it has 3 repeats).
BUDGET_SECONDS = 1.0
#: Least seconds one timed repeat takes (short calls are repeated within it).
MIN_REPEAT_SECONDS = 0.002
#: Two estimates of one grid on one machine agree within this factor (tests/test_plan.py).
AGREEMENT = 2.0


@dataclass(frozen=True)
class ModelPlan:
    """One model's share of the run: cells to compute and already stored, the image-timestep
    passes of the cells to compute, and their estimated seconds (``None``: not estimated;
    ``note`` says why when the model could not be timed)."""

    name: str
    timesteps: int
    cells: int
    stored: int
    forward_passes: int
    gradient_passes: int
    seconds: float | None
    note: str | None = None


@dataclass(frozen=True)
class Plan:
    """What a run of ``suite`` would do: one :class:`ModelPlan` per model, in suite order."""

    suite: Suite
    samples: int
    perturbations: tuple[Perturbation, ...]
    models: tuple[ModelPlan, ...]
    results: Path | None
    device: str
    batch_size: int

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


def make_plan(
    suite: Suite,
    *,
    results_dir: Path | None = None,
    resume: bool = True,
    estimate: bool = True,
    device: str = "auto",
    batch_size: int = 128,
    checkpointing: bool = False,
) -> Plan:
    """The plan of ``run_suite(suite, results_dir=..., resume=..., device=..., ...)``.

    Cells stored in ``results_dir`` under their current key count as done (unless not
    ``resume``); with ``estimate``, each model with cells to compute is built and timed as
    described in the module docstring. PcbenchError where the run would refuse the suite.

    Example::

        from pcbench.suite import load_suite
        print(format_plan(make_plan(load_suite("quick"), results_dir=Path("results"))))
    """
    data = load_suite_data(suite)
    perturbations = expand_perturbations(suite)
    done = _stored_cells(suite, results_dir) if resume and results_dir is not None else set()
    torch_device = resolve_device(device)
    models = []
    for name in suite.models:
        entry = registered_entry(name, suite, data, torch_device, checkpointing)
        unroll = max(entry.timesteps) + 1
        todo = [p for p in perturbations if (name, p.label) not in done]
        seconds, note = None, None
        if estimate:
            timer = _Timer(entry, data, torch_device)
            try:
                seconds = sum(timer.cell_seconds(p, len(data), unroll, batch_size) for p in todo)
            except PcbenchError as exc:  # e.g. missing weights: the run itself would stop there
                note = f"{name}: no estimate ({exc})"
        models.append(
            ModelPlan(
                name,
                unroll - 1,
                len(todo),
                len(perturbations) - len(todo),
                sum(p.forward_passes(len(data), unroll) for p in todo),
                sum(p.gradient_passes(len(data), unroll) for p in todo),
                seconds,
                note,
            )
        )
    return Plan(suite, len(data), tuple(perturbations), tuple(models), results_dir, str(torch_device), batch_size)


def format_plan(plan: Plan) -> str:
    """A text table of cells to compute and stored per model, their passes and estimated time.

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
        f"{'attack gradient passes':>25}{'estimate':>11}",
    ]
    for model in plan.models:
        lines.append(
            f"{model.name:<24}{model.timesteps:>4}{model.cells:>12}{model.stored:>8}{model.forward_passes:>17,}"
            f"{model.gradient_passes:>25,}{_duration(model.seconds):>11}"
        )
    lines.append(
        f"{'total':<28}{plan.cells:>12}{plan.stored:>8}{sum(m.forward_passes for m in plan.models):>17,}"
        f"{sum(m.gradient_passes for m in plan.models):>25,}{_duration(plan.seconds):>11}"
    )
    if plan.seconds is not None:
        lines.append(
            f"estimate: {plan.device} time of the cells to compute, from timing each model's forward batch and "
            f"attack step (forward+backward) on the suite's images at batch size {plan.batch_size} (AutoAttack "
            f"kinds: 1), fastest of up to {REPEATS} repeats after a warm-up (an otherwise idle machine); "
            "corruption generation, data loading and writing not included; AutoAttack kinds at their most passes "
            "(an upper bound)"
        )
    lines += [model.note for model in plan.models if model.note is not None]
    lines.append("cells: " + ", ".join(p.label for p in plan.perturbations))
    return "\n".join(lines)


def _stored_cells(suite: Suite, results_dir: Path) -> set[tuple[str, str]]:
    """(model, perturbation label) of the cells stored in ``results_dir`` under their current key."""
    root = Path(results_dir) / suite.name
    if not root.is_dir():
        return set()
    return {
        (model, label)
        for model, keys in cell_keys(suite).items()
        for label, key in keys.items()
        if stored_key(root, cell_stem(model, label)) == key
    }


class _Timer:
    """Seconds per image-timestep of one model's forward batch and attack step, measured on
    first use for each batch size (the model too is built, as the run builds it, on first use)."""

    def __init__(self, entry: Entry, data: ImageSet, device: torch.device) -> None:
        self.entry, self.data, self.device = entry, data, device
        self.measured: dict[tuple[str, int], float] = {}

    def cell_seconds(self, perturbation: Perturbation, samples: int, unroll: int, batch_size: int) -> float:
        """Estimated seconds of one cell (see the module docstring)."""
        evaluated = perturbation.samples(samples)
        seconds = perturbation.forward_passes(samples, unroll) * self.per_pass("forward", min(batch_size, evaluated))
        if perturbation.attack is not None:
            batch = 1 if perturbation.attack.kind in AUTOATTACK_KINDS else min(batch_size, evaluated)
            seconds += perturbation.gradient_passes(samples, unroll) * self.per_pass("gradient", batch)
        return seconds

    def per_pass(self, kind: str, batch: int) -> float:
        """Seconds per image-timestep of a ``kind`` (forward or gradient) call on ``batch`` images."""
        if (kind, batch) not in self.measured:
            model = self.entry.built()
            images = self.data.tensor(self.data.images[:batch]).to(self.device)
            labels = torch.as_tensor(self.data.labels[:batch], dtype=torch.long, device=self.device)

            def forward() -> None:
                with torch.no_grad():
                    model(images)

            def gradient() -> None:
                leaf = images.detach().requires_grad_(True)
                torch.autograd.grad(functional.cross_entropy(model(leaf)[-1], labels), leaf)

            call = forward if kind == "forward" else gradient
            unroll = max(self.entry.timesteps) + 1
            self.measured[kind, batch] = _fastest_seconds(call, self.device) / (batch * unroll)
        return self.measured[kind, batch]


def _fastest_seconds(call: Callable[[], None], device: torch.device) -> float:
    """Seconds of one ``call`` on ``device``; on a CPU, the faster of torch's threads and one
    thread (:func:`_repeated_seconds` each)."""
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads == 1:
        return _repeated_seconds(call, device)
    threaded = _repeated_seconds(call, device)
    torch.set_num_threads(1)
    try:
        return min(threaded, _repeated_seconds(call, device))
    finally:
        torch.set_num_threads(threads)


def _repeated_seconds(call: Callable[[], None], device: torch.device) -> float:
    """Seconds of one ``call``: the fastest of its timed repeats after a warm-up (module docstring)."""

    def timed(loops: int) -> float:
        started = time.perf_counter()
        for _ in range(loops):
            call()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return (time.perf_counter() - started) / loops

    timed(1)  # warm-up: first-call allocations and kernel selection
    started = time.perf_counter()
    loops = 1
    while (fastest := timed(loops)) * loops < MIN_REPEAT_SECONDS:
        loops *= 2
    repeats = 1
    while repeats < REPEATS and (repeats < 3 or time.perf_counter() - started < BUDGET_SECONDS):
        fastest = min(fastest, timed(loops))
        repeats += 1
    return fastest


def _duration(seconds: float | None) -> str:
    """``45 s``, ``12 min``, ``3.2 h``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
