"""Model flavors, signatures and packaging: save, load and run a model of any supported library.

Names load on first use (PEP 562): the registry and the CLI reach ``ModelRef`` and
``log_model`` without paying for pandas, and flavors import their own library only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.core.lazy import lazy_exports

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
__getattr__, __dir__ = lazy_exports(__name__, _HOMES, __all__)
