"""pcbench: does predictive-coding feedback make vision networks more robust, and at which timestep?

The public API (:mod:`pcbench.api`) mirrors the command line, one call per command::

    import pcbench

    pcbench.list_models(variant="pc")
    model = pcbench.load_model("digits-pcnn")
    summary = pcbench.run("quick", limit=50, results="results-50")
    board = pcbench.leaderboard("quick", results=["results-50"])

``import pcbench`` does not import torch: the functions import what they need when called.
"""

from pcbench.api import (
    cache_usage,
    clear_cache,
    describe_suites,
    evaluate,
    feedback_settings,
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
    train_feedback,
    unregister,
    wrap_pc,
    write_report,
)
from pcbench.errors import PcbenchError
from pcbench.registry import get_model_spec, list_model_specs, register, register_model
from pcbench.registry.spec import ModelSpec, PCConfig, PCLayer

__version__ = "0.1.0"

__all__ = [
    "ModelSpec",
    "PCConfig",
    "PCLayer",
    "PcbenchError",
    "__version__",
    "cache_usage",
    "clear_cache",
    "describe_suites",
    "evaluate",
    "feedback_settings",
    "get_model_spec",
    "leaderboard",
    "list_model_specs",
    "list_models",
    "list_suites",
    "load_model",
    "load_results",
    "load_suite",
    "model_card",
    "model_table",
    "plan",
    "register",
    "register_file",
    "register_model",
    "reproduce",
    "run",
    "train_feedback",
    "unregister",
    "wrap_pc",
    "write_report",
]
