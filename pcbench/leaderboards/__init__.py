"""Leaderboards of clean, corruption and adversarial accuracy at every timestep.

Modules, one job each: ``merge`` (combine result directories, detect conflicts),
``outcomes`` (per-sample correctness arrays), ``stats`` (Wilson, McNemar, bootstrap),
``aggregates`` (mean corruption accuracy, mCE, relative mCE, Predify's error),
``compare`` (wide per-timestep table), ``metrics`` (long table), ``summary`` (one row per
model), ``board`` (build all tables, write the CSVs), ``view`` (terminal table),
``plots`` (PNGs), ``report`` (Markdown), ``masking`` (gradient-masking flags).
"""

from pcbench.leaderboards.compare import format_leaderboard, leaderboard_table, write_leaderboard

__all__ = ["format_leaderboard", "leaderboard_table", "write_leaderboard"]
