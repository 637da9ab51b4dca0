"""Aggregate corruption metrics computed from cell accuracies: means, mCE, relative mCE, Predify's error.

Every function takes a model's cell accuracies ``[timesteps, cells, K]`` (K = 1 for the
point estimate, K = resamples for bootstrap replicates) and returns ``[timesteps, K]``,
or None when the model lacks the cells the metric needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pcbench.errors import PcbenchError
from pcbench.leaderboards.families import ALEXNET_CLEAN_ERROR, ALEXNET_CORRUPTION_ERRORS
from pcbench.leaderboards.outcomes import ModelOutcomes
from pcbench.perturbations.corruptions import COMMON_CORRUPTIONS

ALEXNET = "AlexNet (ImageNet-C)"
ALL_SEVERITIES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Reference:
    """Errors that mCE divides by: clean error ``[K]`` and, per common corruption, the
    error averaged over ``severities[corruption]`` (``[K]``)."""

    name: str
    clean: np.ndarray | None
    corruption: dict[str, np.ndarray]
    severities: dict[str, tuple[int, ...]]


def alexnet_reference() -> Reference:
    """AlexNet's published ImageNet-C errors (severities 1-5), constant across replicates."""
    return Reference(
        name=ALEXNET,
        clean=np.array([ALEXNET_CLEAN_ERROR]),
        corruption={name: np.array([error]) for name, error in ALEXNET_CORRUPTION_ERRORS.items()},
        severities=dict.fromkeys(COMMON_CORRUPTIONS, ALL_SEVERITIES),
    )


def model_reference(outcomes: ModelOutcomes, accuracy: np.ndarray) -> Reference:
    """A model's errors at its last timestep; PcbenchError when it lacks a common corruption."""
    if "mean_corruption_acc_15" not in outcomes.metric_cells:
        raise PcbenchError(
            f"baseline {outcomes.model!r} lacks some of the 15 common corruptions: an mCE baseline needs all of them"
        )
    last = accuracy[-1]
    clean = outcomes.metric_cells.get("clean_acc")
    return Reference(
        name=outcomes.model,
        clean=None if clean is None else 1 - last[clean].mean(axis=0),
        corruption={name: 1 - last[outcomes.corruption_cells[name]].mean(axis=0) for name in COMMON_CORRUPTIONS},
        severities={name: _severities(outcomes, name) for name in COMMON_CORRUPTIONS},
    )


def mean_corruption_accuracy(outcomes: ModelOutcomes, accuracy: np.ndarray, metric: str) -> np.ndarray | None:
    """Mean accuracy over the cells of a complete corruption group (``mean_corruption_acc_15|19``)."""
    mask = outcomes.metric_cells.get(metric)
    return None if mask is None else accuracy[:, mask].mean(axis=1)


def mce(outcomes: ModelOutcomes, accuracy: np.ndarray, reference: Reference) -> np.ndarray | None:
    """mean over the 15 common corruptions c of E_c / E_c(reference), E averaged over severities."""
    errors = _common_errors(outcomes, accuracy, reference)
    if errors is None:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.mean([errors[name] / reference.corruption[name] for name in COMMON_CORRUPTIONS], axis=0)


def relative_mce(outcomes: ModelOutcomes, accuracy: np.ndarray, reference: Reference) -> np.ndarray | None:
    """mean over c of (E_c − E_clean) / (E_c(reference) − E_clean(reference))."""
    errors = _common_errors(outcomes, accuracy, reference)
    clean = outcomes.metric_cells.get("clean_acc")
    if errors is None or clean is None or reference.clean is None:
        return None
    clean_error = 1 - accuracy[:, clean].mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = [
            (errors[name] - clean_error) / (reference.corruption[name] - reference.clean) for name in COMMON_CORRUPTIONS
        ]
    return np.mean(ratios, axis=0)


def relative_corruption_error(outcomes: ModelOutcomes, accuracy: np.ndarray) -> np.ndarray | None:
    """Predify's headline: mean over corruptions of Σ_severities error, divided by the same at timestep 0."""
    masks = outcomes.corruption_cells.values()
    if not masks or outcomes.timesteps[0] != 0:
        return None
    summed = np.mean([(1 - accuracy[:, mask]).sum(axis=1) for mask in masks], axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return summed / summed[:1]


def _common_errors(outcomes: ModelOutcomes, accuracy: np.ndarray, reference: Reference) -> dict[str, np.ndarray] | None:
    """Per common corruption: error averaged over severities ``[T, K]``; None unless all 15 are stored.

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
        errors[name] = 1 - accuracy[:, outcomes.corruption_cells[name]].mean(axis=1)
    return errors


def _severities(outcomes: ModelOutcomes, corruption: str) -> tuple[int, ...]:
    """Sorted severities stored for one corruption."""
    return tuple(sorted(int(s) for s in outcomes.cells.loc[outcomes.corruption_cells[corruption], "severity"]))
