"""Aggregate corruption metrics computed from cell accuracies: means, mCE, relative mCE, Predify's error.

Every function takes a model's cell accuracies as an :class:`Estimate` (``point``
``[timesteps, cells, 1]`` on all samples, ``replicates`` ``[timesteps, cells, K]`` for the
K bootstrap resamples) and returns an :class:`Aggregate`, or None when the model lacks
the cells the metric needs.

Ratio metrics and unresolved denominators
-----------------------------------------
mCE divides by the baseline's corruption error E_c(baseline), relative mCE by its
corruption − clean gap E_c(baseline) − E_clean(baseline), Predify's relative corruption
error by the model's own corruption error at timestep 0. A denominator the data do not
resolve — below one sample's worth (1/n, n = the samples it is computed on; for Predify's
sum over severities, one sample wrong in every corruption cell) or with a 95 % bootstrap
interval that contains 0 (:func:`~pcbench.leaderboards.stats.resolved`) — makes its
ratio meaningless: a gap of a fraction of a sample turns into ±1000 in some resamples and
an undefined value in others. Such a corruption is left out of mCE and relative mCE,
which are then the mean over the resolved corruptions (the same ones for every model,
since they depend on the baseline only) with a note naming the left-out ones; with none
resolved, or Predify's single denominator unresolved, the metric is NaN with a note.
A bootstrap resample whose denominator is exactly 0 gives a NaN replicate (ignored by
the percentile interval) rather than ±inf.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pcbench.errors import PcbenchError
from pcbench.leaderboards.families import ALEXNET_CLEAN_ERROR, ALEXNET_CORRUPTION_ERRORS
from pcbench.leaderboards.outcomes import ModelOutcomes
from pcbench.leaderboards.stats import resolved
from pcbench.perturbations.corruptions import COMMON_CORRUPTIONS

ALEXNET = "AlexNet (ImageNet-C)"
ALL_SEVERITIES = (1, 2, 3, 4, 5)
#: Why a denominator counts as unresolved (completes "<whose> <what> is ...").
UNRESOLVED = "below one sample or its 95 % interval contains 0"


@dataclass(frozen=True)
class Estimate:
    """One quantity on all samples (``point``, last axis 1) and on each bootstrap resample
    (``replicates``, last axis K); the resamples are paired across models."""

    point: np.ndarray
    replicates: np.ndarray

    def map(self, function: Callable[..., np.ndarray], *others: Estimate) -> Estimate:
        """``function`` applied to the point values and to the replicates (with ``others``'
        point values and replicates as further arguments)."""
        return Estimate(
            function(self.point, *(other.point for other in others)),
            function(self.replicates, *(other.replicates for other in others)),
        )


@dataclass(frozen=True)
class Aggregate:
    """An aggregate's values ``[timesteps]``, its bootstrap replicates ``[timesteps, K]``
    and a note: which corruptions it leaves out, or why it is undefined ('' for neither)."""

    value: np.ndarray
    replicates: np.ndarray
    note: str = ""


@dataclass(frozen=True)
class Reference:
    """Errors that mCE divides by: clean error and, per common corruption, the error
    averaged over ``severities[corruption]`` (each an :class:`Estimate` with last axis 1 / K);
    ``resolution``: the smallest denominator its data resolve (1/n; 0 for published errors)."""

    name: str
    clean: Estimate | None
    corruption: dict[str, Estimate]
    severities: dict[str, tuple[int, ...]]
    resolution: float


def alexnet_reference() -> Reference:
    """AlexNet's published ImageNet-C errors (severities 1-5), constant across replicates."""

    def constant(error: float) -> Estimate:
        return Estimate(np.array([error]), np.array([error]))

    return Reference(
        name=ALEXNET,
        clean=constant(ALEXNET_CLEAN_ERROR),
        corruption={name: constant(error) for name, error in ALEXNET_CORRUPTION_ERRORS.items()},
        severities=dict.fromkeys(COMMON_CORRUPTIONS, ALL_SEVERITIES),
        resolution=0.0,
    )


def model_reference(outcomes: ModelOutcomes, accuracy: Estimate) -> Reference:
    """A model's errors at its last timestep; PcbenchError when it lacks a common corruption."""
    if "mean_corruption_acc_15" not in outcomes.metric_cells:
        raise PcbenchError(
            f"baseline {outcomes.model!r} lacks some of the 15 common corruptions: an mCE baseline needs all of them"
        )
    last = accuracy.map(lambda a: a[-1])
    clean = outcomes.metric_cells.get("clean_acc")
    return Reference(
        name=outcomes.model,
        clean=None if clean is None else last.map(lambda a: 1 - a[clean].mean(axis=0)),
        corruption={
            name: last.map(lambda a, mask=outcomes.corruption_cells[name]: 1 - a[mask].mean(axis=0))
            for name in COMMON_CORRUPTIONS
        },
        severities={name: _severities(outcomes, name) for name in COMMON_CORRUPTIONS},
        resolution=_one_sample(outcomes, -1),
    )


def mean_corruption_accuracy(outcomes: ModelOutcomes, accuracy: Estimate, metric: str) -> Aggregate | None:
    """Mean accuracy over the cells of a complete corruption group (``mean_corruption_acc_15|19``)."""
    mask = outcomes.metric_cells.get(metric)
    if mask is None:
        return None
    mean = accuracy.map(lambda a: a[:, mask].mean(axis=1))
    return Aggregate(mean.point[:, 0], mean.replicates)


def mce(outcomes: ModelOutcomes, accuracy: Estimate, reference: Reference) -> Aggregate | None:
    """Mean over the resolved common corruptions c of E_c / E_c(reference), E averaged over severities."""
    errors = _common_errors(outcomes, accuracy, reference)
    if errors is None:
        return None
    return _mean_ratio(errors, reference.corruption, reference, "corruption error")


def relative_mce(outcomes: ModelOutcomes, accuracy: Estimate, reference: Reference) -> Aggregate | None:
    """Mean over the resolved common corruptions c of (E_c − E_clean) / (E_c(reference) − E_clean(reference))."""
    errors = _common_errors(outcomes, accuracy, reference)
    clean = outcomes.metric_cells.get("clean_acc")
    if errors is None or clean is None or reference.clean is None:
        return None
    clean_error = accuracy.map(lambda a: 1 - a[:, clean].mean(axis=1))
    gaps = {name: error.map(np.subtract, clean_error) for name, error in errors.items()}
    baseline_gaps = {name: error.map(np.subtract, reference.clean) for name, error in reference.corruption.items()}
    return _mean_ratio(gaps, baseline_gaps, reference, "corruption − clean error gap")


def relative_corruption_error(outcomes: ModelOutcomes, accuracy: Estimate) -> Aggregate | None:
    """Predify's headline: mean over corruptions of Σ_severities error, divided by the same at
    timestep 0; NaN with a note when the model's timestep-0 error is unresolved (module docstring)."""
    masks = list(outcomes.corruption_cells.values())
    if not masks or outcomes.timesteps[0] != 0:
        return None
    summed = accuracy.map(lambda a: np.mean([(1 - a[:, mask]).sum(axis=1) for mask in masks], axis=0))
    severities = sum(int(mask.sum()) for mask in masks) / len(masks)  # one sample wrong in every cell
    if not resolved(float(summed.point[0, 0]), summed.replicates[0], severities * _one_sample(outcomes, 0)):
        return _undefined(summed, f"undefined: {outcomes.model}'s corruption error at timestep 0 is {UNRESOLVED}")
    ratio = summed.map(lambda s: _divide(s, s[:1]))
    return Aggregate(ratio.point[:, 0], ratio.replicates)


def _mean_ratio(
    numerators: dict[str, Estimate], denominators: dict[str, Estimate], reference: Reference, quantity: str
) -> Aggregate:
    """Mean over the corruptions whose denominator is resolved of numerator / denominator."""
    kept = [
        name
        for name in numerators
        if resolved(float(denominators[name].point[0]), denominators[name].replicates, reference.resolution)
    ]
    why = f"{reference.name}'s {quantity} is {UNRESOLVED}"
    if not kept:
        return _undefined(next(iter(numerators.values())), f"undefined: {why} for every corruption")
    ratios = [numerators[name].map(_divide, denominators[name]) for name in kept]
    mean = Estimate(np.mean([r.point for r in ratios], axis=0), np.mean([r.replicates for r in ratios], axis=0))
    left_out = [name for name in numerators if name not in kept]
    note = f"mean over {len(kept)} of {len(numerators)} corruptions; left out ({why}): {' '.join(left_out)}"
    return Aggregate(mean.point[:, 0], mean.replicates, note if left_out else "")


def _undefined(shape: Estimate, note: str) -> Aggregate:
    """An all-NaN aggregate shaped like ``shape`` (``[timesteps, 1]`` / ``[timesteps, K]``)."""
    return Aggregate(np.full(len(shape.point), np.nan), np.full(shape.replicates.shape, np.nan), note)


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is exactly 0 (not ±inf)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator == 0, np.nan, numerator / denominator)


def _one_sample(outcomes: ModelOutcomes, timestep: int) -> float:
    """1/n, n = the samples stored in a corruption cell at the timestep at position
    ``timestep``; inf when there is none (then nothing is resolved)."""
    corrupted = (outcomes.cells["perturbation"] == "corruption").to_numpy()
    samples = int(outcomes.present[timestep][corrupted].any(axis=0).sum())
    return 1 / samples if samples else np.inf


def _common_errors(outcomes: ModelOutcomes, accuracy: Estimate, reference: Reference) -> dict[str, Estimate] | None:
    """Per common corruption: error averaged over severities ``[T, 1|K]``; None unless all 15 are stored.

    Raises PcbenchError when a corruption's severities differ from the reference's.
    """
    if "mean_corruption_acc_15" not in outcomes.metric_cells:
        return None
    errors = {}
    for name in COMMON_CORRUPTIONS:
        severities = _severities(outcomes, name)
        if severities != reference.severities[name]:
            raise PcbenchError(
                f"model {outcomes.model!r} has {name} at severities {list(severities)} but baseline "
                f"{reference.name} at {list(reference.severities[name])}: mCE needs the same severities"
            )
        errors[name] = accuracy.map(lambda a, mask=outcomes.corruption_cells[name]: 1 - a[:, mask].mean(axis=1))
    return errors


def _severities(outcomes: ModelOutcomes, corruption: str) -> tuple[int, ...]:
    """Sorted severities stored for one corruption."""
    return tuple(sorted(int(s) for s in outcomes.cells.loc[outcomes.corruption_cells[corruption], "severity"]))
