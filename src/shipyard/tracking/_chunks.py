"""Packing metric history into compact chunks, and unpacking it again.

A chunk holds the values one run logged for one key between two writer flushes, as three
little-endian arrays: int64 steps, int64 millisecond timestamps and float64 values (NaN and
infinities included, which a SQL float column on SQLite cannot hold).
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["pack_chunks", "unpack_chunk"]

_SWAP = sys.byteorder != "little"


def _to_bytes(kind: str, items: Iterable[Any]) -> bytes:
    packed = array(kind, items)
    if _SWAP:
        packed.byteswap()
    return packed.tobytes()


def _from_bytes(kind: str, data: bytes) -> array[Any]:
    packed = array(kind)
    packed.frombytes(data)
    if _SWAP:
        packed.byteswap()
    return packed


def pack_chunks(rows: Sequence[tuple[str, str, float, int, int]]) -> list[dict[str, Any]]:
    """Group ``(run_id, key, value, step, timestamp_ms)`` rows into one chunk per run and key."""
    groups: dict[tuple[str, str], list[tuple[str, str, float, int, int]]] = {}
    for row in rows:
        groups.setdefault((row[0], row[1]), []).append(row)
    return [
        {
            "run_id": run_id,
            "key": key,
            "count": len(group),
            "steps": _to_bytes("q", (r[3] for r in group)),
            "timestamps": _to_bytes("q", (r[4] for r in group)),
            "values": _to_bytes("d", (r[2] for r in group)),
        }
        for (run_id, key), group in groups.items()
    ]


def unpack_chunk(steps: bytes, timestamps: bytes, values: bytes) -> list[tuple[int, float, int]]:
    """The ``(step, value, timestamp_ms)`` points of one chunk, in logging order."""
    return list(
        zip(
            _from_bytes("q", steps),
            _from_bytes("d", values),
            _from_bytes("q", timestamps),
            strict=True,
        )
    )
