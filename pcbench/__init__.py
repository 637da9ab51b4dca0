"""pcbench: does predictive-coding feedback make vision networks more robust, and at which timestep?

Public API::

    from pcbench import ModelSpec, PCConfig, register_model, get_model_spec, build_model
"""

from pcbench.registry.spec import ModelSpec, PCConfig, PCLayer
from pcbench.registry.registry import (
    get_model_spec,
    list_model_specs,
    register,
    register_model,
)
from pcbench.models.build import build_model

__version__ = "0.1.0"

__all__ = [
    "ModelSpec",
    "PCConfig",
    "PCLayer",
    "build_model",
    "get_model_spec",
    "list_model_specs",
    "register",
    "register_model",
    "__version__",
]
