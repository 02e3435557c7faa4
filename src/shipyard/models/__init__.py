"""Model flavors, signatures and packaging: save, load and run a model of any supported library.

Names load on first use (PEP 562): the registry and the CLI reach ``ModelRef`` and
``log_model`` without paying for pandas, and flavors import their own library only when used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.models._flavor import ConversionSkipped, Flavor
    from shipyard.models._log import log_model, open_logged_model
    from shipyard.models._package import (
        LoadedModel,
        ModelPackage,
        check_flavor,
        open_package,
        package_model,
    )
    from shipyard.models._plugins import available_flavors, flavor_for, get_flavor
    from shipyard.models._ref import ModelRef
    from shipyard.models._signature import ColumnSpec, Signature, TensorSpec, infer_signature
    from shipyard.models.flavors.pyfunc import PythonModel

__all__ = [
    "ColumnSpec",
    "ConversionSkipped",
    "Flavor",
    "LoadedModel",
    "ModelPackage",
    "ModelRef",
    "PythonModel",
    "Signature",
    "TensorSpec",
    "available_flavors",
    "check_flavor",
    "flavor_for",
    "get_flavor",
    "infer_signature",
    "log_model",
    "open_logged_model",
    "open_package",
    "package_model",
]

_HOMES = {
    "shipyard.models._flavor": ("ConversionSkipped", "Flavor"),
    "shipyard.models._log": ("log_model", "open_logged_model"),
    "shipyard.models._package": (
        "LoadedModel",
        "ModelPackage",
        "check_flavor",
        "open_package",
        "package_model",
    ),
    "shipyard.models._plugins": ("available_flavors", "flavor_for", "get_flavor"),
    "shipyard.models._ref": ("ModelRef",),
    "shipyard.models._signature": ("ColumnSpec", "Signature", "TensorSpec", "infer_signature"),
    "shipyard.models.flavors.pyfunc": ("PythonModel",),
}
_WHERE = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'shipyard.models' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
