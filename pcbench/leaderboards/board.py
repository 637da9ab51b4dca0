"""Build every leaderboard table of a suite from its results, and write its CSVs."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from pcbench.files import atomic_write, inside
from pcbench.leaderboards.compare import leaderboard_table, write_leaderboard
from pcbench.leaderboards.masking import autoattack_warnings, masking_flags, stochastic_models
from pcbench.leaderboards.merge import Results
from pcbench.leaderboards.metrics import metrics_table, resolve_baseline
from pcbench.leaderboards.outcomes import ModelOutcomes, model_outcomes
from pcbench.leaderboards.readout import attack_readout_path, attack_readout_table, write_attack_readout
from pcbench.leaderboards.stats import Bootstrap
from pcbench.leaderboards.summary import Selection, select_timesteps, summary_table


@dataclass(frozen=True)
class CompareOptions:
    """How to rank: mCE baseline model, timestep shown (``last``, ``best`` or N), sort metric
    (None: ``clean_acc``, or the first metric when there is no clean cell)."""

    baseline: str | None = None
    timestep: str | int = "last"
    sort: str | None = None
    bootstrap: Bootstrap = field(default_factory=Bootstrap)


@dataclass(frozen=True)
class Leaderboard:
    """Every table of one suite's leaderboard.

    ``timesteps``: the wide per-timestep table (:mod:`~pcbench.leaderboards.compare`);
    ``metrics``: the long table (:mod:`~pcbench.leaderboards.metrics`); ``summary``: one
    row per model (:mod:`~pcbench.leaderboards.summary`); ``flags``: masking flags per
    model and timestep; ``baseline``: the mCE baseline's name, or None.
    """

    results: Results
    options: CompareOptions
    baseline: str | None
    models: pd.DataFrame
    outcomes: dict[str, ModelOutcomes]
    timesteps: pd.DataFrame
    metrics: pd.DataFrame
    flags: pd.DataFrame
    selection: Selection
    summary: pd.DataFrame

    @property
    def suite(self) -> str:
        """The suite's name."""
        return self.results.suite

    @cached_property
    def attack_readout(self) -> pd.DataFrame:
        """The attack × read-out matrix of every attack cell, long (:mod:`~pcbench.leaderboards.readout`)."""
        return attack_readout_table(self.results.scores, self.results.attack_readout)


def build_leaderboard(results: Results, options: CompareOptions | None = None) -> Leaderboard:
    """All tables of ``results``; PcbenchError for a bad baseline, sort metric or timestep."""
    options = options or CompareOptions()
    scores = results.scores
    timesteps = leaderboard_table(scores)  # also validates the scores
    baseline = resolve_baseline(options.baseline, scores)
    outcomes = model_outcomes(scores, results.predictions)
    metrics = metrics_table(scores, outcomes, baseline, options.bootstrap)
    attacked = (scores["perturbation"] == "attack").any()
    flags = masking_flags(scores) if attacked else pd.DataFrame({"model": [], "timestep": []})  # nothing to check
    selection = select_timesteps(metrics, options.sort, options.timestep)
    models = scores[["model", "variant", "base"]].drop_duplicates("model").reset_index(drop=True)
    warned = autoattack_warnings(scores)
    if warned is not None:
        models["autoattack_warnings"] = models["model"].map(warned)  # NA: the model has no AutoAttack cell
    stochastic = stochastic_models(scores)
    if stochastic is not None:
        models["stochastic"] = models["model"].map(stochastic)  # NA: stored before models were checked
    summary = summary_table(metrics, flags, outcomes, models, selection)
    return Leaderboard(results, options, baseline, models, outcomes, timesteps, metrics, flags, selection, summary)


def csv_paths(directory: Path, suite: str) -> dict[str, Path]:
    """Where the long, per-timestep and summary CSVs of ``suite`` go."""
    return {
        "metrics": inside(directory, f"{suite}.csv"),
        "timesteps": inside(directory, f"{suite}-timesteps.csv"),
        "summary": inside(directory, f"{suite}-summary.csv"),
    }


def write_csvs(board: Leaderboard, directory: Path) -> list[Path]:
    """Write the three CSVs atomically, and the attack × read-out CSV where there are attack
    cells; return their paths.

    The per-timestep table keeps four decimals; the long table and the summary keep six
    significant digits (p-values can be tiny).
    """
    paths = csv_paths(directory, board.suite)
    write_leaderboard(board.results.scores, paths["timesteps"])
    for name in ("metrics", "summary"):
        frame = getattr(board, name)
        atomic_write(paths[name], lambda handle, f=frame: f.to_csv(handle, index=False, float_format="%.6g"))
    written = list(paths.values())
    if not board.attack_readout.empty:
        written.append(write_attack_readout(board.attack_readout, attack_readout_path(directory, board.suite)))
    return written
