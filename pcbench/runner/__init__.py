"""Expanding a suite into cells, evaluating them and committing results."""

from pcbench.runner.grid import Perturbation, expand_perturbations
from pcbench.runner.run import RunSummary, run_suite

__all__ = ["Perturbation", "RunSummary", "expand_perturbations", "run_suite"]
