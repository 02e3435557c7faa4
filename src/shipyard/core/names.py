"""Names of datasets and registered models: they appear in URIs (``models:/churn@champion``)
and CLI arguments, so they keep to a small, unambiguous alphabet."""

from __future__ import annotations

import re

from shipyard.core.errors import InvalidInput

__all__ = ["check_entity_name"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def check_entity_name(kind: str, name: object) -> str:
    """A dataset or model name: 1-128 letters, digits, ``_ . -``; a letter or digit first."""
    if isinstance(name, str) and _NAME.fullmatch(name):
        return name
    raise InvalidInput(
        f"Invalid {kind} name {name!r}.",
        hint="Use 1 to 128 letters, digits, '_', '-' or '.', starting with a letter or digit.",
    )
