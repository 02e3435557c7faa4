"""Batched, background metric writing.

Logging one metric value is an append to an in-memory list; a daemon thread writes the pending
values in one transaction every ``interval`` seconds (sooner when many are waiting). ``flush``
blocks until every value logged before it is committed, which is what "acknowledged" means.
Memory stays bounded: producers wait when ``max_pending`` values are not yet written.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

from shipyard.core.errors import StoreError
from shipyard.store import Database
from shipyard.store._schema import latest_metrics, metric_chunks
from shipyard.tracking._chunks import pack_chunks
from shipyard.tracking._sql import insert_for

__all__ = ["MetricRow", "MetricWriter"]

# (run_id, key, value, step, timestamp_ms)
MetricRow = tuple[str, str, float, int, int]


def _latest_per_key(rows: Sequence[MetricRow]) -> list[dict[str, Any]]:
    """The newest row of each (run, key) in a batch, by step then time."""
    newest: dict[tuple[str, str], MetricRow] = {}
    for row in rows:
        key = (row[0], row[1])
        seen = newest.get(key)
        if seen is None or (row[3], row[4]) >= (seen[3], seen[4]):
            newest[key] = row
    return [_as_dict(row) for row in newest.values()]


def _as_dict(row: MetricRow) -> dict[str, Any]:
    return {
        "run_id": row[0],
        "key": row[1],
        "value": _storable(row[2]),
        "step": row[3],
        "timestamp_ms": row[4],
    }


def _storable(value: float) -> float | None:
    return None if value != value else value  # SQLite cannot store NaN: NULL means NaN


def write_metric_rows(conn: Connection, rows: Sequence[MetricRow]) -> None:
    """Append ``rows`` to the history as packed chunks and move each latest value forward."""
    conn.execute(metric_chunks.insert(), pack_chunks(rows))
    stmt = insert_for(conn, latest_metrics)
    newer = (stmt.excluded.step > latest_metrics.c.step) | (
        (stmt.excluded.step == latest_metrics.c.step)
        & (stmt.excluded.timestamp_ms >= latest_metrics.c.timestamp_ms)
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=[latest_metrics.c.run_id, latest_metrics.c.key],
        set_={
            "value": stmt.excluded.value,
            "step": stmt.excluded.step,
            "timestamp_ms": stmt.excluded.timestamp_ms,
        },
        where=newer,
    )
    conn.execute(upsert, _latest_per_key(rows))


class MetricWriter:
    """Buffers metric rows of one process and writes them in batches."""

    def __init__(
        self,
        db: Database,
        *,
        interval: float = 0.5,
        batch_size: int = 20_000,
        max_pending: int = 500_000,
    ) -> None:
        self._db = db
        self._interval = interval
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._pending: list[MetricRow] = []
        self._queued = 0  # rows ever enqueued
        self._written = 0  # rows ever committed
        self._error: BaseException | None = None
        self._lock = threading.Lock()  # taken directly on the hot path: cheaper than the Condition
        self._cond = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(self, row: MetricRow) -> None:
        """Queue one row; cheap, so that logging in a tight loop stays fast."""
        with self._lock:
            self._pending.append(row)
            self._queued += 1
            if len(self._pending) >= self._batch_size:
                self._ensure_thread()
                self._cond.notify_all()
                while len(self._pending) >= self._max_pending and self._error is None:
                    self._cond.wait(0.1)
            elif self._thread is None:
                self._ensure_thread()

    def add_many(self, rows: Sequence[MetricRow]) -> None:
        with self._cond:
            self._pending.extend(rows)
            self._queued += len(rows)
            self._ensure_thread()
            if len(self._pending) >= self._batch_size:
                self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> None:
        """Block until every row queued so far is committed; raise if writing failed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._queued
            if self._written >= target:
                return
            self._ensure_thread()
            self._cond.notify_all()
            while self._written < target:
                if self._error is not None:
                    error, self._error = self._error, None
                    raise StoreError(
                        f"Metric values could not be written: {error}",
                        hint="They are kept in memory and retried; check the database.",
                    ) from error
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise StoreError(
                        f"Timed out after {timeout}s waiting for metric values to be written."
                    )
                self._cond.wait(0.1 if remaining is None else min(remaining, 0.1))

    def close(self) -> None:
        """Write what is left and stop the thread (called at interpreter exit too)."""
        try:
            self.flush(timeout=60)
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._loop, name="shipyard-metric-writer", daemon=True
            )
            self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._cond:
                if not self._pending and not self._closed:
                    self._cond.wait(self._interval)
                if self._closed and not self._pending:
                    return
                batch = self._pending[: self._batch_size * 5]
            if not batch:
                continue
            try:
                self._db.write(functools.partial(write_metric_rows, rows=batch))
            except BaseException as exc:  # kept for flush() to report; rows stay queued
                with self._cond:
                    self._error = exc
                    self._cond.notify_all()
                time.sleep(self._interval)
                continue
            with self._cond:
                del self._pending[: len(batch)]
                self._written += len(batch)
                self._error = None
                self._cond.notify_all()
