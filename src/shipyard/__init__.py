"""Shipyard: take a model from idea to production and keep it healthy there.

``import shipyard as sy`` is cheap: the public names load their modules on first use
(PEP 562), so the CLI and short scripts do not pay for what they do not call.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from shipyard._version import __version__

if TYPE_CHECKING:
    from shipyard.core.errors import (
        ArtifactCorrupted,
        ConfigError,
        Conflict,
        InvalidArtifactName,
        InvalidFilter,
        InvalidInput,
        NotFound,
        ShipyardError,
        StoreError,
    )
    from shipyard.tracking import (
        Run,
        RunPage,
        RunRecord,
        RunStatus,
        active_run,
        get_run,
        list_experiments,
        log_artifact,
        log_figure,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        search_runs,
        set_tag,
        set_tags,
        start_run,
    )

__all__ = [
    "ArtifactCorrupted",
    "ConfigError",
    "Conflict",
    "InvalidArtifactName",
    "InvalidFilter",
    "InvalidInput",
    "NotFound",
    "Run",
    "RunPage",
    "RunRecord",
    "RunStatus",
    "ShipyardError",
    "StoreError",
    "__version__",
    "active_run",
    "get_run",
    "list_experiments",
    "log_artifact",
    "log_figure",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "search_runs",
    "set_tag",
    "set_tags",
    "start_run",
]

_HOMES = {
    "shipyard.core.errors": (
        "ArtifactCorrupted",
        "ConfigError",
        "Conflict",
        "InvalidArtifactName",
        "InvalidFilter",
        "InvalidInput",
        "NotFound",
        "ShipyardError",
        "StoreError",
    ),
    "shipyard.tracking": (
        "Run",
        "RunPage",
        "RunRecord",
        "RunStatus",
        "active_run",
        "get_run",
        "list_experiments",
        "log_artifact",
        "log_figure",
        "log_metric",
        "log_metrics",
        "log_param",
        "log_params",
        "search_runs",
        "set_tag",
        "set_tags",
        "start_run",
    ),
}
_WHERE = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'shipyard' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
