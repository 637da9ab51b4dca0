"""Stored scores checked against the registry: stale cells, untrained PC variants.

Decision (stale cells): a row whose ``model_spec_hash`` differs from the spec hash its
model is registered with now was computed for a spec that no longer exists under that name
(an entry edited and registered again with ``--replace``). ``pcbench status`` counts such
cells as missing, so ``compare``, ``report`` and ``plot`` leave them out too, with one
warning per model naming both hashes; rerunning the suite recomputes them (and says so,
:mod:`pcbench.runner.notices`). To compare an old spec with a new one, register them under
two names. Only registered models can be stale: a module evaluated through
:func:`pcbench.api.evaluate` (or a model registered from another Python process) has no
registry entry to compare with and is never flagged.

A model without a registry entry (a module evaluated through :func:`pcbench.api.evaluate`)
has no spec to compare with; its identity is the one of its latest stored cell instead
(``model_spec_hash`` and ``checkpoint_hash`` of the newest ``created_at``): cells stored for
another module under the same name (an earlier β of a sweep, say, whose cells the latest
evaluation did not recompute) are left out with one warning naming both identities, so one
name never mixes the numbers of two modules.

A registered PC variant without feedback weights gets one warning naming it untrained
(:func:`pcbench.registry.spec.untrained_message`), which the report lists among its warnings.
"""

from __future__ import annotations

import pandas as pd

from pcbench.registry.registry import list_model_specs, spec_hash
from pcbench.registry.spec import untrained_message


def check_against_registry(scores: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """``scores`` without the stale rows of registered models, and one warning line per
    model with stale rows or untrained feedback (see the module docstring), by model name."""
    registered = {spec.name: spec for spec in list_model_specs()}
    current = {model: spec_hash(registered[model]) for model in scores["model"].unique() if model in registered}
    stale = scores["model"].map(current).notna() & (scores["model"].map(current) != scores["model_spec_hash"])
    warnings = [_stale_line(model, rows, current[model]) for model, rows in scores[stale].groupby("model", sort=True)]
    earlier = _earlier_module(scores, set(registered))
    warnings += [_earlier_line(model, rows, scores) for model, rows in scores[earlier].groupby("model", sort=True)]
    kept = scores[~stale & ~earlier].reset_index(drop=True)
    untrained = sorted(model for model in kept["model"].unique() if model in current)
    warnings += [untrained_message(registered[model]) for model in untrained if registered[model].untrained_feedback]
    return kept, warnings


def _stale_line(model: str, rows: pd.DataFrame, now: str) -> str:
    """E.g. ``model 'x': 12 cells stored under spec hash A, but its registered spec has hash B; ...``."""
    cells = rows["cell"].nunique()
    stored = ", ".join(sorted(rows["model_spec_hash"].unique()))
    return (
        f"model '{model}': {cells} cell{'s' if cells != 1 else ''} stored under spec hash {stored}, but its "
        f"registered spec has hash {now}; left out (stale) — rerun the suite to recompute them"
    )


def _identity(rows: pd.DataFrame) -> pd.Series:
    return rows["model_spec_hash"].astype(str) + "/" + rows["checkpoint_hash"].astype(str)


def _by_time(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` oldest first by ``created_at`` (ISO 8601, with or without fractions of a second)."""
    order = pd.to_datetime(rows["created_at"], format="ISO8601", utc=True).argsort(kind="stable")
    return rows.iloc[order]


def _earlier_module(scores: pd.DataFrame, registered: set[str]) -> pd.Series:
    """Rows of unregistered models whose identity is not the one of the model's newest row."""
    unregistered = ~scores["model"].isin(registered)
    newest = _by_time(scores[unregistered]).groupby("model").tail(1)
    latest = dict(zip(newest["model"], _identity(newest), strict=True))
    return unregistered & (_identity(scores) != scores["model"].map(latest))


def _earlier_line(model: str, rows: pd.DataFrame, scores: pd.DataFrame) -> str:
    """E.g. ``model 'x': 3 cells stored for an earlier module (spec/checkpoint A), ...``."""
    cells = rows["cell"].nunique()
    current = _by_time(scores[scores["model"] == model]).tail(1)
    return (
        f"model '{model}': {cells} cell{'s' if cells != 1 else ''} stored for an earlier module (spec/checkpoint "
        f"{', '.join(sorted(_identity(rows).unique()))}) than its latest evaluation ({_identity(current).iloc[0]}); "
        "left out — evaluate the module again on those cells to recompute them, or use a new name"
    )
