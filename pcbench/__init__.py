"""pcbench: does predictive-coding feedback make vision networks more robust, and at which timestep?

The public API (:mod:`pcbench.api`) mirrors the command line, one call per command::

    import pcbench

    pcbench.list_models(variant="pc")
    model = pcbench.load_model("digits-pcnn")
    summary = pcbench.run("quick", limit=50, results="results-50")
    board = pcbench.leaderboard("quick", results=["results-50"])

Names are resolved on first use (PEP 562), so ``import pcbench`` imports neither torch nor
any layer below the API until a function is called, and importing a low layer such as
``pcbench.registry`` never drags the API in (the import direction stays one way). The same
names are imported under ``TYPE_CHECKING``, so editors and type checkers see their signatures.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# foolbox imports GitPython, which raises at import when no ``git`` is on PATH unless told to
# stay quiet; pcbench never uses git through it.
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

#: Public name -> the module that defines it.
_EXPORTS = {
    **{
        name: "pcbench.api"
        for name in (
            "cache_usage",
            "clear_cache",
            "describe_suites",
            "evaluate",
            "Evaluation",
            "feedback_settings",
            "forget_run",
            "import_feedback",
            "leaderboard",
            "list_models",
            "list_suites",
            "load_model",
            "load_results",
            "load_suite",
            "model_card",
            "model_table",
            "plan",
            "register_file",
            "reproduce",
            "run",
            "schema",
            "status",
            "train_feedback",
            "unregister",
            "wrap_pc",
            "write_report",
            "write_site",
        )
    },
    "PcbenchError": "pcbench.errors",
    "Stepwise": "pcbench.models.stepwise",
    **{name: "pcbench.executors.options" for name in ("ExecutorOptions", "RayOptions", "SlurmOptions")},
    "run_task": "pcbench.executors.task",
    **{name: "pcbench.registry" for name in ("get_model_spec", "list_model_specs", "register", "register_model")},
    **{name: "pcbench.registry.spec" for name in ("ModelSpec", "PCConfig", "PCLayer")},
}

__all__ = sorted([*_EXPORTS, "__version__"])

if TYPE_CHECKING:  # what editors and type checkers see: the exports' real signatures (never run)
    from pcbench.api import (  # noqa: F401
        Evaluation,
        cache_usage,
        clear_cache,
        describe_suites,
        evaluate,
        feedback_settings,
        forget_run,
        import_feedback,
        leaderboard,
        list_models,
        list_suites,
        load_model,
        load_results,
        load_suite,
        model_card,
        model_table,
        plan,
        register_file,
        reproduce,
        run,
        schema,
        status,
        train_feedback,
        unregister,
        wrap_pc,
        write_report,
        write_site,
    )
    from pcbench.errors import PcbenchError  # noqa: F401
    from pcbench.executors.options import (  # noqa: F401
        ExecutorOptions,
        RayOptions,
        SlurmOptions,
    )
    from pcbench.executors.task import run_task  # noqa: F401
    from pcbench.models.stepwise import Stepwise  # noqa: F401
    from pcbench.registry import (  # noqa: F401
        get_model_spec,
        list_model_specs,
        register,
        register_model,
    )
    from pcbench.registry.spec import ModelSpec, PCConfig, PCLayer  # noqa: F401


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pcbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return __all__
