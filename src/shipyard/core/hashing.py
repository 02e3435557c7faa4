"""Content hashing used for blobs and cache keys."""

from __future__ import annotations

import hashlib

__all__ = ["sha256_bytes"]


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()
