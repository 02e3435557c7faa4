"""The run handle users log through, and the context variable that holds the active run.

The active run lives in a :class:`contextvars.ContextVar`, so threads and async tasks each see
their own; a run started while another is active becomes its child.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import operator
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from shipyard.core.errors import InvalidInput
from shipyard.tracking._figures import figure_bytes
from shipyard.tracking._records import ArtifactRecord, RunRecord, RunStatus
from shipyard.tracking._service import TrackingService
from shipyard.tracking._validation import (
    check_key,
    check_mapping,
    check_metric_value,
    check_text_values,
)

__all__ = ["Run", "active_run"]

_active: contextvars.ContextVar[Run | None] = contextvars.ContextVar(
    "shipyard_active_run", default=None
)
_MAX_STEP = 2**63  # steps are stored as int64
# Runs started and not yet ended, so that a script that never ends its run still finishes it.
_open_runs: dict[str, Run] = {}


def _end_open_runs() -> None:
    """At exit, end forgotten runs: FAILED if the script died of an uncaught exception."""
    crash = getattr(sys, "last_value", None)
    status, error = RunStatus.FINISHED, None
    if isinstance(crash, KeyboardInterrupt):
        status, error = RunStatus.KILLED, "KeyboardInterrupt"
    elif crash is not None:
        status, error = RunStatus.FAILED, f"{type(crash).__name__}: {crash}"
    for run in list(_open_runs.values()):
        # The interpreter is exiting: a run that cannot be ended has no one left to tell.
        with contextlib.suppress(Exception):
            run.end(status, error)


def active_run() -> Run | None:
    """The run started most recently in this thread or task and not yet ended."""
    return _active.get()


class Run:
    """A live run: log params, metrics, tags and artifacts to it, then end it.

    Use it as a context manager: the run ends FINISHED, or FAILED with the error's message
    when the block raises (KILLED on Ctrl-C).
    """

    def __init__(self, service: TrackingService, record: RunRecord) -> None:
        self._service = service
        self.id = record.id
        self.name = record.name
        self.experiment = record.experiment
        self.parent_id = record.parent_id
        self._next_step: dict[str, int] = {}
        self._known_keys: set[str] = set()
        self._token: contextvars.Token[Run | None] | None = None
        self._previous: Run | None = None
        self._ended = False

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, name={self.name!r}, experiment={self.experiment!r})"

    # -- activation ------------------------------------------------------------------------
    def _activate(self) -> None:
        if not _open_runs:
            atexit.unregister(_end_open_runs)
            atexit.register(_end_open_runs)
        _open_runs[self.id] = self
        self._previous = _active.get()
        self._token = _active.set(self)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.end()
        elif isinstance(exc, KeyboardInterrupt):
            self.end(RunStatus.KILLED, "KeyboardInterrupt")
        else:
            self.end(RunStatus.FAILED, f"{type(exc).__name__}: {exc}")

    def end(self, status: str = RunStatus.FINISHED, error: str | None = None) -> None:
        """End the run (idempotent) and make it no longer the active one."""
        if self._ended:
            return
        try:
            self._service.end_run(self.id, status, error)
            self._ended = True  # only now: a failed end can be retried
            _open_runs.pop(self.id, None)
        finally:
            self._deactivate()

    def _deactivate(self) -> None:
        if _active.get() is not self:
            return
        try:
            if self._token is not None:
                _active.reset(self._token)
        except ValueError:  # ended from another context than it started in
            _active.set(self._previous)
        # Runs ended out of order (a parent before its child) must not become active again.
        current = _active.get()
        while current is not None and current._ended:
            current = current._previous
        _active.set(current)

    # -- logging ---------------------------------------------------------------------------
    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log hyper-parameters; they are immutable once logged."""
        self._service.log_params(self.id, check_text_values("param", params))

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set free-form labels; setting a tag again replaces its value."""
        self._service.set_tags(self.id, check_text_values("tag", tags))

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        """Log one value; without ``step``, each key counts its own steps from 0."""
        # The hot path of tracking: plain floats and known keys skip the general checks.
        if key not in self._known_keys:
            self._known_keys.add(check_key("metric", key))
        number = value if type(value) is float else check_metric_value(key, value)
        if step is None or type(step) is not int or not 0 <= step < _MAX_STEP:
            step = self._step(key, step)
        self._next_step[key] = step + 1
        self._service.writer.add((self.id, key, number, step, time.time_ns() // 1_000_000))

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log several values at once, all at ``step`` (or each key's next step)."""
        stamp = time.time_ns() // 1_000_000
        checked = {
            check_key("metric", key): check_metric_value(key, value)
            for key, value in check_mapping("metrics", metrics).items()
        }
        self._known_keys.update(checked)
        rows = [
            (self.id, key, value, self._step(key, step), stamp) for key, value in checked.items()
        ]
        self._service.writer.add_many(rows)

    def _step(self, key: str, step: object) -> int:
        if step is None:
            number = self._next_step.get(key, 0)
        else:
            try:  # operator.index accepts numpy integers and refuses floats and strings
                number = -1 if isinstance(step, bool) else operator.index(step)  # type: ignore[arg-type]
            except TypeError:
                number = -1
            if not 0 <= number < _MAX_STEP:
                raise InvalidInput(
                    f"The step of metric {key!r} must be an integer from 0 to 2**63-1, "
                    f"got {step!r}.",
                    hint="Pass e.g. step=epoch.",
                )
        self._next_step[key] = number + 1
        return number

    def log_artifact(
        self, source: str | os.PathLike[str] | bytes, name: str | None = None
    ) -> list[ArtifactRecord]:
        """Store a file, a folder or raw bytes under ``name`` (default: the file's name)."""
        if isinstance(source, (bytes, bytearray, memoryview)):
            if name is None:
                raise InvalidInput(
                    "log_artifact got bytes but no name.",
                    hint="Pass a name, e.g. run.log_artifact(data, 'model.bin').",
                )
            return [self._service.log_artifact_bytes(self.id, name, bytes(source))]
        if not isinstance(source, (str, os.PathLike)):
            raise InvalidInput(
                f"log_artifact takes a path or bytes, got {type(source).__name__}.",
                hint="Save the object to a file first, or pass its bytes.",
            )
        return self._service.log_artifact_path(self.id, Path(source), name)

    def log_figure(self, figure: Any, name: str) -> ArtifactRecord:
        """Store a matplotlib or plotly figure; the name's extension picks the format."""
        return self._service.log_artifact_bytes(self.id, name, figure_bytes(figure, name))

    def log_model(self, model: Any, name: str, *, input_example: Any, **kwargs: Any) -> Any:
        """Package and store ``model`` in this run; see :func:`shipyard.models.log_model`."""
        from shipyard.models import log_model  # the models layer builds on runs, not the reverse

        return log_model(model, name, input_example=input_example, run=self, **kwargs)

    def log_dataset(self, data: Any, name: str, **kwargs: Any) -> Any:
        """Version ``data`` and record it as this run's input; see :func:`shipyard.log_dataset`."""
        from shipyard.data import log_dataset  # the data layer builds on runs, not the reverse

        return log_dataset(data, name, run=self, **kwargs)

    def flush(self) -> None:
        """Block until every metric logged so far is durable in the store."""
        self._service.flush()

    def info(self) -> RunRecord:
        """A fresh read of this run from the store, with everything flushed so far."""
        self._service.flush()
        return self._service.get_run(self.id)
