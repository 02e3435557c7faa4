"""Identifiers that sort by creation time.

A run id is 26 Crockford base32 characters: 64 bits of nanoseconds since the epoch followed by
64 random bits, so ``sorted(ids)`` is creation order and ids made on different machines do not
collide.
"""

from __future__ import annotations

import secrets
import time

__all__ = ["new_id"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id() -> str:
    """Return a new time-ordered id."""
    value = (time.time_ns() << 64) | secrets.randbits(64)
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))
