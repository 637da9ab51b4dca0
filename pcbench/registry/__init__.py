"""Model registry: specs and how they are registered and looked up."""

from pcbench.registry.registry import (
    get_model_spec,
    list_model_specs,
    register,
    register_model,
    spec_hash,
    unregister_model,
)
from pcbench.registry.spec import ModelSpec, PCConfig, PCLayer

__all__ = [
    "ModelSpec",
    "PCConfig",
    "PCLayer",
    "get_model_spec",
    "list_model_specs",
    "register",
    "register_model",
    "spec_hash",
    "unregister_model",
]
