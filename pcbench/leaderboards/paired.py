"""Paired comparison of a dynamic variant (PC or recurrent) with its feedforward base on the
same samples."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pcbench.leaderboards.outcomes import ModelOutcomes
from pcbench.leaderboards.stats import mcnemar_pvalue


def is_paired_variant(variant: pd.Series, base: pd.Series) -> pd.Series:
    """Which models (rows of a ``variant`` and a ``base`` column) every table, test and plot
    pairs with their base: any dynamic variant (``pc``, ``recurrent``: all but
    ``feedforward``) that names one.

    Example::

        models.loc[is_paired_variant(models["variant"], models["base"]), ["model", "base"]]
    """
    return (variant != "feedforward") & base.notna()


@dataclass(frozen=True)
class PairedTest:
    """Exact McNemar test on the (cell, sample) pairs that both models were scored on.

    ``only_base``: pairs the base gets right and the variant wrong; ``only_variant``:
    the reverse. ``p_value`` is two-sided.
    """

    pairs: int
    only_base: int
    only_variant: int
    p_value: float


def mcnemar_test(
    variant: ModelOutcomes, timestep: int, base: ModelOutcomes, base_timestep: int, metric: str
) -> PairedTest | None:
    """Compare ``variant`` at ``timestep`` with ``base`` at ``base_timestep`` on ``metric``.

    Pairs are matched by cell label and sample id (for a best-known robust accuracy,
    by sample id). None when the metric is not a per-sample accuracy or no pair is shared.
    """
    joined = pd.concat(
        [variant.outcomes(metric, timestep).rename("variant"), base.outcomes(metric, base_timestep).rename("base")],
        axis=1,
        join="inner",
    )
    if joined.empty:
        return None
    only_base = int((joined["base"] & ~joined["variant"]).sum())
    only_variant = int((joined["variant"] & ~joined["base"]).sum())
    return PairedTest(len(joined), only_base, only_variant, mcnemar_pvalue(only_base, only_variant))
