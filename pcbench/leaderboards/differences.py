"""A dynamic variant (PC or recurrent) minus its feedforward base at every timestep, with a
paired 95 % interval.

The direct answer to "did the dynamics help, and when?". For each dynamic variant whose base is
in the results and each headline metric — ``clean_acc``, ``corruption_acc`` (pooled over
the stored corruption cells, whatever subset was run) and every best-known robust accuracy
``best_known_<norm>@<ε>_acc`` — every sample gets a score per model (the fraction of the
metric's cells it is correct in; for a threat model 1 when it survives every attack of it),
and the difference at timestep t is the mean over samples of
``score_variant(t) − score_base(base's last timestep)``, over the samples both have. The
interval is the 95 % percentile bootstrap of that mean, resampling samples with the
leaderboard's seeded :class:`~pcbench.leaderboards.stats.Bootstrap` (paired: both models
use the same resampled samples).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pcbench.leaderboards.outcomes import ModelOutcomes
from pcbench.leaderboards.paired import is_paired_variant
from pcbench.leaderboards.stats import Bootstrap

COLUMNS = ["model", "base", "metric", "timestep", "delta", "ci_low", "ci_high", "n"]
HEADLINE = ("clean_acc", "corruption_acc")


def variant_differences(outcomes: dict[str, ModelOutcomes], models: pd.DataFrame, bootstrap: Bootstrap) -> pd.DataFrame:
    """Rows :data:`COLUMNS` for every dynamic variant in ``models`` (columns model, variant,
    base) whose base has outcomes; empty when there is none.

    Example::

        table = variant_differences(board.outcomes, board.models, Bootstrap())
        table[table.metric == "clean_acc"]   # delta per timestep, with ci_low, ci_high
    """
    frames = []
    pairs = models.loc[is_paired_variant(models["variant"], models["base"]), ["model", "base"]]
    for model, base in pairs.itertuples(index=False):
        if base not in outcomes or model not in outcomes:
            continue
        variant, reference = outcomes[model], outcomes[base]
        for metric in [*HEADLINE, *variant.threat_models]:
            scores, base_scores = sample_scores(variant, metric), sample_scores(reference, metric)
            if scores is None or base_scores is None:
                continue
            delta, low, high, n = _paired_mean(scores, base_scores[-1], bootstrap)
            frames.append(
                pd.DataFrame(
                    {
                        "model": model,
                        "base": base,
                        "metric": metric,
                        "timestep": variant.timesteps,
                        "delta": delta,
                        "ci_low": low,
                        "ci_high": high,
                        "n": n,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)


def sample_scores(outcome: ModelOutcomes, metric: str) -> np.ndarray | None:
    """Per-sample score ``[timesteps, samples]`` in [0, 1] (NaN where the sample is not
    stored), or None when the model lacks the metric."""
    if metric in outcome.threat_models:
        correct, present = outcome.robust_under(metric)
        return np.where(present, correct.astype(float), np.nan)
    mask = outcome.metric_cells.get(metric)
    if mask is None or not mask.any():
        return None
    present = outcome.present[:, mask].sum(axis=1)
    correct = (outcome.correct & outcome.present)[:, mask].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(present > 0, correct / present, np.nan)


def _paired_mean(
    scores: np.ndarray, base: np.ndarray, bootstrap: Bootstrap
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean difference per timestep, its bootstrap interval and the number of paired samples."""
    difference = scores - base[None, :]
    paired = np.isfinite(difference)
    values = np.where(paired, difference, 0.0)
    counts = paired.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = values.sum(axis=1) / counts
        replicates = np.concatenate(
            [(values @ weights.T) / (paired @ weights.T) for weights in bootstrap.weights(scores.shape[1])], axis=1
        )
    low, high = Bootstrap.interval(replicates)
    return delta, low, high, counts
