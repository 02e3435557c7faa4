"""The current side of a monitor run: a window of a deployment's inference log.

A window is the last stretch of time (``"1h"``), the last N requests, or a fixed range. Rows a
shadow model answered are left out (they never reached a caller), and so are rows of other model
versions than the one that answered last: after a swap the window watches the new version only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from shipyard.core.errors import InvalidInput
from shipyard.monitor._config import format_duration, parse_duration

__all__ = ["LoggedWindow", "Window", "read_window"]

# Reading back from the newest day: how far to look for the last N requests before reading all.
_LOOKBACK = (timedelta(days=1), timedelta(days=7), timedelta(days=31))


@dataclass(frozen=True)
class Window:
    """Which logged predictions to look at: ``last`` (a duration), ``last_requests``, or the
    range ``since <= ts < until`` (either end open). ``until`` defaults to now."""

    last: timedelta | None = None
    last_requests: int | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def parse(
        cls,
        window: str | timedelta | None = None,
        *,
        last_requests: int | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
    ) -> Window:
        chosen = [
            name
            for name, value in (("window", window), ("last_requests", last_requests))
            if value is not None
        ]
        if since is not None:
            chosen.append("since")
        if len(chosen) > 1:
            raise InvalidInput(
                f"Give one of window, last_requests or since, not {' and '.join(chosen)}.",
                hint="For example --window 1h, --last-requests 5000, or --since 2026-12-01.",
            )
        if last_requests is not None and (
            isinstance(last_requests, bool)
            or not isinstance(last_requests, int)
            or last_requests < 1
        ):
            raise InvalidInput(f"last_requests must be a whole number >= 1, got {last_requests!r}.")
        return cls(
            last=None if window is None else parse_duration(window),
            last_requests=last_requests,
            since=_instant(since, "since"),
            until=_instant(until, "until"),
        )

    def describe(self) -> str:
        if self.last is not None:
            return f"last {format_duration(self.last)}"
        if self.last_requests is not None:
            return f"last {self.last_requests} requests"
        if self.since is None and self.until is None:
            return "everything logged"
        return f"{_iso(self.since) or 'start'} to {_iso(self.until) or 'now'}"


@dataclass(frozen=True)
class LoggedWindow:
    """The rows of one model version in a window: their inputs, predictions and the raw log."""

    log: pa.Table  # the inference-log rows (all columns), oldest first
    inputs: pa.Table  # the inputs struct as columns
    model_name: str | None
    model_version: int | None
    since: datetime | None
    until: datetime

    @property
    def num_rows(self) -> int:
        return int(self.log.num_rows)


def read_window(
    location: str,
    deployment: str,
    window: Window,
    *,
    model: tuple[str, int] | None = None,
    storage_options: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> LoggedWindow:
    """The rows of ``deployment``'s inference log inside ``window``, of ``model`` (name,
    version) or else of the version that answered last. An empty window is an empty table,
    not an error: the caller says so."""
    from shipyard.serve import read_inference_log

    until = window.until or now or datetime.now(UTC)
    since = window.since if window.last is None else until - window.last
    if window.last_requests is None:
        log = read_inference_log(
            location, deployment, since=since, until=until, storage_options=storage_options
        )
        log = _primary_rows_of(log, model)
    else:
        log = _last_requests(
            location, deployment, window.last_requests, until, model, storage_options
        )
    if log.num_rows and window.last_requests is not None:
        since = log.column("ts")[0].as_py()
    name, version = _served_by(log)
    return LoggedWindow(log, _input_columns(log), name, version, since, until)


def _last_requests(
    location: str,
    deployment: str,
    count: int,
    until: datetime,
    model: tuple[str, int] | None,
    storage_options: dict[str, Any] | None,
) -> pa.Table:
    from shipyard.serve import read_inference_log

    for lookback in (*_LOOKBACK, None):
        since = None if lookback is None else until - lookback
        log = read_inference_log(
            location, deployment, since=since, until=until, storage_options=storage_options
        )
        log = _primary_rows_of(log, model)
        ids = pc.unique(log.column("request_id"))
        if len(ids) >= count or lookback is None:
            break
    if len(ids) <= count:
        return log
    # Rows are oldest first, so the requests' first appearances are too: keep the newest ones.
    first_row = pc.index_in(log.column("request_id"), value_set=ids)
    keep = pc.greater_equal(first_row, len(ids) - count)
    return log.filter(keep)


def _primary_rows_of(log: pa.Table, model: tuple[str, int] | None) -> pa.Table:
    """The rows callers saw (no shadow rows) of ``model``, or of the version that answered
    last."""
    if not log.num_rows:
        return log
    log = log.filter(pc.not_equal(log.column("role"), "shadow"))
    if not log.num_rows:
        return log
    name, version = model or _served_by(log)
    same = pc.and_(
        pc.equal(log.column("model_name"), name), pc.equal(log.column("model_version"), version)
    )
    return log.filter(same)


def _served_by(log: pa.Table) -> tuple[str | None, int | None]:
    if not log.num_rows:
        return None, None
    last = log.slice(log.num_rows - 1)
    return last.column("model_name")[0].as_py(), last.column("model_version")[0].as_py()


def _input_columns(log: pa.Table) -> pa.Table:
    inputs = log.column("inputs").combine_chunks()
    if not isinstance(inputs, pa.StructArray) or inputs.type.num_fields == 0:
        return pa.table({})
    names = [inputs.type.field(i).name for i in range(inputs.type.num_fields)]
    return pa.Table.from_arrays(inputs.flatten(), names=names)


def _instant(value: datetime | str | None, what: str) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"{what} {value!r} is not a date or time.",
            hint="Write ISO 8601, e.g. 2026-12-01 or 2026-12-01T08:00:00+00:00.",
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds")
