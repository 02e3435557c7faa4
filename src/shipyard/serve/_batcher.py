"""Adaptive micro-batching: concurrent requests to one model run as one prediction.

A request is checked and prepared on the event loop (so a bad one is refused alone), then
queued. One worker per model takes everything queued, up to ``max_batch_size`` rows; when the
batch is not full it yields to the event loop, so requests already being read can join, for at
most ``max_wait_ms``. The batch runs on the model's own thread, off the event loop; requests that
arrive meanwhile form the next batch. Under light load a request waits for nobody; under heavy
load batches grow by themselves. The queue is bounded: a full queue refuses new requests with
:class:`Unavailable` (HTTP 503 with Retry-After) instead of growing without bound.

Requests that wait longer than ``timeout_s``, queued or in a running batch, are answered with
:class:`Unavailable` by one sweeper per batcher rather than a timer per request: timers would
cost every request more than the rest of its queueing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shipyard.core.errors import InvalidInput, Unavailable
from shipyard.models._package import LoadedModel, Prepared, concat_prepared
from shipyard.models._signature import Array

__all__ = ["Batch", "MicroBatcher", "Outcome", "Pending"]

log = logging.getLogger("shipyard.serve")


@dataclass
class Pending:
    """One queued request: its prepared rows and where its answer goes."""

    prepared: Prepared
    rows: int
    proba: bool
    request_id: str
    received_ms: int  # wall clock, for the inference log
    received: float  # perf_counter at arrival, for latency
    log: bool = True
    future: asyncio.Future[Outcome] | None = None
    enqueued: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True)
class Outcome:
    """One request's share of a batch's predictions, and where its time went."""

    predictions: Array
    probabilities: Array | None
    queue_s: float
    predict_s: float
    batch_rows: int


@dataclass(frozen=True)
class Batch:
    """A finished batch, handed to the batch callback (inference log, metrics)."""

    items: list[Pending]
    inputs: Prepared | None
    predictions: Array | None
    probabilities: Array | None
    predict_s: float
    finished: float  # perf_counter


class MicroBatcher:
    """Queues requests for one loaded model and predicts them in batches on its own thread.

    ``prepare_in_worker`` is for shadow traffic: payloads are queued raw and checked on the
    worker thread, so that copying traffic to a shadow costs the primary path nothing.
    """

    def __init__(
        self,
        model: LoadedModel,
        *,
        max_batch_size: int,
        max_wait_ms: float,
        max_queue: int,
        want_proba: bool = False,
        on_batch: Callable[[Batch], None] | None = None,
        prepare_in_worker: bool = False,
        timeout_s: float | None = None,
        name: str = "model",
    ) -> None:
        self.model = model
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000
        self.max_queue = max_queue
        self.want_proba = want_proba and model.has_proba
        self.on_batch = on_batch
        self.prepare_in_worker = prepare_in_worker
        self._queue: deque[Pending] = deque()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"predict-{name}")
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._closing = False
        self.timeout_s = timeout_s
        self._running: list[Pending] = []  # the batch being predicted now

    @property
    def depth(self) -> int:
        """Requests waiting (not counting the batch being predicted)."""
        return len(self._queue)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._worker is None:
            self._worker = loop.create_task(self._work())
        if self._sweeper is None and self.timeout_s is not None:
            self._sweeper = loop.create_task(self._sweep(self.timeout_s))

    def submit(self, item: Pending) -> asyncio.Future[Outcome]:
        """Queue ``item``; its future resolves to an Outcome (or the model's error)."""
        if self._closing:
            raise Unavailable(
                "This model version is being replaced.", hint="Retry the request.", retry_after=1
            )
        if len(self._queue) >= self.max_queue:
            raise Unavailable(
                f"The server is overloaded: {len(self._queue)} requests are waiting for this "
                "model.",
                hint="Retry after a moment, send fewer concurrent requests, or add replicas.",
                retry_after=1,
            )
        item.future = asyncio.get_running_loop().create_future()
        item.enqueued = time.perf_counter()
        self._queue.append(item)
        self._wake.set()
        return item.future

    def offer(self, item: Pending) -> bool:
        """Queue ``item`` if there is room, with no answer to wait for (shadow traffic)."""
        if self._closing or len(self._queue) >= self.max_queue:
            return False
        item.enqueued = time.perf_counter()
        self._queue.append(item)
        self._wake.set()
        return True

    async def close(self) -> None:
        """Finish every queued request, then stop the worker and its thread."""
        self._closing = True
        self._wake.set()
        if self._worker is not None:
            await self._worker
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        self._executor.shutdown(wait=False)

    async def _sweep(self, timeout_s: float) -> None:
        """Answer requests older than ``timeout_s`` with Unavailable, a few times per timeout."""
        interval = min(max(timeout_s / 4, 0.002), 0.25)
        while True:
            await asyncio.sleep(interval)
            oldest = time.perf_counter() - timeout_s
            for item in (*self._running, *self._queue):
                if item.received < oldest:
                    _settle(item, error=_timed_out(timeout_s))

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch, rows = self._take([], 0)
            deadline = loop.time() + self.max_wait_s
            while rows < self.max_batch_size and loop.time() < deadline:
                await asyncio.sleep(0)  # requests already being read get to join
                before = rows
                batch, rows = self._take(batch, rows)
                if rows == before:
                    break
            if batch:
                await self._execute(loop, batch)

    def _take(self, batch: list[Pending], rows: int) -> tuple[list[Pending], int]:
        queue = self._queue
        while queue and (not batch or rows + queue[0].rows <= self.max_batch_size):
            item = queue.popleft()
            if item.future is not None and item.future.done():
                continue  # timed out or cancelled while waiting
            batch.append(item)
            rows += item.rows
        return batch, rows

    async def _execute(self, loop: asyncio.AbstractEventLoop, batch: list[Pending]) -> None:
        """Predict ``batch`` and answer each request; the worker survives anything here."""
        started = time.perf_counter()
        self._running = batch
        try:
            try:
                result = await loop.run_in_executor(self._executor, self._predict, batch)
            except Exception as exc:  # the whole batch failed: try each request alone
                result = await loop.run_in_executor(self._executor, self._predict_each, batch, exc)
        except Exception as exc:
            log.exception("predicting a batch failed")
            for item in batch:
                _settle(item, error=exc)
            return
        finally:
            self._running = []
        for item, outcome in zip(batch, result.outcomes, strict=True):
            if isinstance(outcome, BaseException):
                _settle(item, error=outcome)
                continue
            predictions, probabilities = outcome
            queue_s = started - item.enqueued
            answer = Outcome(predictions, probabilities, queue_s, result.predict_s, result.rows)
            if not _settle(item, outcome=answer) and item.future is not None:
                item.log = False  # timed out meanwhile: the caller never got this prediction
        if self.on_batch is None:
            return
        succeeded = [i for i, o in zip(batch, result.outcomes, strict=True) if not _failed(o)]
        finished = Batch(
            succeeded,
            result.inputs,
            result.predictions,
            result.probabilities,
            result.predict_s,
            time.perf_counter(),
        )
        try:
            self.on_batch(finished)
        except Exception:  # logging and metrics never fail a prediction
            log.exception("recording a batch failed")

    # ---- on the model's thread

    def _predict(self, batch: list[Pending]) -> _Result:
        started = time.perf_counter()
        outcomes: list[Any] = [None] * len(batch)
        parts, kept = [], []
        for position, item in enumerate(batch):
            if self.prepare_in_worker:
                try:
                    item.prepared = self.model.prepare(item.prepared)
                except Exception as exc:  # a shadow that cannot take the input just skips it
                    outcomes[position] = exc
                    continue
            parts.append(item.prepared)
            kept.append(position)
        if not parts:
            return _Result(outcomes, None, None, None, 0, time.perf_counter() - started)
        inputs = concat_prepared(parts)
        want_proba = self.want_proba or any(batch[i].proba for i in kept)
        predictions, probabilities = self.model.run(
            inputs, proba=want_proba and self.model.has_proba
        )
        sizes = np.cumsum([batch[i].rows for i in kept])[:-1]
        split_predictions = np.split(predictions, sizes)
        split_probabilities = (
            np.split(probabilities, sizes) if probabilities is not None else [None] * len(kept)
        )
        for slot, position in enumerate(kept):
            proba = split_probabilities[slot] if batch[position].proba else None
            outcomes[position] = (split_predictions[slot], proba)
        rows = int(sum(batch[i].rows for i in kept))
        return _Result(
            outcomes, inputs, predictions, probabilities, rows, time.perf_counter() - started
        )

    def _predict_each(self, batch: list[Pending], error: Exception) -> _Result:
        """After a failed batch: each request alone, so one bad input fails only itself."""
        if len(batch) == 1:
            return _Result([_as_input_error(error)], None, None, None, 0, 0.0)
        outcomes: list[Any] = []
        done: list[_Result] = []
        for item in batch:
            try:
                single = self._predict([item])
            except Exception as exc:
                outcomes.append(_as_input_error(exc))
                continue
            outcomes.append(single.outcomes[0])
            if single.inputs is not None:
                done.append(single)
        if not done:
            return _Result(outcomes, None, None, None, 0, 0.0)
        probabilities = [r.probabilities for r in done if r.probabilities is not None]
        return _Result(
            outcomes,
            concat_prepared([r.inputs for r in done]),
            np.concatenate([r.predictions for r in done if r.predictions is not None]),
            np.concatenate(probabilities) if len(probabilities) == len(done) else None,
            sum(r.rows for r in done),
            sum(r.predict_s for r in done),
        )


@dataclass(frozen=True)
class _Result:
    outcomes: list[Any]  # (predictions, probabilities) or an exception, per request
    inputs: Prepared | None
    predictions: Array | None
    probabilities: Array | None
    rows: int
    predict_s: float


def _failed(outcome: Any) -> bool:
    return isinstance(outcome, BaseException)


def _settle(
    item: Pending, *, outcome: Outcome | None = None, error: BaseException | None = None
) -> bool:
    """Answer ``item``; False when it was answered already (timed out) or cancelled."""
    future = item.future
    if future is None or future.done():
        return False
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(outcome)  # type: ignore[arg-type]
    return True


def _timed_out(timeout_s: float) -> Unavailable:
    return Unavailable(
        f"The prediction took longer than the deployment's timeout of {timeout_s} s.",
        hint="Retry, send fewer rows, or raise timeout_s for the deployment.",
        retry_after=1,
    )


def _as_input_error(exc: BaseException) -> BaseException:
    """A model's ValueError or TypeError on checked input is the input's fault: a 422."""
    if isinstance(exc, InvalidInput) or not isinstance(exc, ValueError | TypeError):
        return exc
    return InvalidInput(
        f"The model could not predict on this input: {type(exc).__name__}: {exc}",
        hint="Check the values against the model's training data.",
    )
