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
"""

from __future__ import annotations

import json
import logging
import math
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem

from shipyard.core.errors import InvalidInput, StoreError, Unavailable
from shipyard.core.hashing import sha256_bytes
from shipyard.store._blobs import _make_dirs, _write_atomically

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

TS = pa.timestamp("ms", tz="UTC")
_DAY_MS = 86_400_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # the deployment names serving accepts
_ROLES = ("primary", "shadow")
_READ_CHUNK = 64  # parts fetched at once: concurrent on object stores, bounded in memory
_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError)


def _list_of(value_type: pa.DataType) -> pa.DataType:
    # "element" is the child name Parquet files use, so written and read schemas compare equal.
    return pa.list_(pa.field("element", value_type))


#: The columns every inference table has; ``inputs`` and ``prediction`` take their types from
#: the parts read (an empty result has an empty struct and a null column).
INFERENCE_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("row", pa.int32()),
        ("ts", TS),
        ("deployment", pa.string()),
        ("model_name", pa.string()),
        ("model_version", pa.int32()),
        ("variant", pa.string()),
        ("role", pa.string()),
        ("latency_ms", pa.float32()),
        ("inputs", pa.struct([])),
        ("prediction", pa.null()),
        ("proba", _list_of(pa.float64())),
        ("classes", _list_of(pa.null())),
    ]
)

#: The columns every feedback table has; ``label`` takes its type from the parts read.
FEEDBACK_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("row", pa.int32()),
        ("ts", TS),
        ("label_json", pa.string()),
        ("label", pa.null()),
    ]
)


@dataclass(frozen=True)
class LogBatch:
    """One predicted batch of one deployment: several requests' rows, in request order."""

    deployment: str
    model_name: str
    model_version: int
    variant: str  # the alias or label the traffic went to, e.g. "champion", "challenger"
    role: str  # "primary" or "shadow"
    # Per-request fields take lists or ndarrays.
    request_ids: Sequence[str]  # one per request
    rows_per_request: Sequence[int] | np.ndarray[Any, Any]  # one per request; sum == input rows
    received_ms: Sequence[int] | np.ndarray[Any, Any]  # one per request: epoch ms of arrival
    latency_ms: Sequence[float] | np.ndarray[Any, Any]  # one per request: server-side latency
    inputs: pd.DataFrame | np.ndarray[Any, Any]  # all rows; an ndarray comes with input_names
    input_names: Sequence[str] | None
    predictions: np.ndarray[Any, Any]  # (n_rows,) or (n_rows, k)
    probabilities: np.ndarray[Any, Any] | None = None  # (n_rows, n_classes)
    classes: Sequence[Any] | np.ndarray[Any, Any] | None = None  # labels of the proba columns


@dataclass(frozen=True)
class Feedback:
    """Ground truth for a logged prediction, matched to it by request id (and row)."""

    request_id: str
    label: Any  # JSON scalar: number, string or bool (or a list of them for multi-output)
    row: int | None = None  # row within the request; None = all rows of the request
    received_ms: int | None = None  # epoch milliseconds; default now


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
        self._store = _Store(location, storage_options)
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
        if batch.role not in _ROLES or not _NAME.fullmatch(batch.deployment):
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
        return self._store.write_feedback(deployment, records)

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
            for group in _similar(batches):
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
                _check_rows(batch)
            except ValueError as exc:
                self._drop_malformed(batch, rows, exc)
            else:
                valid.append((batch, rows))
        if not valid:
            return
        try:
            merged = _merge([batch for batch, _ in valid])
            self._unwritten.extend((merged.deployment, d, t) for d, t in _batch_tables(merged))
            return
        except Exception as exc:
            if len(valid) == 1:
                self._drop_malformed(*valid[0], exc)
                return
        for batch, rows in valid:  # find the batch that spoils the group, keep the others
            try:
                self._unwritten.extend((batch.deployment, d, t) for d, t in _batch_tables(batch))
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
            for part in _coalesce(tables):
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


# Conversion to Arrow: on the writer thread, vectorized over rows.


def _similar(batches: list[tuple[LogBatch, int]]) -> list[list[tuple[LogBatch, int]]]:
    """``batches`` grouped so that each group's arrays can be concatenated: the same model
    version in the same role, with inputs and outputs of the same kinds and shapes."""
    groups: dict[tuple[Any, ...], list[tuple[LogBatch, int]]] = {}
    for item in batches:
        batch = item[0]
        try:
            key = _merge_key(batch)
        except Exception:  # something odd: alone in its group, where conversion judges it
            key = (id(batch),)
        groups.setdefault(key, []).append(item)
    return list(groups.values())


def _merge_key(batch: LogBatch) -> tuple[Any, ...]:
    inputs = batch.inputs
    if isinstance(inputs, pd.DataFrame):
        shape: tuple[Any, ...] = ("frame",)  # pd.concat reconciles columns and dtypes
    else:
        names = None if batch.input_names is None else tuple(batch.input_names)
        shape = ("array", inputs.dtype.str, inputs.shape[1:], names)
    proba = batch.probabilities
    return (
        batch.deployment,
        batch.model_name,
        batch.model_version,
        batch.variant,
        batch.role,
        shape,
        batch.predictions.dtype.str,
        batch.predictions.shape[1:],
        None if proba is None else proba.shape[1:],
        None if batch.classes is None else tuple(np.asarray(batch.classes).tolist()),
    )


def _merge(batches: list[LogBatch]) -> LogBatch:
    """Batches of one :func:`_merge_key` as one batch, requests in order."""
    first = batches[0]
    if len(batches) == 1:
        return first
    inputs: pd.DataFrame | np.ndarray[Any, Any]
    if isinstance(first.inputs, pd.DataFrame):
        inputs = pd.concat([b.inputs for b in batches], ignore_index=True)
    else:
        inputs = np.concatenate([np.asarray(b.inputs) for b in batches])
    probabilities = None
    if first.probabilities is not None:
        probabilities = np.concatenate([np.asarray(b.probabilities) for b in batches])
    return replace(
        first,
        request_ids=[request_id for b in batches for request_id in b.request_ids],
        rows_per_request=np.concatenate([np.asarray(b.rows_per_request) for b in batches]),
        received_ms=np.concatenate([np.asarray(b.received_ms) for b in batches]),
        latency_ms=np.concatenate([np.asarray(b.latency_ms) for b in batches]),
        inputs=inputs,
        predictions=np.concatenate([b.predictions for b in batches]),
        probabilities=probabilities,
    )


def _check_rows(batch: LogBatch) -> None:
    counts = np.asarray(batch.rows_per_request, dtype=np.int64)
    n_rows = int(counts.sum())
    proba = batch.probabilities
    if (
        (counts < 0).any()
        or len(batch.predictions) != n_rows
        or len(batch.inputs) != n_rows
        or (proba is not None and len(proba) != n_rows)
    ):
        raise ValueError(
            f"rows_per_request adds up to {n_rows} rows but there are {len(batch.inputs)} input "
            f"rows and {len(batch.predictions)} predictions"
        )


def _batch_tables(batch: LogBatch) -> list[tuple[date, pa.Table]]:
    """``batch`` as Arrow tables, one per UTC date of its requests."""
    _check_rows(batch)
    counts = np.asarray(batch.rows_per_request, dtype=np.int64)
    n_rows = int(counts.sum())
    if n_rows == 0:
        return []
    request = np.repeat(np.arange(len(counts)), counts)  # the request of each row
    starts = np.cumsum(counts) - counts
    received = np.asarray(batch.received_ms, dtype=np.int64)
    columns: dict[str, pa.Array] = {
        "request_id": pa.array(list(batch.request_ids), pa.string()).take(request),
        "row": pa.array(np.arange(n_rows, dtype=np.int64) - starts[request]).cast(pa.int32()),
        "ts": pa.array(received[request], TS),
        "deployment": pa.repeat(pa.scalar(batch.deployment, pa.string()), n_rows),
        "model_name": pa.repeat(pa.scalar(batch.model_name, pa.string()), n_rows),
        "model_version": pa.repeat(pa.scalar(batch.model_version, pa.int32()), n_rows),
        "variant": pa.repeat(pa.scalar(batch.variant, pa.string()), n_rows),
        "role": pa.repeat(pa.scalar(batch.role, pa.string()), n_rows),
        "latency_ms": pa.array(np.asarray(batch.latency_ms, dtype=np.float32)[request]),
    }
    inputs = _inputs_struct(batch.inputs, batch.input_names)
    if inputs is not None:  # Parquet cannot store a struct without fields
        columns["inputs"] = inputs
    columns["prediction"] = _values_array(np.asarray(batch.predictions), missing_as_null=False)
    columns["proba"], columns["classes"] = _proba_arrays(batch.probabilities, batch.classes, n_rows)
    table = pa.table(columns)
    days = received // _DAY_MS
    row_days = days[request]
    if (row_days == row_days[0]).all():
        return [(_day(int(row_days[0])), table)]
    return [
        (_day(int(day)), table.filter(pa.array(row_days == day))) for day in np.unique(row_days)
    ]


def _day(day_number: int) -> date:
    return date(1970, 1, 1) + timedelta(days=day_number)


def _inputs_struct(
    inputs: pd.DataFrame | np.ndarray[Any, Any], names: Sequence[str] | None
) -> pa.StructArray | None:
    """One struct field per input column, each with its own Arrow type."""
    if isinstance(inputs, pd.DataFrame):
        fields = [str(name) for name in inputs.columns]
        arrays = [_column_array(inputs.iloc[:, i]) for i in range(inputs.shape[1])]
    else:
        values = np.asarray(inputs)
        width = 1 if values.ndim == 1 else values.shape[1]
        fields = [str(n) for n in names] if names is not None else [f"x{i}" for i in range(width)]
        if values.ndim == 1 and len(fields) == 1:
            arrays = [_column_array(values)]
        elif values.ndim == 2 and len(fields) == width:
            arrays = [_column_array(values[:, i]) for i in range(width)]
        elif values.ndim >= 2 and len(fields) == 1:  # one tensor input: a list per row
            arrays = [_values_array(values, missing_as_null=True)]
        else:
            raise ValueError(f"inputs of shape {values.shape} do not match names {fields}")
    if not fields:
        return None
    return pa.StructArray.from_arrays(arrays, names=fields)


def _column_array(values: pd.Series[Any] | np.ndarray[Any, Any]) -> pa.Array:
    """One input column as Arrow; missing values (None, NaN, NA) become nulls."""
    try:
        array = pa.array(values, from_pandas=True)
    except _ARROW_ERRORS:
        # Mixed Python objects: kept readable as text rather than lost (rare, so a loop is fine).
        array = pa.array([None if _missing(v) else str(v) for v in values], pa.string())
    return _plain(array)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _plain(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The plain type Parquet and later unification handle best."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):  # pandas categoricals: their values
        array = array.dictionary_decode()
    if pa.types.is_large_string(array.type) or pa.types.is_string_view(array.type):
        array = array.cast(pa.string())
    elif pa.types.is_large_binary(array.type) or pa.types.is_binary_view(array.type):
        array = array.cast(pa.binary())
    elif pa.types.is_float16(array.type):
        array = array.cast(pa.float32())
    return array


def _values_array(values: np.ndarray[Any, Any], *, missing_as_null: bool) -> pa.Array:
    """Predictions (or a tensor input): a value per row, or a list per row for (n, k, ...)."""
    if values.ndim <= 1:
        return _plain(_scalar_array(values, missing_as_null))
    width = math.prod(values.shape[1:])
    flat = _plain(_scalar_array(values.reshape(-1), missing_as_null))
    return _list_array(flat, len(values), width)


def _scalar_array(values: np.ndarray[Any, Any], from_pandas: bool) -> pa.Array:
    try:
        return pa.array(values, from_pandas=from_pandas)
    except _ARROW_ERRORS:
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def _list_array(flat: pa.Array, n_rows: int, width: int) -> pa.Array:
    offsets = pa.array((np.arange(n_rows + 1, dtype=np.int64) * width).astype(np.int32))
    return pa.ListArray.from_arrays(offsets, flat, type=_list_of(flat.type))


def _proba_arrays(
    probabilities: np.ndarray[Any, Any] | None,
    classes: Sequence[Any] | np.ndarray[Any, Any] | None,
    n_rows: int,
) -> tuple[pa.Array, pa.Array]:
    if probabilities is None:
        return pa.nulls(n_rows, _list_of(pa.float64())), pa.nulls(n_rows, _list_of(pa.null()))
    proba = np.asarray(probabilities, dtype=np.float64).reshape(n_rows, -1)
    width = proba.shape[1]
    proba_array = _list_array(pa.array(proba.reshape(-1)), n_rows, width)
    if classes is None:
        return proba_array, pa.nulls(n_rows, _list_of(pa.null()))
    labels = _plain(_scalar_array(np.asarray(classes), False))
    if len(labels) != width:
        raise ValueError(f"{len(labels)} classes for {width} probability columns")
    repeated = labels.take(pa.array(np.tile(np.arange(width), n_rows)))
    return proba_array, _list_array(repeated, n_rows, width)


def _coalesce(tables: list[pa.Table]) -> list[pa.Table]:
    """``tables`` as one table when their types merge, else one per schema."""
    if len(tables) == 1:
        return tables
    try:
        return [pa.concat_tables(tables, promote_options="permissive")]
    except _ARROW_ERRORS:
        groups: list[list[pa.Table]] = []
        for table in tables:
            for group in groups:
                if group[0].schema.equals(table.schema):
                    group.append(table)
                    break
            else:
                groups.append([table])
        return [pa.concat_tables(group) for group in groups]


# Feedback.


def _feedback_table(records: Sequence[Feedback]) -> pa.Table:
    """``records`` as a feedback table, after checking every one of them."""
    now = time.time_ns() // 1_000_000
    labels_json: list[str] = []
    for i, record in enumerate(records):
        where = f"Feedback record {i}"
        if not isinstance(record, Feedback):
            raise InvalidInput(f"{where} is not a Feedback.", hint="Pass Feedback records.")
        if not isinstance(record.request_id, str) or not record.request_id:
            raise InvalidInput(
                f"{where} has no request id.",
                hint="Use the request id the prediction's response carried.",
            )
        if record.row is not None and (
            not isinstance(record.row, int) or isinstance(record.row, bool) or record.row < 0
        ):
            raise InvalidInput(
                f"{where} has row {record.row!r}: it must be an index >= 0 or omitted.",
                hint="Omit row when the label applies to every row of the request.",
            )
        if record.received_ms is not None and (
            not isinstance(record.received_ms, int) or isinstance(record.received_ms, bool)
        ):
            raise InvalidInput(
                f"{where} has received_ms {record.received_ms!r}: it must be epoch ms.",
                hint="Omit it to use the current time.",
            )
        labels_json.append(_label_json(record.label, where))
    labels = [record.label for record in records]
    return pa.table(
        {
            "request_id": pa.array([r.request_id for r in records], pa.string()),
            "row": pa.array([r.row for r in records], pa.int32()),
            "ts": pa.array([now if r.received_ms is None else r.received_ms for r in records], TS),
            "label_json": pa.array(labels_json, pa.string()),
            "label": _typed_labels(labels, labels_json),
        }
    )


def _label_json(label: Any, where: str) -> str:
    scalars = (bool, int, float, str)
    ok = isinstance(label, scalars) or (
        isinstance(label, list) and bool(label) and all(isinstance(v, scalars) for v in label)
    )
    if ok:
        try:
            return json.dumps(label, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
        except ValueError:
            pass  # NaN or infinity: not JSON
    raise InvalidInput(
        f"{where} has label {label!r}: a label must be a number, a string, a boolean, or a "
        "non-empty list of them, and numbers must be finite.",
        hint="Send the observed ground truth of the prediction.",
    )


def _typed_labels(labels: list[Any], labels_json: list[str]) -> pa.Array:
    """The labels in their common type, or as strings when they have none."""
    kinds = {_label_kind(v) for v in labels}
    try:
        if kinds == {"bool"}:
            return pa.array(labels, pa.bool_())
        if kinds == {"int"}:
            return pa.array(labels, pa.int64())
        if kinds <= {"int", "float"}:
            return pa.array([float(v) for v in labels], pa.float64())
        if kinds == {"str"}:
            return pa.array(labels, pa.string())
        if kinds == {"list"}:
            typed = pa.array(labels)
            if pa.types.is_list(typed.type):
                return _plain_list(typed)
    except _ARROW_ERRORS:
        pass
    return pa.array(
        [v if isinstance(v, str) else text for v, text in zip(labels, labels_json, strict=True)],
        pa.string(),
    )


def _label_kind(value: Any) -> str:
    for kind, types in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if isinstance(value, types):
            return kind
    return "list"


def _plain_list(array: pa.Array) -> pa.Array:
    flat = _plain(array.flatten())
    return pa.ListArray.from_arrays(array.offsets, flat, type=_list_of(flat.type))


# The store: where parts go, and how they are read back.


class _Store:
    """Parts of one artifact root on any fsspec file system."""

    def __init__(self, location: str, storage_options: dict[str, Any] | None) -> None:
        self.location = location
        try:
            fs, root = url_to_fs(location, **(storage_options or {}))
        except Exception as exc:
            raise StoreError(
                f"Cannot open artifact store {location!r} for the inference log: "
                f"{type(exc).__name__}: {exc}",
                hint="Check the artifact location and its storage_options.",
            ) from exc
        self.fs = fs
        self.root = str(root).rstrip("/")
        self.local = isinstance(fs, LocalFileSystem)

    def write_part(self, kind: str, deployment: str, day: date, table: pa.Table) -> None:
        """Publish ``table`` as a new part, all or nothing."""
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        data = sink.getvalue().to_pybytes()
        folder = f"{self._folder(kind, deployment)}/date={day.isoformat()}"
        name = f"part-{time.time_ns() // 1_000_000:013d}-{secrets.token_hex(4)}.parquet"
        if self.local:
            tmp = Path(self.root) / "tmp"
            _make_dirs(tmp)
            _make_dirs(Path(folder))
            _write_atomically(Path(folder) / name, tmp, [data], sha256_bytes(data))
        else:
            self.fs.pipe_file(f"{folder}/{name}", data)  # one PUT: visible whole or not at all

    def write_feedback(self, deployment: str, records: Sequence[Feedback]) -> int:
        _check_deployment(deployment)
        if not records:
            return 0
        table = _feedback_table(records)
        days = table.column("ts").cast(pa.int64()).to_numpy() // _DAY_MS
        try:
            for day in np.unique(days):
                part = table.filter(pa.array(days == day))
                self.write_part("feedback", deployment, _day(int(day)), part)
        except Exception as exc:
            raise self._error(f"write feedback for deployment {deployment!r}", exc) from exc
        return int(table.num_rows)

    def read(self, kind: str, deployment: str, since: Any, until: Any, base: pa.Schema) -> pa.Table:
        _check_deployment(deployment)
        since_ms, until_ms = _epoch_ms(since, "since"), _epoch_ms(until, "until")
        try:
            paths = self._parts(kind, deployment, since_ms, until_ms)
            tables = [t for t in self._load(paths, since_ms, until_ms) if t.num_rows]
        except Exception as exc:
            raise self._error(f"read the {kind} log of deployment {deployment!r}", exc) from exc
        if kind == "feedback":
            tables = _common_labels(tables)
        table = _unify(tables, base)
        return table.take(pc.sort_indices(table, sort_keys=[("ts", "ascending")]))

    def _folder(self, kind: str, deployment: str) -> str:
        return f"{self.root}/{kind}/{deployment}"

    def _parts(
        self, kind: str, deployment: str, since_ms: int | None, until_ms: int | None
    ) -> list[str]:
        """The parts whose date folder can hold rows in [since, until), oldest first."""
        first = None if since_ms is None else _day(since_ms // _DAY_MS)
        last = None if until_ms is None else _day((until_ms - 1) // _DAY_MS)
        folder = self._folder(kind, deployment)
        paths: list[str] = []
        for sub in sorted(self._ls(folder)):
            name = sub.rstrip("/").rsplit("/", 1)[-1]
            if not name.startswith("date="):
                continue
            try:
                day = date.fromisoformat(name.removeprefix("date="))
            except ValueError:
                continue  # not a folder this module wrote
            if (first and day < first) or (last and day > last):
                continue
            paths.extend(
                path
                for path in sorted(self._ls(sub))
                if path.rsplit("/", 1)[-1].startswith("part-") and path.endswith(".parquet")
            )
        return paths

    def _ls(self, folder: str) -> list[str]:
        # Other replicas write too, so a listing cached by fsspec (s3fs, gcsfs) is never trusted.
        self.fs.invalidate_cache(folder)
        try:
            return [str(path) for path in self.fs.ls(folder, detail=False)]
        except FileNotFoundError:
            return []

    def _load(
        self, paths: list[str], since_ms: int | None, until_ms: int | None
    ) -> Iterable[pa.Table]:
        condition = None
        if since_ms is not None:
            condition = pc.field("ts") >= pa.scalar(since_ms, TS)
        if until_ms is not None:
            before = pc.field("ts") < pa.scalar(until_ms, TS)
            condition = before if condition is None else condition & before
        for start in range(0, len(paths), _READ_CHUNK):
            chunk = paths[start : start + _READ_CHUNK]
            contents = self.fs.cat(chunk)  # concurrent requests on object stores
            if not isinstance(contents, dict):
                contents = {chunk[0]: contents}
            for path in chunk:
                table = pq.read_table(pa.BufferReader(_path_value(contents, path)))
                yield table if condition is None else table.filter(condition)

    def _error(self, action: str, exc: Exception) -> Exception:
        if isinstance(exc, InvalidInput | StoreError):
            return exc
        return StoreError(
            f"Artifact store {self.location!r} failed to {action}: {type(exc).__name__}: {exc}",
            hint="Check that the artifact location is reachable and writable, and for an object "
            "store that the bucket, endpoint and credentials are right.",
        )


def _path_value(contents: dict[str, bytes], path: str) -> bytes:
    # fsspec keys cat() results by the paths it was given, sometimes with the protocol added.
    if path in contents:
        return contents[path]
    return next(v for k, v in contents.items() if k.endswith(path))


def _check_deployment(deployment: str) -> None:
    if not isinstance(deployment, str) or not _NAME.fullmatch(deployment):
        raise InvalidInput(
            f"{deployment!r} is not a deployment name.",
            hint="Use letters, digits, '.', '_' and '-', starting with a letter or digit.",
        )


def _epoch_ms(value: Any, what: str) -> int | None:
    """``since``/``until`` as epoch ms: a datetime (naive = UTC), an ISO string or epoch ms."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        with suppress(ValueError):
            value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int((value - _EPOCH) // timedelta(milliseconds=1))
    raise InvalidInput(
        f"{what}={value!r} is not a time.",
        hint="Pass a datetime (naive means UTC), an ISO 8601 string or epoch milliseconds.",
    )


def _common_labels(tables: list[pa.Table]) -> list[pa.Table]:
    """Feedback parts with one label type: numbers merge, anything else becomes text."""
    types = {t.schema.field("label").type for t in tables} - {pa.null()}
    numeric = all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in types)
    if len(types) <= 1 or numeric:
        return tables
    return [
        t
        if pa.types.is_string(t.schema.field("label").type)
        else t.set_column(t.schema.get_field_index("label"), "label", t.column("label_json"))
        for t in tables
    ]


def _unify(tables: list[pa.Table], base: pa.Schema) -> pa.Table:
    """One table from parts whose schemas differ: missing columns and fields become nulls."""
    schemas = [base, *(t.schema.remove_metadata() for t in tables)]
    try:
        target = pa.unify_schemas(schemas, promote_options="permissive")
    except _ARROW_ERRORS:
        target = _merge_schemas(schemas)
    if not tables:
        return target.empty_table()
    return pa.concat_tables([_conform_table(t, target) for t in tables])


def _merge_schemas(schemas: list[pa.Schema]) -> pa.Schema:
    names = list(dict.fromkeys(name for schema in schemas for name in schema.names))
    return pa.schema(
        [
            (name, _merge_types([s.field(name).type for s in schemas if name in s.names]))
            for name in names
        ]
    )


def _merge_types(types: list[pa.DataType]) -> pa.DataType:
    """A type all of ``types`` convert to: Arrow's promotion, field by field for structs, else
    text."""
    try:
        probe = [pa.schema([("v", t)]) for t in types]
        return pa.unify_schemas(probe, promote_options="permissive").field("v").type
    except _ARROW_ERRORS:
        pass
    concrete = [t for t in types if t != pa.null()]
    if concrete and all(pa.types.is_struct(t) for t in concrete):
        merged = _merge_schemas([pa.schema(list(t)) for t in concrete])
        return pa.struct(list(merged))
    return pa.string()


def _conform_table(table: pa.Table, target: pa.Schema) -> pa.Table:
    if table.schema.remove_metadata().equals(target):
        return table.replace_schema_metadata(None)
    columns = [
        _conform(table.column(field.name), field.type)
        if field.name in table.column_names
        else pa.chunked_array([pa.nulls(table.num_rows, field.type)])
        for field in target
    ]
    return pa.Table.from_arrays(columns, schema=target)


def _conform(column: pa.ChunkedArray, target: pa.DataType) -> pa.ChunkedArray:
    if column.type == target:
        return column
    return pa.chunked_array([_conform_array(chunk, target) for chunk in column.chunks], target)


def _conform_array(array: pa.Array, target: pa.DataType) -> pa.Array:
    if array.type == target:
        return array
    if pa.types.is_struct(target) and pa.types.is_struct(array.type):
        children = dict(zip([f.name for f in array.type], array.flatten(), strict=True))
        fields = list(target)
        return pa.StructArray.from_arrays(
            [
                _conform_array(children[f.name], f.type)
                if f.name in children
                else pa.nulls(len(array), f.type)
                for f in fields
            ],
            fields=fields,
            mask=array.is_null() if array.null_count else None,
        )
    try:
        return array.cast(target)
    except _ARROW_ERRORS:
        if not pa.types.is_string(target):
            raise
        # Values no cast turns into text (lists, structs): their JSON, so nothing is lost.
        texts = [None if v is None else json.dumps(v, default=str) for v in array.to_pylist()]
        return pa.array(texts, pa.string())


def read_inference_log(
    location: str,
    deployment: str,
    *,
    since: datetime | str | int | None = None,
    until: datetime | str | int | None = None,
    storage_options: dict[str, Any] | None = None,
) -> pa.Table:
    """The predicted rows of ``deployment`` with ``since <= ts < until``, oldest first.

    An absent or empty log is an empty table with :data:`INFERENCE_SCHEMA`.
    """
    store = _Store(location, storage_options)
    return store.read("inference", deployment, since, until, INFERENCE_SCHEMA)


def read_feedback(
    location: str,
    deployment: str,
    *,
    since: datetime | str | int | None = None,
    until: datetime | str | int | None = None,
    storage_options: dict[str, Any] | None = None,
) -> pa.Table:
    """The feedback of ``deployment`` that arrived with ``since <= ts < until``, oldest first.

    An absent or empty log is an empty table with :data:`FEEDBACK_SCHEMA`.
    """
    store = _Store(location, storage_options)
    return store.read("feedback", deployment, since, until, FEEDBACK_SCHEMA)
