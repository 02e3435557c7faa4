"""Checks on what users log, so that bad keys and values fail where they are made."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shipyard.core.errors import InvalidInput

__all__ = [
    "check_key",
    "check_mapping",
    "check_metric_value",
    "check_name",
    "check_text_values",
    "stringify",
]

_KEY = re.compile(r"^[\w][\w\-. /:]{0,249}$")
MAX_VALUE_CHARS = 8000


def check_key(kind: str, key: object) -> str:
    """A param, metric or tag key: letters, digits, ``_-. /:``, at most 250 characters."""
    if isinstance(key, str) and _KEY.fullmatch(key) and not key.endswith(" "):
        return key
    raise InvalidInput(
        f"Invalid {kind} key {key!r}.",
        hint="Keys start with a letter, digit or '_' and use only letters, digits and "
        "'_-. /:' (at most 250 characters).",
    )


def check_metric_value(key: str, value: object) -> float:
    """A metric value is a real number; NaN and infinities are kept as such."""
    try:
        as_float = float(value)  # type: ignore[arg-type]  # also numpy scalars and Decimals
    except (TypeError, ValueError, OverflowError):
        as_float = None
    if as_float is None or isinstance(value, (str, bytes, bool)):
        raise InvalidInput(
            f"Metric {key!r} must be a number, got {type(value).__name__} {value!r}.",
            hint="Log numbers as metrics and text as params or tags.",
        )
    return as_float


def stringify(kind: str, key: str, value: Any) -> str:
    """Params and tags are stored as text; refuse values too long to be meant as one."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_VALUE_CHARS:
        raise InvalidInput(
            f"The {kind} {key!r} is {len(text)} characters long; the limit is {MAX_VALUE_CHARS}.",
            hint="Log large values as an artifact instead.",
        )
    return text


def check_name(kind: str, name: object) -> str:
    """Experiment and run names: printable, 1-256 characters."""
    if isinstance(name, str) and 0 < len(name) <= 256 and name.isprintable() and name.strip():
        return name.strip()
    raise InvalidInput(f"Invalid {kind} name {name!r}.", hint="Use 1 to 256 printable characters.")


def check_mapping(kind: str, values: object) -> Mapping[str, Any]:
    if isinstance(values, Mapping):
        return values
    raise InvalidInput(
        f"{kind} must be given as a dict of key to value, got {type(values).__name__}.",
        hint="For example: {{'lr': 0.1}}.",
    )


def check_text_values(kind: str, values: object) -> dict[str, str]:
    """Params or tags given as a mapping, checked and turned into text."""
    return {
        check_key(kind, key): stringify(kind, key, value)
        for key, value in check_mapping(f"{kind}s", values).items()
    }
