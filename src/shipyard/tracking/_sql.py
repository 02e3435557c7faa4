"""Small SQL helpers shared by the tracking modules."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shipyard.core.errors import NotFound
from shipyard.store._schema import runs

__all__ = ["chunked", "insert_for", "now_ms", "require_run"]

_CHUNK = 900  # stays under SQLite's bound-parameter limit


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def insert_for(conn: Connection, table: sa.Table) -> Any:
    """An INSERT that knows ``ON CONFLICT`` on the connection's database."""
    # Imported here: loading the PostgreSQL dialect costs ~0.1 s that SQLite users never need.
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def chunked(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def require_run(conn: Connection, run_id: str) -> None:
    if conn.execute(sa.select(runs.c.id).where(runs.c.id == run_id)).first() is None:
        raise NotFound(f"No run with id {run_id!r}.", hint="List runs with: shipyard runs list.")
