"""The inference log and feedback: append-only Parquet parts in the artifact store.

Predictions are far too many for the metadata database, so every predicted row goes through a
bounded in-memory buffer into Parquet parts next to the artifacts, and monitoring reads them back
with pyarrow (:func:`read_inference_log`, :func:`read_feedback`) or DuckDB. Serving must never
wait for, or fail because of, the log: :meth:`InferenceLog.append` only puts a reference to the
batch on a queue (O(1), no conversion, no I/O) and a background thread turns queued batches into
Arrow tables and writes them. When the buffer is full the batch is dropped and counted, so a slow
or dead store costs log records, never requests. The writer first concatenates the raw arrays of
batches from the same model version and converts them once, vectorized: under light load every
batch is a single request, and converting those one by one would cost the server's GIL dearly.

Layout (``location`` is the workspace's artifact root, a folder or an fsspec URL)::

    {location}/inference/{deployment}/date=YYYY-MM-DD/part-{epoch_ms}-{random}.parquet
    {location}/feedback/{deployment}/date=YYYY-MM-DD/part-{epoch_ms}-{random}.parquet

``date`` is the UTC date of the rows' ``ts`` (a batch spanning midnight is split). The writer
makes one zstd-compressed part per flush, deployment and date (two when batches of one flush
have types that cannot be merged, e.g. two model versions predicting ints and strings). A part is
never visible half-written: a local folder gets a temp file under ``{location}/tmp`` that is
fsynced and renamed into place (the artifact store's own helpers), an object store one PUT.
Parts are immutable; any number of server replicas can write side by side.

Inference columns, one row per predicted row:

=================  ==============================  ===============================================
``request_id``     string                          the request's id, repeated on each of its rows
``row``            int32                           index of the row within its request
``ts``             timestamp[ms, tz=UTC]           when the request arrived
``deployment``     string
``model_name``     string
``model_version``  int32
``variant``        string                          the alias or label traffic went to
``role``           string                          ``"primary"`` or ``"shadow"``
``latency_ms``     float32                         server-side latency of the request
``inputs``         struct                          one field per input column, its own Arrow type
``prediction``     the prediction's type           ``list<type>`` for (n, k) predictions
``proba``          list<float64>                   class probabilities; null without them
``classes``        list<label type>                the label of each ``proba`` entry; null without
=================  ==============================  ===============================================

``inputs`` keeps each column's type (numbers stay numbers, strings stay strings; categoricals are
stored as their category values, so string categories become strings; missing values, NaN
included, become nulls), so drift is computed per field without parsing anything. ``classes``
sits beside ``proba`` because probabilities mean nothing without the class each one belongs to;
it is repeated per row, which Parquet's dictionary encoding makes nearly free.

Feedback columns: ``request_id`` string, ``row`` int32 (null = every row of the request),
``ts`` timestamp[ms, tz=UTC] (when the label arrived), ``label_json`` string (the label as exact
JSON text) and ``label``: typed (bool, int64, float64, string or a list of one of those) when all
labels of a part share a type, else a string (string labels as they are, others as JSON text).
:func:`read_feedback` unifies parts the same way, so ``label_json`` is always exact and ``label``
always convenient. Join to predictions on ``(request_id, row)``, or on ``request_id`` alone
where ``row`` is null.

Readers prune by the ``date=`` folders, then filter ``ts`` (``since`` inclusive, ``until``
exclusive), unify part schemas (an input column that an older model version did not have is null
there; an int column that became float is float; types that cannot be merged become strings),
and return rows ordered by ``ts``, each request's rows in order. DuckDB reads the same files::

    SELECT inputs.tenure, prediction FROM read_parquet(
        '{location}/inference/churn/*/*.parquet', hive_partitioning = true, union_by_name = true)

This module is the writer. The records it takes are in :mod:`~shipyard.serve._log_records`,
their conversion to Arrow in :mod:`~shipyard.serve._log_tables`, the part files in
:mod:`~shipyard.serve._log_store` and the readers in :mod:`~shipyard.serve._log_readers`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from datetime import date
from typing import Any

import pyarrow as pa

from shipyard.core.errors import InvalidInput, StoreError, Unavailable
from shipyard.serve._log_readers import read_feedback, read_inference_log
from shipyard.serve._log_records import Feedback, LogBatch
from shipyard.serve._log_store import DEPLOYMENT_NAME, PartStore, check_deployment
from shipyard.serve._log_tables import (
    FEEDBACK_SCHEMA,
    INFERENCE_SCHEMA,
    batch_tables,
    check_rows,
    coalesce_tables,
    feedback_tables,
    merge_batches,
    similar_batches,
)

__all__ = [
    "FEEDBACK_SCHEMA",
    "INFERENCE_SCHEMA",
    "Feedback",
    "InferenceLog",
    "LogBatch",
    "read_feedback",
    "read_inference_log",
]

_log = logging.getLogger("shipyard.serve")

_ROLES = ("primary", "shadow")


class InferenceLog:
    """A bounded buffer of predicted batches that a background thread writes as Parquet parts.

    ``append`` never blocks and never raises for lack of room: a batch that would take the buffer
    over ``max_buffered_rows`` is dropped and its rows counted in :attr:`dropped_rows`. The writer
    writes when ``part_rows`` rows are waiting, ``flush_seconds`` after its last write, on
    :meth:`flush` and on :meth:`close`. A failed write (store unreachable) keeps its rows in the
    buffer, where they still count against the limit, and is retried on the next flush; rows are
    only given up when :meth:`close` cannot write them.
    """

    def __init__(
        self,
        location: str,
        storage_options: dict[str, Any] | None = None,
        *,
        max_buffered_rows: int = 200_000,
        part_rows: int = 50_000,
        flush_seconds: float = 5.0,
    ) -> None:
        if max_buffered_rows < 1 or part_rows < 1 or not flush_seconds > 0:
            raise InvalidInput(
                "The inference log needs max_buffered_rows >= 1, part_rows >= 1 and "
                f"flush_seconds > 0 (got {max_buffered_rows}, {part_rows}, {flush_seconds}).",
                hint="Fix the inference log settings.",
            )
        # Opened now, not on the writer thread, so that a bad URL or storage_options is an error
        # when the server starts instead of a stream of warnings later.
        self._store = PartStore(location, storage_options)
        self._max_rows = max_buffered_rows
        self._part_rows = part_rows
        self._flush_seconds = flush_seconds

        # Shared with append(), which runs on the event loop: held only to move references and
        # counters, never during conversion or I/O.
        self._lock = threading.Lock()
        self._settled_changed = threading.Condition(self._lock)
        self._pending: deque[tuple[LogBatch, int]] = deque()
        self._pending_rows = 0
        self._buffered = 0  # pending + converted-but-unwritten rows
        self._written = 0
        self._dropped = 0
        self._reported_dropped = 0
        self._accepted = 0  # batches accepted so far (a sequence number)
        self._settled = 0  # every batch up to this one is written (or dropped)
        self._cycles = 0  # write attempts begun
        self._failed_cycle = 0  # the last attempt that failed (0: none)
        self._failure: Exception | None = None
        self._closed = False
        self._flush_wanted = False
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

        # Only the writer (the thread, or a flush() without one) touches these.
        self._write_mutex = threading.Lock()
        self._unwritten: list[tuple[str, date, pa.Table]] = []
        self._retry_at = 0.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(location={self._store.location!r})"

    @property
    def dropped_rows(self) -> int:
        """Rows given up: buffer full, appended after close, or not writable by close."""
        return self._dropped

    @property
    def written_rows(self) -> int:
        """Rows durable in Parquet parts."""
        return self._written

    @property
    def buffered_rows(self) -> int:
        """Rows accepted and not yet written (they count against ``max_buffered_rows``)."""
        return self._buffered

    def start(self) -> None:
        """Start the writer thread (once; a closed log stays closed)."""
        with self._lock:
            if self._thread is not None or self._closed:
                return
            self._start_thread()

    def _start_thread(self) -> None:
        # A daemon, so that a store hanging in I/O cannot keep the process alive after close()
        # gave up waiting; close() is what makes the buffer durable, not interpreter exit.
        self._thread = threading.Thread(
            target=self._run, name="shipyard-inference-log", daemon=True
        )
        self._thread.start()

    def append(self, batch: LogBatch) -> bool:
        """Queue ``batch`` for writing; False when it was dropped (buffer full or log closed).

        Only O(1) checks happen here; a batch whose arrays disagree is found by the writer,
        which logs a warning and counts its rows as dropped.
        """
        n_requests = len(batch.request_ids)
        if not (
            len(batch.rows_per_request)
            == len(batch.received_ms)
            == len(batch.latency_ms)
            == n_requests
        ):
            raise InvalidInput(
                "A log batch needs one rows_per_request, received_ms and latency_ms per request "
                f"id ({n_requests} request ids).",
                hint="This is a bug in the caller of InferenceLog.append.",
            )
        if batch.role not in _ROLES or not DEPLOYMENT_NAME.fullmatch(batch.deployment):
            raise InvalidInput(
                f"A log batch has role {batch.role!r} and deployment {batch.deployment!r}: the "
                "role must be 'primary' or 'shadow' and the deployment a valid name.",
                hint="This is a bug in the caller of InferenceLog.append.",
            )
        rows = len(batch.predictions)
        with self._lock:
            if self._closed or self._buffered + rows > self._max_rows:
                self._dropped += rows
                return False
            self._pending.append((batch, rows))
            self._pending_rows += rows
            self._buffered += rows
            self._accepted += 1
            full_part = self._pending_rows >= self._part_rows
        if full_part:
            self._wake.set()
        return True

    def flush(self, timeout: float | None = None) -> None:
        """Block until every batch appended before this call is written (or was dropped).

        Raises :class:`StoreError` when the write failed (the rows stay buffered and are
        retried) and :class:`Unavailable` after ``timeout`` seconds. Without a running writer
        thread the caller's thread writes, and ``timeout`` does not apply.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            target = self._accepted
            if self._settled >= target:
                return
            cycle = self._cycles  # only an attempt begun after this call can fail this flush
            running = self._thread is not None and self._thread.is_alive()
            if running:
                self._flush_wanted = True
        if running:
            self._wake.set()
        else:
            self._cycle(final=False)
        with self._lock:
            while self._settled < target:
                if self._failed_cycle > cycle:
                    raise StoreError(
                        f"The inference log could not be written to {self._store.location!r}: "
                        f"{type(self._failure).__name__}: {self._failure}",
                        hint="The rows stay buffered and are retried on the next flush; check "
                        "that the artifact store is reachable and writable.",
                    )
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise Unavailable(
                        f"The inference log was not flushed within {timeout} s.",
                        hint="The artifact store may be slow; the rows stay buffered.",
                    )
                self._settled_changed.wait(remaining)

    def close(self, timeout: float = 30.0) -> None:
        """Write everything buffered, stop the writer and refuse further batches; idempotent.

        Returns within ``timeout`` seconds even if the store hangs (then with a warning). Rows
        the final write could not store are counted as dropped.
        """
        with self._lock:
            self._closed = True
            if self._thread is None:
                self._start_thread()  # the final write runs on it, so the timeout holds
            thread = self._thread
        self._wake.set()
        assert thread is not None
        thread.join(timeout)
        if thread.is_alive():
            _log.warning(
                "The inference log writer did not finish within %.1f s; %d rows are still "
                "buffered for %s.",
                timeout,
                self._buffered,
                self._store.location,
            )

    def write_feedback(self, deployment: str, records: Sequence[Feedback]) -> int:
        """Write ``records`` as feedback parts now; they are durable when this returns.

        Every record is checked first, so a bad one (:class:`InvalidInput`) writes nothing.
        A store failure raises :class:`StoreError`; when the records span several days, the
        days written before it stay written, so a retry may repeat them (join on the latest).
        """
        check_deployment(deployment)
        if not records:
            return 0
        parts = feedback_tables(records)
        try:
            for day, part in parts:
                self._store.write_part("feedback", deployment, day, part)
        except Exception as exc:
            raise self._store.failure(f"write feedback for deployment {deployment!r}", exc) from exc
        return int(sum(part.num_rows for _, part in parts))

    # The writer.

    def _run(self) -> None:
        last = time.monotonic()
        while True:
            self._wake.wait(max(0.0, last + self._flush_seconds - time.monotonic()))
            self._wake.clear()  # flags are read after this, so no wake-up is lost
            now = time.monotonic()
            with self._lock:
                closing = self._closed
                wanted, self._flush_wanted = self._flush_wanted, False
                full_part = self._pending_rows >= self._part_rows and now >= self._retry_at
            if closing or wanted or full_part or now >= last + self._flush_seconds:
                self._cycle(final=closing)
                last = time.monotonic()
            if closing:
                return

    def _cycle(self, *, final: bool) -> None:
        """Write what is buffered, a part's worth of batches at a time; never raises."""
        with self._write_mutex:
            with self._lock:
                self._cycles += 1
                attempt = self._cycles
            try:
                self._write_buffered(attempt, final=final)
            except Exception as exc:  # a bug must not kill the thread that bounds the buffer
                _log.exception("The inference log writer failed unexpectedly.")
                self._fail(exc, attempt, final=final)
        self._report_drops()

    def _write_buffered(self, attempt: int, *, final: bool) -> None:
        while True:
            with self._lock:
                batches: list[tuple[LogBatch, int]] = []
                taken = 0
                while self._pending and (not batches or taken < self._part_rows):
                    item = self._pending.popleft()
                    batches.append(item)
                    taken += item[1]
                self._pending_rows -= taken
                drained_to = None if self._pending else self._accepted
            for group in similar_batches(batches):
                self._convert(group)
            failure = self._write_unwritten()
            if failure is not None:
                self._fail(failure, attempt, final=final)
                return
            if drained_to is not None:
                with self._lock:
                    self._settled = max(self._settled, drained_to)
                    self._failure = None
                    self._settled_changed.notify_all()
                return

    def _convert(self, group: list[tuple[LogBatch, int]]) -> None:
        """Convert batches that can share columns as one (far cheaper than one by one)."""
        valid: list[tuple[LogBatch, int]] = []
        for batch, rows in group:
            try:
                check_rows(batch)
            except ValueError as exc:
                self._drop_malformed(batch, rows, exc)
            else:
                valid.append((batch, rows))
        if not valid:
            return
        try:
            merged = merge_batches([batch for batch, _ in valid])
            self._unwritten.extend((merged.deployment, d, t) for d, t in batch_tables(merged))
            return
        except Exception as exc:
            if len(valid) == 1:
                self._drop_malformed(*valid[0], exc)
                return
        for batch, rows in valid:  # find the batch that spoils the group, keep the others
            try:
                self._unwritten.extend((batch.deployment, d, t) for d, t in batch_tables(batch))
            except Exception as exc:
                self._drop_malformed(batch, rows, exc)

    def _drop_malformed(self, batch: LogBatch, rows: int, exc: Exception) -> None:
        # Retrying cannot help a batch that does not convert, so it is dropped, loudly.
        _log.warning(
            "Dropped %d inference log rows of deployment %r that could not be converted: %s: %s",
            rows,
            batch.deployment,
            type(exc).__name__,
            exc,
        )
        self._count_dropped(rows)

    def _write_unwritten(self) -> Exception | None:
        """Write converted rows as one part per deployment and date; the first failure stops."""
        groups: dict[tuple[str, date], list[pa.Table]] = {}
        for deployment, day, table in self._unwritten:
            groups.setdefault((deployment, day), []).append(table)
        self._unwritten = []
        failure: Exception | None = None
        for (deployment, day), tables in groups.items():
            for part in coalesce_tables(tables):
                if failure is None:
                    try:
                        self._store.write_part("inference", deployment, day, part)
                    except Exception as exc:
                        failure = exc
                    else:
                        with self._lock:
                            self._written += part.num_rows
                            self._buffered -= part.num_rows
                        continue
                self._unwritten.append((deployment, day, part))
        return failure

    def _fail(self, failure: Exception, attempt: int, *, final: bool) -> None:
        self._retry_at = time.monotonic() + self._flush_seconds
        if final:
            with self._lock:
                lost = self._buffered
                self._pending.clear()
                self._pending_rows = 0
            self._unwritten = []
            self._count_dropped(lost)
            _log.warning(
                "The inference log could not write %d rows to %s while closing; they are lost: "
                "%s: %s",
                lost,
                self._store.location,
                type(failure).__name__,
                failure,
            )
            with self._lock:
                self._settled = self._accepted
                self._settled_changed.notify_all()
            return
        _log.warning(
            "The inference log could not write to %s (%s: %s); %d rows stay buffered and are "
            "retried on the next flush.",
            self._store.location,
            type(failure).__name__,
            failure,
            self._buffered,
        )
        with self._lock:
            self._failure = failure
            self._failed_cycle = attempt
            self._settled_changed.notify_all()

    def _count_dropped(self, rows: int) -> None:
        with self._lock:
            self._dropped += rows
            self._buffered -= rows
            self._reported_dropped += rows  # reported here, not again by _report_drops

    def _report_drops(self) -> None:
        """Warn, from the writer and at most once per cycle, about batches append() dropped."""
        with self._lock:
            new = self._dropped - self._reported_dropped
            self._reported_dropped = self._dropped
        if new:
            _log.warning(
                "The inference log dropped %d rows: its buffer of %d rows was full or it was "
                "closed.",
                new,
                self._max_rows,
            )
