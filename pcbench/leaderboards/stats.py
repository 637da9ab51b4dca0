"""Uncertainty and significance: Wilson intervals, exact McNemar tests, a seeded bootstrap,
and the checks that a ratio's denominator is resolved and an interval contains its value."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest, norm

#: Coverage of every interval pcbench reports.
CONFIDENCE = 0.95


def wilson_interval(
    correct: np.ndarray, n: np.ndarray, confidence: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of the accuracies ``correct / n`` (element-wise; NaN where n = 0).

    With z the two-sided normal quantile and p = correct / n, the bounds are
    ``(p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)``.
    """
    correct = np.asarray(correct, dtype=float)
    n = np.asarray(n, dtype=float)
    z = norm.ppf(0.5 + confidence / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = correct / n
        center = (p + z**2 / (2 * n)) / (1 + z**2 / n)
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    low = np.where((correct == 0) & (n > 0), 0.0, center - half)  # exact where rounding would miss them
    high = np.where((correct == n) & (n > 0), 1.0, center + half)
    return low, high


def mcnemar_pvalue(only_first: int, only_second: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pair counts.

    ``only_first`` pairs are correct under the first system only, ``only_second`` under
    the second only; under H0 each discordant pair goes either way with probability 1/2,
    so the p-value is that of a two-sided binomial test. 1.0 when there is no discordant pair.
    """
    discordant = only_first + only_second
    if discordant == 0:
        return 1.0
    return float(binomtest(only_second, discordant, 0.5, alternative="two-sided").pvalue)


@dataclass(frozen=True)
class Bootstrap:
    """Seeded nonparametric bootstrap over samples.

    Replicate ``b`` draws ``n`` sample positions uniformly with replacement (one
    ``Generator.integers`` call per replicate, from ``numpy.random.default_rng(seed)``)
    and weighs each sample by how often it was drawn. The same seed and sample count
    give the same weights for every model, so replicates are paired across models.
    The interval is the percentile interval of the replicates (NaN replicates ignored).
    """

    resamples: int = 1000
    seed: int = 0
    chunk: int = 100

    def weights(self, n: int) -> Iterator[np.ndarray]:
        """Chunks (``[≤ chunk, n]``, float32) of per-sample weights, replicate by replicate."""
        rng = np.random.default_rng(self.seed)
        for start in range(0, self.resamples, self.chunk):
            size = min(self.chunk, self.resamples - start)
            draws = [np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(size)]
            yield np.asarray(draws, dtype=np.float32)

    @staticmethod
    def interval(replicates: np.ndarray, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
        """Percentile interval along the last axis; NaN where every replicate is NaN."""
        tail = 100 * (1 - confidence) / 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices give NaN
            low, high = np.nanpercentile(replicates, [tail, 100 - tail], axis=-1)
        return low, high


def resolved(point: float, replicates: np.ndarray, resolution: float, confidence: float = CONFIDENCE) -> bool:
    """Whether the data resolve a denominator away from 0, so that dividing by it means something.

    ``point`` is the denominator on all samples, ``replicates`` its bootstrap replicates
    (``[K]``), ``resolution`` the smallest change the data can show (one sample: 1/n). The
    denominator is resolved when ``|point| ≥ resolution`` and its percentile interval
    (:meth:`Bootstrap.interval`) lies strictly on one side of 0; a NaN interval is not.
    """
    low, high = Bootstrap.interval(np.asarray(replicates, dtype=float), confidence)
    return bool(abs(point) >= resolution and (low > 0 or high < 0))


#: Relative slack of :func:`checked_interval`: bootstrap bounds are computed in float32,
#: whose rounding can put a bound a few 1e-7 on the wrong side of a float64 value.
ROUNDING = 1e-5


def checked_interval(value: np.ndarray, low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bounds that contain their value, or none: ``(low, high, kept)`` element-wise.

    A bound that misses ``value`` by rounding only (less than :data:`ROUNDING` relative) is
    moved onto it. Where a bound is NaN or infinite, or the interval excludes the value
    (a percentile interval can, for a skewed ratio), or the value is NaN, both bounds
    become NaN and ``kept`` is False, so that no interval is half-missing or wrong.
    """
    value, low, high = (np.asarray(a, dtype=float) for a in (value, low, high))
    slack = ROUNDING * np.maximum(1.0, np.abs(value))
    with np.errstate(invalid="ignore"):
        low = np.where((low > value) & (low - value <= slack), value, low)
        high = np.where((high < value) & (value - high <= slack), value, high)
        kept = np.isfinite(value) & np.isfinite(low) & np.isfinite(high) & (low <= value) & (value <= high)
    return np.where(kept, low, np.nan), np.where(kept, high, np.nan), kept
