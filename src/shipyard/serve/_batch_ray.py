"""Batch inference on Ray Data: read, score and write in parallel, the output a folder of parts.

Uses the running Ray connection, else ``RAY_ADDRESS``, else a new local cluster that is shut
down afterwards (as the pipeline executor does). Ray loads only when a job runs here.
"""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInput, RunFailed, ShipyardError

if TYPE_CHECKING:
    import pyarrow as pa

    from shipyard.serve._batch_io import Source, Target
    from shipyard.serve._batch_job import Job

__all__ = ["run_on_ray"]

# A remote traceback's "module.Class: message" lines; Ray Data passes user-code errors as text.
_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*): (.+)$", re.MULTILINE)


class _RayScorer:
    """A Ray Data actor: loads the pinned model once, then scores every batch it is handed."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.model = job.model.load_in_worker()

    def __call__(self, batch: pa.Table) -> pa.Table:
        return self.job.score(self.model, batch, None)


def run_on_ray(job: Job, source: Source, target: Target, batch_size: int, progress: bool) -> int:
    """Read, score and write with Ray Data; ``output`` becomes a folder of part files.

    The parts are written into a temporary sibling folder that replaces the output once
    complete. Returns the number of rows scored.
    """
    import pyarrow.csv as pa_csv
    import pyarrow.dataset as ds
    import ray
    import ray.data

    started = _ensure_ray()
    context = ray.data.DataContext.get_current()
    saved = (context.execution_options.preserve_order, context.enable_progress_bars)
    context.execution_options.preserve_order = True  # output rows in input order
    context.enable_progress_bars = progress and sys.stderr.isatty()
    try:
        fs = _arrow_fs(source.fs)
        if source.format == "parquet":
            dataset = ray.data.read_parquet(source.path, filesystem=fs)
            dataset = dataset.select_columns(job.read_columns)
        else:
            convert = pa_csv.ConvertOptions(
                column_types=job.csv_types(source.schema), include_columns=job.read_columns
            )
            stream_args = {"compression": "gzip"} if source.path.endswith(".gz") else None
            dataset = ray.data.read_csv(
                source.path,
                filesystem=fs,
                convert_options=convert,
                arrow_open_stream_args=stream_args,
            )
        cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
        scored = dataset.map_batches(
            _RayScorer,
            fn_constructor_kwargs={"job": job},
            batch_size=batch_size,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=max(1, cpus - 1)),
        )
        with target.parts_folder() as folder:
            write = scored.write_parquet if target.format == "parquet" else scored.write_csv
            try:
                write(folder, filesystem=_arrow_fs(target.fs))
            except ray.exceptions.RayError as exc:
                raise _remote_error(exc) from exc
            if source.total_rows is not None:
                return source.total_rows  # one output row per input row
            written = ds.dataset(folder, format=target.format, filesystem=target.fs)
            return int(written.count_rows())
    finally:
        context.execution_options.preserve_order, context.enable_progress_bars = saved
        if started:
            ray.shutdown()


def _remote_error(exc: Exception) -> ShipyardError:
    """The Shipyard error behind a Ray failure (InvalidInput stays InvalidInput), else the
    innermost error Ray reports, as RunFailed."""
    from shipyard.core import errors

    lines: list[tuple[str, str]] = _ERROR_LINE.findall(str(exc))
    ours = [(n, t) for n, t in lines if n.startswith("shipyard.core.errors.")]
    if ours:
        name, text = ours[-1]
        cls = getattr(errors, name.rsplit(".", 1)[1], None)
        invalid = isinstance(cls, type) and issubclass(cls, InvalidInput)
        return InvalidInput(text) if invalid else RunFailed(text)
    others = [(n, t) for n, t in lines if not n.startswith("ray.")]
    name, text = others[-1] if others else (type(exc).__name__, str(exc).splitlines()[0])
    return RunFailed(
        f"Scoring with Ray failed: {name}: {text}",
        hint="Rerun with --debug for Ray's full report, or with --executor local.",
    )


def _ensure_ray() -> bool:
    """Connect to Ray unless already connected; True when this call started it."""
    import ray

    if ray.is_initialized():
        return False
    address = os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(include_dashboard=False, log_to_driver=False)
    return True


def _arrow_fs(fs: Any) -> Any:
    """An fsspec filesystem as pyarrow's; None (a local path) stays None."""
    if fs is None:
        return None
    import pyarrow.fs as pa_fs

    return pa_fs.PyFileSystem(pa_fs.FSSpecHandler(fs))
