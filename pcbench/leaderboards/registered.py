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
    kept = scores[~stale].reset_index(drop=True)
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
