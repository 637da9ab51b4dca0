"""Per-timestep leaderboard of clean, corruption and adversarial accuracy."""

from pcbench.leaderboard.compare import format_leaderboard, leaderboard_table, write_leaderboard

__all__ = ["format_leaderboard", "leaderboard_table", "write_leaderboard"]
