"""Content hashing used for blobs and cache keys."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

__all__ = ["sha256_bytes", "sha256_chunks"]


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_chunks(chunks: Iterable[bytes]) -> str:
    """Hex sha256 of a stream of chunks, without holding them all in memory."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()
