"""Foundation shared by every layer: configuration, errors, ids and hashing.

Configuration (which needs pydantic) is loaded lazily so that importing the errors stays cheap.
"""

from typing import Any

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
from shipyard.core.ids import new_id

__all__ = [
    "ArtifactCorrupted",
    "ConfigError",
    "Conflict",
    "InvalidArtifactName",
    "InvalidFilter",
    "InvalidInput",
    "NotFound",
    "Settings",
    "ShipyardError",
    "StoreError",
    "new_id",
    "resolve_settings",
    "write_default_config",
]

_LAZY = {"Settings", "resolve_settings", "write_default_config"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from shipyard.core import config

        return getattr(config, name)
    raise AttributeError(f"module 'shipyard.core' has no attribute {name!r}")
