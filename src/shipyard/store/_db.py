"""The metadata database: engine set-up, transactions that survive contention, migrations.

SQLite runs in WAL mode with a busy timeout, and write transactions start with
``BEGIN IMMEDIATE`` so that a read-then-write transaction waits for the lock instead of failing
at once. PostgreSQL serialization failures and deadlocks are retried. Both are hidden behind
:meth:`Database.write` and :meth:`Database.read`, which take a function of a connection.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from shipyard.core.errors import StoreError

__all__ = ["Database"]

T = TypeVar("T")

_BUSY_TIMEOUT_MS = 60_000
_RETRYABLE_PG_STATES = {"40001", "40P01"}
_MAX_ATTEMPTS = 8
_READONLY = "shipyard_readonly"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so that BEGIN is ours.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        readonly = conn.get_execution_options().get(_READONLY, False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def _is_retryable(exc: DBAPIError) -> bool:
    state = getattr(exc.orig, "sqlstate", None)
    if state in _RETRYABLE_PG_STATES:
        return True
    # The busy timeout covers almost every SQLite wait; this catches the rare lock error left.
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


class Database:
    """One metadata database, shared by every service of a workspace process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._engine_pid = 0

    @property
    def dialect(self) -> str:
        return "sqlite" if self.url.startswith("sqlite") else "postgresql"

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, created on first use and anew in a forked child."""
        if self._engine is None or self._engine_pid != os.getpid():
            if self._engine is not None:
                self._engine.dispose(close=False)  # the parent's connections stay the parent's
            self._engine = self._create_engine()
            self._engine_pid = os.getpid()
        return self._engine

    def _create_engine(self) -> Engine:
        try:
            if self.dialect == "sqlite":
                engine = sa.create_engine(
                    self.url, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000}
                )
                _configure_sqlite(engine)
                return engine
            return sa.create_engine(self.url, pool_pre_ping=True, pool_size=5, max_overflow=10)
        except (SQLAlchemyError, ImportError) as exc:
            raise StoreError(
                f"Cannot use database URL {self.safe_url}: {exc}.",
                hint="Check SHIPYARD_DB_URL or [store] db_url in shipyard.toml "
                "(PostgreSQL needs: pip install 'shipyard[postgres]').",
            ) from None

    @property
    def safe_url(self) -> str:
        """The URL with any password masked, fit for messages."""
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction, retrying on lock contention."""
        return self._run(work, readonly=False)

    def read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a read transaction that never takes the write lock."""
        return self._run(work, readonly=True)

    def _run(self, work: Callable[[Connection], T], *, readonly: bool) -> T:
        for attempt in range(1, _MAX_ATTEMPTS + 1):
            try:
                conn = self.engine.connect()
                try:
                    if readonly:
                        conn = conn.execution_options(**{_READONLY: True})
                    with conn.begin():
                        return work(conn)
                finally:
                    conn.close()
            except DBAPIError as exc:
                if attempt < _MAX_ATTEMPTS and _is_retryable(exc):
                    time.sleep(min(0.01 * 2**attempt, 1.0) * (0.5 + random.random()))
                    continue
                raise self._translate(exc) from exc
            except SQLAlchemyError as exc:
                raise self._translate(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _translate(self, exc: SQLAlchemyError) -> StoreError:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return StoreError(
            f"Database {self.safe_url} failed: {detail}.",
            hint="Check that the database is reachable and the workspace is not damaged.",
        )

    def dispose(self) -> None:
        """Close every pooled connection (tests and forked children call this)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
