"""Per-sample correctness of each model, as arrays over (timestep, cell, sample).

All models share one sample axis (the sorted union of stored sample ids), so that
bootstrap weights and paired tests line up across models.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from pcbench.leaderboards.compare import accuracy_columns
from pcbench.perturbations.corruptions import COMMON_CORRUPTIONS, CORRUPTIONS
from pcbench.suite.schema import attack_label_norm

CELL_COLUMNS = ["cell", "perturbation", "corruption", "severity", "attack", "epsilon"]
#: Prefix of the best-known robust accuracy metrics, ``best_known_<norm>@<ε>_acc``.
BEST_KNOWN = "best_known_"
#: Mean corruption accuracy over all (corruption, severity) cells of a complete group.
CORRUPTION_GROUPS = {"mean_corruption_acc_15": COMMON_CORRUPTIONS, "mean_corruption_acc_19": CORRUPTIONS}


@dataclass(frozen=True)
class ModelOutcomes:
    """Which samples one model got right, in every stored cell at every timestep.

    ``cells`` has one row per cell (columns :data:`CELL_COLUMNS`) in array order;
    ``correct`` and ``present`` are ``[timesteps, cells, samples]`` booleans over
    ``sample_ids``; ``present`` is False where a cell has no prediction for a sample.

    A stochastic model evaluated with ``draws`` > 1 (:mod:`pcbench.runner.stochastic`) has
    one prediction per draw: ``correct`` is then True only where every draw is right (so a
    best-known robust accuracy counts a sample robust only if it survives every draw, and
    paired tests read it so), and ``hits`` (float ``[timesteps, cells, samples]``) holds the
    fraction of draws right, from which :meth:`accuracy` takes the mean accuracy over draws
    (as the cells' scores do); ``None`` when every cell has one draw.
    """

    model: str
    cells: pd.DataFrame
    timesteps: np.ndarray
    sample_ids: np.ndarray
    correct: np.ndarray
    present: np.ndarray
    hits: np.ndarray | None = None

    @cached_property
    def _flat(self) -> tuple[np.ndarray, np.ndarray]:
        shape = (-1, len(self.sample_ids))
        right = self.correct & self.present if self.hits is None else self.hits * self.present
        return right.reshape(shape).astype(np.float32), self.present.reshape(shape).astype(np.float32)

    def accuracy(self, weights: np.ndarray | None = None) -> np.ndarray:
        """Cell accuracies ``[timesteps, cells, K]``; NaN where a cell has no (weighted) sample.

        Without ``weights``: the exact accuracies (K = 1). With ``weights`` ``[K, samples]``
        (bootstrap counts): each sample weighted, in float32 (for intervals).
        """
        with np.errstate(divide="ignore", invalid="ignore"):
            if weights is None:
                right = self.correct & self.present if self.hits is None else self.hits * self.present
                return (right.sum(axis=-1) / self.present.sum(axis=-1))[..., None]
            correct, present = self._flat
            accuracy = (correct @ weights.T) / (present @ weights.T)
        return accuracy.reshape(len(self.timesteps), len(self.cells), len(weights))

    @cached_property
    def metric_cells(self) -> dict[str, np.ndarray]:
        """Cell-pooled accuracy metric -> boolean mask over ``cells``.

        The leaderboard's accuracy columns (``clean_acc``, ``corruption_acc``,
        ``<corruption>_acc``, ``<attack>@<ε>_acc``) plus each group of
        :data:`CORRUPTION_GROUPS` that this model has every corruption of.
        """
        masks = {name: mask.to_numpy() for name, mask in accuracy_columns(self.cells).items()}
        for name, group in CORRUPTION_GROUPS.items():
            if set(self.corruption_cells).issuperset(group):
                masks[name] = np.any([self.corruption_cells[corruption] for corruption in group], axis=0)
        return masks

    @cached_property
    def corruption_cells(self) -> dict[str, np.ndarray]:
        """Stored corruption name -> boolean mask of its (severity) cells over ``cells``."""
        corrupted = (self.cells["perturbation"] == "corruption").to_numpy()
        names = self.cells["corruption"].to_numpy()
        return {name: corrupted & (names == name) for name in pd.unique(names[corrupted])}

    def index(self, timestep: int) -> int:
        """Position of ``timestep`` on the timestep axis (KeyError when not stored)."""
        position = int(np.searchsorted(self.timesteps, timestep))
        if position == len(self.timesteps) or self.timesteps[position] != timestep:
            raise KeyError(timestep)
        return position

    @cached_property
    def threat_models(self) -> dict[str, np.ndarray]:
        """Best-known robust accuracy metric -> boolean mask of its attack cells over ``cells``.

        A threat model is a norm and a budget: ``best_known_linf@0.03_acc`` pools every L∞
        attack cell (FGSM, PGD, BIM, AutoAttack and its single attacks, Square; white-box,
        transfer, targeted) at ε = 0.03. Ordered by norm, then ε.
        """
        attacked = (self.cells["perturbation"] == "attack").to_numpy()
        keys = [
            (attack_label_norm(attack), float(epsilon)) if hit else None
            for attack, epsilon, hit in zip(self.cells["attack"], self.cells["epsilon"], attacked, strict=True)
        ]
        return {
            f"{BEST_KNOWN}{norm}@{epsilon:g}_acc": np.array([key == (norm, epsilon) for key in keys], dtype=bool)
            for norm, epsilon in sorted({key for key in keys if key is not None})
        }

    def robust_under(self, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """Per sample and timestep: correct under every attack cell of a threat model
        (:attr:`threat_models`) that attacked it, and attacked by at least one. Two
        ``[timesteps, samples]`` booleans. Attacks with a ``limit`` attack a subset of the
        samples; without one every attack cell holds every sample, and this is "correct
        under all of them"."""
        mask = self.threat_models[metric]
        present, correct = self.present[:, mask], self.correct[:, mask]
        return (correct | ~present).all(axis=1) & present.any(axis=1), present.any(axis=1)

    def decisive_attack(self, metric: str, timestep: int) -> tuple[str | None, int]:
        """The attack of a threat model (:attr:`threat_models`) that alone breaks the most
        samples at ``timestep``, and how many: samples that exactly one of the attack cells
        that attacked them misclassifies, i.e. how many samples the best-known robust
        accuracy would gain without that attack. ``(None, 0)`` when no sample is broken by
        one attack alone; ties go to the first cell. KeyError when ``timestep`` is not stored.
        """
        mask = self.threat_models[metric]
        t = self.index(timestep)
        broken = ~self.correct[t, mask] & self.present[t, mask]
        alone = (broken & (broken.sum(axis=0) == 1)).sum(axis=1)
        best = int(np.argmax(alone))
        if alone[best] == 0:
            return None, 0
        return str(self.cells["attack"].to_numpy()[mask][best]), int(alone[best])

    def outcomes(self, metric: str, timestep: int) -> pd.Series:
        """Correctness at ``timestep`` for the (cell, sample) pairs behind ``metric``.

        A boolean Series indexed by (cell, sample_id), stored pairs only; for a
        best-known robust accuracy the cell level is the metric's name. Empty when the
        model has no such metric.
        """
        t = self.index(timestep)
        if metric in self.threat_models:
            correct, present = self.robust_under(metric)
            labels, correct, present = np.array([metric]), correct[t][None], present[t][None]
        elif metric in self.metric_cells:
            mask = self.metric_cells[metric]
            labels, correct, present = self.cells["cell"].to_numpy()[mask], self.correct[t, mask], self.present[t, mask]
        else:
            return pd.Series([], dtype=bool, index=pd.MultiIndex.from_arrays([[], []], names=["cell", "sample_id"]))
        cell, sample = np.nonzero(present)
        index = pd.MultiIndex.from_arrays([labels[cell], self.sample_ids[sample]], names=["cell", "sample_id"])
        return pd.Series(correct[cell, sample], index=index)


def model_outcomes(scores: pd.DataFrame, predictions: pd.DataFrame) -> dict[str, ModelOutcomes]:
    """Outcomes of every model in ``scores`` (in order of first appearance), from its predictions."""
    sample_ids = np.unique(predictions["sample_id"].to_numpy())
    outcomes = {}
    for model, rows in scores.groupby("model", sort=False):
        cells = rows[CELL_COLUMNS].drop_duplicates("cell").reset_index(drop=True)
        timesteps = np.unique(rows["timestep"].to_numpy())
        shape = (len(timesteps), len(cells), len(sample_ids))
        correct, present = np.zeros(shape, dtype=bool), np.zeros(shape, dtype=bool)
        mine = predictions[predictions["model"] == model]
        position = (
            np.searchsorted(timesteps, mine["timestep"].to_numpy()),
            pd.Categorical(mine["cell"], categories=cells["cell"]).codes,
            np.searchsorted(sample_ids, mine["sample_id"].to_numpy()),
        )
        right = mine["prediction"].to_numpy() == mine["label"].to_numpy()
        present[position] = True
        correct[position] = True
        correct[tuple(axis[~right] for axis in position)] = False  # right only if right in every draw
        hits = _hits(position, right, shape) if _drawn(mine) else None
        outcomes[model] = ModelOutcomes(model, cells, timesteps, sample_ids, correct, present, hits)
    return outcomes


def _drawn(predictions: pd.DataFrame) -> bool:
    """Whether some prediction row is of a draw other than the first (``draws`` > 1)."""
    return "draw" in predictions.columns and bool((predictions["draw"].fillna(0) > 0).any())


def _hits(position: tuple[np.ndarray, ...], right: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The fraction of its predictions (one per draw) that are right, per (timestep, cell,
    sample) ``position`` of the prediction rows; 0 where there is none."""
    made, hit = np.zeros(shape), np.zeros(shape)
    np.add.at(made, position, 1.0)
    np.add.at(hit, position, right.astype(float))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(made > 0, hit / made, 0.0)
