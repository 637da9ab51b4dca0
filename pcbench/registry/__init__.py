"""Model registry: specs and how they are registered and looked up.

The bottom layer of pcbench: it imports nothing from ``models``, ``training``, ``data`` or
anything above. The user registry file is added here as a late source of the registry.
"""

from pcbench.registry.registry import (
    add_source,
    get_model_spec,
    list_model_specs,
    register,
    register_model,
    spec_hash,
    unregister_model,
)
from pcbench.registry.spec import ModelSpec, PCConfig, PCLayer
from pcbench.registry.user_file import load_user_entries

add_source(load_user_entries)

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
