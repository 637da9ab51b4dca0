"""Benchmark suites: what to evaluate (models, data, timesteps, corruptions, attacks)."""

from pcbench.suite.loader import builtin_suite_names, load_suite
from pcbench.suite.schema import (
    ATTACK_KINDS,
    AttackConfig,
    CorruptionConfig,
    DatasetConfig,
    Suite,
)
from pcbench.suite.tables import parse_suite, with_overrides

__all__ = [
    "ATTACK_KINDS",
    "AttackConfig",
    "CorruptionConfig",
    "DatasetConfig",
    "Suite",
    "builtin_suite_names",
    "load_suite",
    "parse_suite",
    "with_overrides",
]
