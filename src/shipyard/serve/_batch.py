"""Batch inference: score a CSV or Parquet file (local or an fsspec URL) with a registered model.

The model is pinned to one version up front (:mod:`._pinned_model`), the job checked against
the input before any row is read (:mod:`._batch_job`), then the input is streamed in chunks
and the output written atomically (:mod:`._batch_io`), here in this process or on Ray Data
(:mod:`._batch_ray`). A file larger than RAM scores in a few chunks' worth of it, and a run
that fails leaves the previous output, if any, untouched.

Nothing heavy is imported at module level: pyarrow, pandas, Ray and Rich load when used.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from shipyard.core.errors import InvalidInput
from shipyard.serve._batch_io import Source, Target
from shipyard.serve._batch_job import Job
from shipyard.serve._batch_ray import run_on_ray
from shipyard.serve._pinned_model import BACKENDS, PinnedModel, pin_model

__all__ = [
    "BACKENDS",
    "EXECUTORS",
    "BatchSummary",
    "PinnedModel",
    "pin_model",
    "predict_file",
]

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class BatchSummary:
    """What a batch job did: rows scored, wall time, where the output is, and which model."""

    rows: int
    seconds: float
    output: str
    model_name: str | None
    model_version: int | None
    model_source: str  # runs:/RUN/PATH: the files that scored every row
    backend: str
    executor: str

    @property
    def model(self) -> str:
        """models:/NAME/VERSION, or the run artifact for a model that is not registered."""
        if self.model_name is None:
            return self.model_source
        return f"models:/{self.model_name}/{self.model_version}"

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "model": self.model, "rows_per_second": self.rows_per_second}


def predict_file(
    uri: str,
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    backend: str = "auto",
    batch_size: int = 50_000,
    executor: str = "local",
    columns: Sequence[str] | None = None,
    proba: bool = False,
    progress: bool = True,
    storage_options: Mapping[str, Any] | None = None,
) -> BatchSummary:
    """Score every row of ``input`` (CSV or Parquet, local or ``s3://``…) with the model at
    ``uri`` and write ``output`` (Parquet or CSV, by its extension).

    The output holds the ``columns`` copied from the input (ids, keys), then ``prediction``
    (``prediction_<i>`` for multi-output models), then ``proba_<class>`` per class when
    ``proba`` is set. Rows keep the input's order. ``executor="ray"`` scores with Ray Data and
    writes a folder of part files at ``output``. ``progress`` shows a bar on a terminal.
    ``storage_options`` go to fsspec for URLs (credentials also come from the environment).
    """
    if executor not in EXECUTORS:
        raise InvalidInput(f"Unknown executor {executor!r}.", hint="Use local or ray.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInput(
            f"batch_size must be a positive number of rows, got {batch_size!r}.",
            hint="e.g. 50000; smaller chunks use less memory, larger ones run faster.",
        )
    options = dict(storage_options or {})
    target = Target(os.fspath(output), options)
    if executor == "local":
        target.check_file()
    elif target.gzip:
        raise InvalidInput(
            "The ray executor writes plain .csv or .parquet parts, not .csv.gz.",
            hint="Name the output folder out.parquet or out.csv.",
        )
    source = Source.open(os.fspath(input), options)
    model = pin_model(uri, backend, proba=proba)
    job = Job.plan(model, source, list(columns or ()), proba)
    started = time.perf_counter()
    if executor == "ray":
        rows = run_on_ray(job, source, target, batch_size, progress)
    else:
        rows = _run_locally(job, source, target, batch_size, progress)
    return BatchSummary(
        rows=rows,
        seconds=time.perf_counter() - started,
        output=target.location,
        model_name=model.name,
        model_version=model.version,
        model_source=model.source,
        backend=model.backend,
        executor=executor,
    )


# ---------------------------------------------------------------------------------------------
# The local executor


def _run_locally(job: Job, source: Source, target: Target, batch_size: int, progress: bool) -> int:
    """Score chunk by chunk in this process, each written before the next is read; the rows."""
    model = job.model.load()
    start = 0
    with (
        _Progress(progress, source) as bar,
        target.writer() as writer,
        source.chunks(job, batch_size) as (chunks, bytes_read),
    ):
        for table in chunks:
            writer.write(job.score(model, table, start))
            start += table.num_rows
            bar.update(start, bytes_read() if bytes_read is not None else None)
    return start


class _Progress:
    """Rows scored so far (bytes read, for CSV) as a Rich bar on stderr when it is a terminal;
    silent otherwise, so CI logs get the one summary line, not thousands of redraws."""

    def __init__(self, enabled: bool, source: Source) -> None:
        self.enabled = enabled
        self.source = source
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if not self.enabled:
            return self
        from rich.console import Console

        console = Console(stderr=True)  # is_terminal also honours TTY_COMPATIBLE, FORCE_COLOR
        if not console.is_terminal:
            return self
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        by_rows = self.source.total_rows is not None
        amount = MofNCompleteColumn() if by_rows else DownloadColumn()
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            amount,
            TextColumn("{task.fields[rows]:,} rows"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self._bar.start()
        total = self.source.total_rows if by_rows else self.source.total_bytes
        self._task = self._bar.add_task("predict", total=total, rows=0)
        return self

    def update(self, rows: int, bytes_read: int | None) -> None:
        if self._bar is not None:
            done = rows if bytes_read is None else bytes_read
            self._bar.update(self._task, completed=done, rows=rows)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
