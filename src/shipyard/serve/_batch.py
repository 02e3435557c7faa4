"""Batch inference: score a CSV or Parquet file (local or an fsspec URL) with a registered model.

Three choices shape this module:

- **Flat memory.** The input is streamed in chunks of ``batch_size`` rows (Parquet one row
  group at a time, CSV with pyarrow's streaming reader) and each chunk's predictions are written
  before the next chunk is read, so a file larger than RAM scores in a few chunks' worth of it.
- **No half-written output.** Rows go to a temporary file next to the output, renamed into place
  only when every row is written (for an object store: a local file, uploaded once). A run that
  fails leaves the previous output, if any, untouched.
- **One model version per job.** The URI is resolved once, up front, to the run artifact behind
  it; every chunk, Ray actor and Spark executor loads those same immutable files, even if an
  alias moves while the job runs.

Nothing heavy is imported at module level: pyarrow, pandas, Ray and Rich load when used.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import re
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInput, NotFound, RunFailed, ShipyardError, StoreError

if TYPE_CHECKING:
    import pyarrow as pa

    from shipyard.models._package import LoadedModel
    from shipyard.models._signature import Signature

__all__ = [
    "BACKENDS",
    "EXECUTORS",
    "BatchSummary",
    "PinnedModel",
    "pin_model",
    "predict_file",
]

BACKENDS = ("auto", "native", "onnx")
EXECUTORS = ("local", "ray")
PREDICTION = "prediction"
PROBA_PREFIX = "proba_"
_RESERVED = (f"{PREDICTION}_", PROBA_PREFIX)  # copied columns may not start with these
_FORMATS = {".csv": "csv", ".csv.gz": "csv", ".parquet": "parquet", ".pq": "parquet"}
# pyarrow's CSV reader reads up to 32 blocks ahead of a slow consumer whatever its options:
# 1 MiB blocks keep that near 32 MiB. Types of the model's columns come from its signature,
# so the first block's type inference matters only for copied-through columns.
_CSV_BLOCK_BYTES = 1 << 20


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


# ---------------------------------------------------------------------------------------------
# The model, pinned to one version on the driver and loaded where the rows are


_loaded: dict[tuple[Any, ...], LoadedModel] = {}
_loaded_lock = threading.Lock()


@dataclass(frozen=True)
class PinnedModel:
    """A model URI resolved once to the run artifact behind it, with what a worker needs to load
    it: the chosen backend and the driver's workspace settings (database URL, artifact store).

    It is small and picklable, so it travels to Ray actors and Spark executors, which then load
    exactly this version from the same store whatever their working folder or environment.
    """

    uri: str  # as the caller wrote it
    source: str  # runs:/RUN/PATH
    name: str | None
    version: int | None
    backend: str  # "native" or "onnx"
    environment: tuple[tuple[str, str], ...]
    meta: Mapping[str, Any] = field(compare=False, hash=False, repr=False)

    @property
    def label(self) -> str:
        """How messages name the model: models:/NAME/VERSION, or the run artifact."""
        return f"models:/{self.name}/{self.version}" if self.name else self.source

    @property
    def signature(self) -> Signature:
        from shipyard.models._signature import Signature

        return Signature.from_dict(self.meta["signature"])

    @property
    def input_columns(self) -> list[str] | None:
        """The named columns the model takes, in order; None for a model fed one array."""
        from shipyard.models._signature import TensorSpec

        inputs = self.signature.inputs
        return None if isinstance(inputs, TensorSpec) else [c.name for c in inputs]

    @property
    def proba_columns(self) -> list[str] | None:
        """Output names of the class probabilities (``proba_<class>``); None: not a classifier."""
        width = self.meta.get("proba_width")
        if width is None:
            return None
        classes = self.meta.get("flavor_meta", {}).get("classes")
        if not classes or len(classes) != width:
            classes = range(width)
        return [f"{PROBA_PREFIX}{c}" for c in classes]

    def load(self) -> LoadedModel:
        """The model, loaded in this process from the pinned files."""
        from shipyard.registry import load_model

        return load_model(self.source, backend=self.backend)

    def load_in_worker(self) -> LoadedModel:
        """The model in a worker process (Ray actor, Spark executor): loaded once per process.

        The worker first adopts the driver's workspace settings, as the Ray pipeline executor
        does, so it reads the same database and artifact store as the driver.
        """
        key = (self.source, self.backend, self.environment)
        with _loaded_lock:
            model = _loaded.get(key)
            if model is None:
                os.environ.update(dict(self.environment))
                model = _loaded[key] = self.load()
            return model


def pin_model(uri: str, backend: str = "auto", *, proba: bool = False) -> PinnedModel:
    """Resolve ``uri`` (models:/NAME/3, models:/NAME@ALIAS, runs:/RUN/PATH) to its files now.

    ``backend="auto"`` picks the verified ONNX form when there is one (and, with ``proba``, it
    gives probabilities), else the model's own library. Only the model's metadata is read here.
    """
    from shipyard.core.config import resolve_settings
    from shipyard.models._ref import MODEL_META_FILE
    from shipyard.registry import RunModelUri, parse_model_uri, registry_service

    if backend not in BACKENDS:
        raise InvalidInput(
            f"Unknown backend {backend!r}.",
            hint="Use auto (ONNX when the model has a verified ONNX form), native or onnx.",
        )
    settings = resolve_settings()
    service = registry_service()
    parsed = parse_model_uri(uri)
    name: str | None = None
    version: int | None = None
    if isinstance(parsed, RunModelUri):
        run_id = service.tracking.resolve_run_id(parsed.run_id)
        path = parsed.artifact_path
    else:
        found = service.resolve(parsed)
        run_id, path, name, version = found.run_id, found.artifact_path, found.name, found.version
    try:
        meta = json.loads(service.tracking.get_artifact(run_id, f"{path}/{MODEL_META_FILE}"))
    except NotFound:
        raise NotFound(
            f"Run {run_id} has no model at {path!r} ({uri}).",
            hint=f"List the run's files with: shipyard artifacts list {run_id}.",
        ) from None
    environment = (
        ("SHIPYARD_HOME", str(settings.root)),
        ("SHIPYARD_DB_URL", settings.db_url),
        ("SHIPYARD_ARTIFACTS", settings.artifacts),
    )
    return PinnedModel(
        uri=uri,
        source=f"runs:/{run_id}/{path}",
        name=name,
        version=version,
        backend=_choose_backend(backend, meta, proba),
        environment=environment,
        meta=meta,
    )


def _choose_backend(backend: str, meta: Mapping[str, Any], proba: bool) -> str:
    onnx = meta.get("onnx") or {}
    if backend != "auto":
        return backend
    if onnx.get("status") != "verified":
        return "native"
    if proba and not (onnx.get("outputs") or {}).get("proba"):
        return "native"  # the ONNX graph has labels only
    return "onnx"


# ---------------------------------------------------------------------------------------------
# The public entry point


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
    target = _Target(os.fspath(output), options)
    if executor == "local":
        target.check_file()
    elif target.gzip:
        raise InvalidInput(
            "The ray executor writes plain .csv or .parquet parts, not .csv.gz.",
            hint="Name the output folder out.parquet or out.csv.",
        )
    source = _Source.open(os.fspath(input), options)
    model = pin_model(uri, backend, proba=proba)
    job = _Job.plan(model, source, list(columns or ()), proba)
    started = time.perf_counter()
    if executor == "ray":
        rows = _run_on_ray(job, source, target, batch_size, progress)
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
# Reading: an input file, its schema, and its rows in chunks


def _split(location: str, options: Mapping[str, Any]) -> tuple[Any, str]:
    """(fsspec filesystem, path) for a URL; (None, local path) for anything else."""
    if "://" not in location or location.startswith("file://"):
        # Absolute: Ray workers do not share the driver's working folder.
        return None, str(Path(location.removeprefix("file://")).expanduser().absolute())
    from fsspec.core import url_to_fs

    try:
        fs, path = url_to_fs(location, **options)
    except (ImportError, ValueError) as exc:  # unknown protocol, or its driver is missing
        raise InvalidInput(
            f"Cannot open {location!r}: {str(exc).rstrip('.')}.",
            hint="Install the driver for that URL scheme, e.g. pip install 'shipyard[cloud]'.",
        ) from exc
    return fs, str(path)


def _format_of(location: str, role: str) -> str:
    lowered = location.lower().rstrip("/")
    for suffix, fmt in _FORMATS.items():
        if lowered.endswith(suffix):
            return fmt
    raise InvalidInput(
        f"Cannot tell the format of the {role} {location!r} from its name: expected a name "
        f"ending in {', '.join(_FORMATS)}.",
        hint="Convert the input to CSV or Parquet and name it so."
        if role == "input"
        else "Name the output e.g. predictions.parquet or predictions.csv.",
    )


@dataclass
class _Source:
    """An input: CSV or Parquet (a file, or a folder of Parquet parts), local or a URL."""

    location: str
    format: str
    fs: Any  # fsspec filesystem, None for local paths
    path: str
    schema: pa.Schema
    total_rows: int | None  # known up front for Parquet
    total_bytes: int | None  # for CSV progress
    files: list[str]  # Parquet: the file, or the parts of a folder in order

    @classmethod
    def open(cls, location: str, options: Mapping[str, Any]) -> _Source:
        fs, path = _split(location, options)
        try:
            is_dir = fs.isdir(path) if fs is not None else Path(path).is_dir()
            exists = is_dir or (fs.isfile(path) if fs is not None else Path(path).is_file())
        except Exception as exc:  # credentials, network: the store's own error types
            raise StoreError(
                f"Could not reach {location!r}: {str(exc).rstrip('.')}.",
                hint="Check the credentials and storage options for that location.",
            ) from exc
        if not exists:
            raise InvalidInput(
                f"The input {location!r} does not exist.",
                hint="Check the path (a local file, a folder of Parquet parts, or a URL).",
            )
        fmt = "parquet" if is_dir else _format_of(location, "input")
        with _reading(location, fmt):
            if fmt == "parquet":
                import pyarrow.dataset as ds

                found = ds.dataset(path, format="parquet", filesystem=fs)
                rows = found.count_rows()  # from the files' footers
                return cls(location, fmt, fs, path, found.schema, rows, None, list(found.files))
            size = fs.size(path) if fs is not None else Path(path).stat().st_size
            with _csv_reader(fs, path, None) as (reader, _):
                schema = reader.schema
            return cls(location, fmt, fs, path, schema, None, size, [path])

    @property
    def column_names(self) -> list[str]:
        return list(self.schema.names)

    @contextlib.contextmanager
    def chunks(self, job: _Job, rows: int) -> Iterator[tuple[Iterator[pa.Table], Any]]:
        """The needed columns in tables of exactly ``rows`` rows (the last one shorter), and a
        function telling how many input bytes were read so far (CSV; None for Parquet)."""
        columns = job.read_columns
        with contextlib.ExitStack() as stack:
            with _reading(self.location, self.format):
                if self.format == "parquet":
                    batches = self._parquet_batches(columns, rows)
                    schema, bytes_read = self.schema, None
                else:
                    types = job.csv_types(self.schema)
                    opened = _csv_reader(self.fs, self.path, types, columns)
                    batches, bytes_read = stack.enter_context(opened)
                    schema = batches.schema
            yield self._guarded(_rebatch(batches, rows, schema, columns)), bytes_read

    def _parquet_batches(self, columns: list[str], rows: int) -> Iterator[pa.RecordBatch]:
        """Each file's batches in turn, one row group in memory at a time.

        ``ParquetFile.iter_batches`` without pre-buffering, rather than the dataset scanner,
        whose read-ahead runs far ahead of a slow consumer (the model) and fills memory.
        """
        import pyarrow.parquet as pq

        for name in self.files:
            with contextlib.ExitStack() as stack:
                handle = stack.enter_context(self.fs.open(name, "rb")) if self.fs else name
                reader = stack.enter_context(pq.ParquetFile(handle, pre_buffer=False))
                yield from reader.iter_batches(batch_size=rows, columns=columns)

    def _guarded(self, tables: Iterator[pa.Table]) -> Iterator[pa.Table]:
        """``tables`` with read errors (not the consumer's) turned into Shipyard errors."""
        with _reading(self.location, self.format):
            yield from tables


@contextlib.contextmanager
def _csv_reader(
    fs: Any,
    path: str,
    types: Mapping[str, Any] | None,
    columns: list[str] | None = None,
) -> Iterator[tuple[Any, Any]]:
    """pyarrow's streaming CSV reader and a function giving the input bytes consumed so far."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    raw = fs.open(path, "rb") if fs is not None else open(path, "rb")  # noqa: SIM115
    try:
        stream: Any = raw
        if path.lower().endswith(".gz"):
            stream = pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), "gzip")
        convert = pa_csv.ConvertOptions(column_types=dict(types or {}), include_columns=columns)
        reader = pa_csv.open_csv(
            stream,
            read_options=pa_csv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
            convert_options=convert,
        )
        yield reader, raw.tell
    finally:
        raw.close()


def _rebatch(batches: Any, rows: int, schema: pa.Schema, columns: list[str]) -> Iterator[pa.Table]:
    """Tables of exactly ``rows`` rows from batches of any size, so chunk offsets are exact.

    An input without rows still gives one empty table: the output then has the right columns.
    """
    import pyarrow as pa

    pending: list[pa.RecordBatch] = []
    count = 0
    produced = False
    for batch in batches:
        while batch.num_rows:
            take = min(rows - count, batch.num_rows)
            pending.append(batch.slice(0, take))
            count += take
            batch = batch.slice(take)
            if count == rows:
                yield pa.Table.from_batches(pending)
                pending, count, produced = [], 0, True
    if count or not produced:
        empty = pa.schema([schema.field(name) for name in columns])
        yield pa.Table.from_batches(pending, schema=None if pending else empty)


@contextlib.contextmanager
def _reading(location: str, fmt: str) -> Iterator[None]:
    """Arrow's and the store's errors while reading ``location`` as Shipyard errors."""
    import pyarrow as pa

    try:
        yield
    except ShipyardError:
        raise
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise InvalidInput(
            f"Could not read {location!r} as {fmt.upper()}: {str(exc).strip().rstrip('.')}.",
            hint=f"Check that it really is {fmt.upper()}, complete, and that each column "
            "holds one type throughout (CSV types are inferred from the first rows).",
        ) from exc
    except (FileNotFoundError, IsADirectoryError) as exc:
        raise InvalidInput(f"The input {location!r} cannot be read: {exc}.") from exc
    except OSError as exc:
        raise StoreError(
            f"Could not read {location!r}: {str(exc).rstrip('.')}.",
            hint="Check the credentials and storage options for that location.",
        ) from exc


# ---------------------------------------------------------------------------------------------
# Scoring: what to read, and one chunk's rows to one chunk of output


@dataclass(frozen=True)
class _Job:
    """What to read and write for one model and one input; picklable, for Ray actors."""

    model: PinnedModel
    input: str
    features: tuple[str, ...]
    passthrough: tuple[str, ...]
    proba: bool

    @classmethod
    def plan(cls, model: PinnedModel, source: _Source, passthrough: list[str], proba: bool) -> _Job:
        """Check the input against the model before any row is read, and name what to read."""
        present = source.column_names
        expected = model.input_columns
        if expected is None:  # a model fed one array: every column not copied through
            features = [c for c in present if c not in passthrough]
        else:
            features = expected
            missing = [c for c in expected if c not in present]
            if missing:
                raise InvalidInput(
                    f"The input {source.location!r} is missing column(s) {missing} that "
                    f"{model.label} takes; it has {present}.",
                    hint=f"The model takes {expected}; extra input columns are ignored.",
                )
        absent = [c for c in passthrough if c not in present]
        if absent:
            raise InvalidInput(
                f"Column(s) to copy {absent} are not in {source.location!r}; it has {present}.",
                hint="Copy only columns the input has (check spelling and case).",
            )
        if len(set(passthrough)) != len(passthrough):
            raise InvalidInput(
                f"Columns to copy name a column twice: {passthrough}.", hint="Name each once."
            )
        if proba and model.proba_columns is None:
            raise InvalidInput(
                f"{model.label} gives no class probabilities: it is not a classifier.",
                hint="Ask for predictions only (no --proba, proba=False).",
            )
        outputs = [PREDICTION, *(model.proba_columns or [])]
        clashes = [c for c in passthrough if c == PREDICTION or c.startswith(_RESERVED)]
        if clashes:
            raise InvalidInput(
                f"Copied column(s) {clashes} would clash with the output columns {outputs}.",
                hint="Rename those input columns, or do not copy them through.",
            )
        return cls(model, source.location, tuple(features), tuple(passthrough), proba)

    @property
    def read_columns(self) -> list[str]:
        return list(dict.fromkeys([*self.passthrough, *self.features]))

    def csv_types(self, schema: pa.Schema) -> dict[str, Any]:
        """Arrow types for the model's columns, from its signature, so that a CSV whose first
        block holds only whole numbers in a float column still reads its later 1.5."""
        import pyarrow as pa

        from shipyard.models._signature import TensorSpec

        inputs = self.model.signature.inputs
        types: dict[str, Any] = {}
        for spec in () if isinstance(inputs, TensorSpec) else inputs:
            dtype = spec.dtype
            if dtype.startswith("float"):
                types[spec.name] = pa.float64()
            elif dtype.startswith(("int", "uint")):
                types[spec.name] = pa.int64()  # the signature check then names an unfit value
            elif dtype == "bool":
                types[spec.name] = pa.bool_()
            elif dtype in ("string", "category"):
                types[spec.name] = pa.string()
        return {name: t for name, t in types.items() if name in schema.names}

    def score(self, model: LoadedModel, table: pa.Table, start: int | None) -> pa.Table:
        """One chunk's output: copied columns, predictions and, if asked, probabilities."""
        import numpy as np
        import pyarrow as pa

        rows = table.num_rows
        where = (
            f"Rows {start:,}-{start + rows - 1:,} of {self.input} (row numbers below count "
            f"from {start:,})"
            if start is not None
            else f"A batch of {rows:,} rows of {self.input}"
        )
        try:
            frame = table.select(list(self.features)).to_pandas()
            predicted, probabilities = model.run(model.prepare(frame), proba=self.proba)
        except InvalidInput as exc:
            raise InvalidInput(f"{where}: {exc.message}", hint=exc.hint) from exc
        except ShipyardError:
            raise
        except Exception as exc:  # the model's library failed on these rows
            raise RunFailed(
                f"{where}: {self.model.label} failed: {type(exc).__name__}: {exc}",
                hint="Check these rows' values; rerun with --debug for the traceback.",
            ) from exc
        columns: dict[str, Any] = {name: table.column(name) for name in self.passthrough}
        predicted = np.asarray(predicted)
        if predicted.ndim == 1:
            columns[PREDICTION] = pa.array(predicted)
        else:
            flat = predicted.reshape(rows, -1)
            for i in range(flat.shape[1]):
                columns[f"{PREDICTION}_{i}"] = pa.array(flat[:, i])
        if self.proba:
            if probabilities is None:
                raise RunFailed(f"{where}: {self.model.label} returned no probabilities.")
            names = self.model.proba_columns or []
            for i, name in enumerate(names):
                columns[name] = pa.array(np.asarray(probabilities[:, i], dtype=np.float64))
        return pa.table(columns)


# ---------------------------------------------------------------------------------------------
# Writing: a temporary file, renamed (or uploaded) once every row is in


class _Target:
    """Where the output goes, and how it gets there atomically."""

    def __init__(self, location: str, options: Mapping[str, Any]) -> None:
        self.location = location
        self.format = _format_of(location, "output")
        self.fs, self.path = _split(location, options)
        self.gzip = location.lower().endswith(".gz")

    def check_file(self) -> None:
        """Refuse a local output that is a folder before any work is done."""
        if self.fs is None and Path(self.path).is_dir():
            raise InvalidInput(
                f"The output {self.location!r} is a folder.",
                hint="Name a file (.parquet or .csv), or remove the folder.",
            )

    @contextlib.contextmanager
    def writer(self) -> Iterator[_Writer]:
        """A writer into a temporary file; on success it replaces the output in one step."""
        if self.fs is None:
            final = Path(self.path)
            final.parent.mkdir(parents=True, exist_ok=True)
            folder = final.parent
        else:
            final, folder = None, Path(tempfile.gettempdir())
        fd, name = tempfile.mkstemp(prefix=f".{Path(self.path).name}.", suffix=".tmp", dir=folder)
        os.close(fd)
        temporary = Path(name)
        writer = _Writer(temporary, self.format, self.gzip)
        try:
            yield writer
            writer.close()
            if final is not None:
                os.replace(temporary, final)
            else:
                self._upload(temporary)
        finally:
            writer.close()
            temporary.unlink(missing_ok=True)

    def _upload(self, local: Path) -> None:
        try:
            self.fs.put_file(str(local), self.path)
        except Exception as exc:
            raise StoreError(
                f"Could not upload the output to {self.location!r}: {str(exc).rstrip('.')}.",
                hint="Check the credentials and storage options for that location.",
            ) from exc


class _Writer:
    """Appends tables to one Parquet or CSV file; the schema is fixed by the first table."""

    def __init__(self, path: Path, fmt: str, gzip: bool) -> None:
        self.path, self.format, self.gzip = path, fmt, gzip
        self._writer: Any = None
        self._stream: Any = None
        self._schema: pa.Schema | None = None

    def write(self, table: pa.Table) -> None:
        import pyarrow as pa

        if self._writer is None:
            self._open(table.schema)
        elif not table.schema.equals(self._schema):
            try:
                table = table.cast(self._schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise RunFailed(
                    f"A chunk's output columns {table.schema} do not match the earlier "
                    f"chunks' {self._schema}: {exc}",
                    hint="Score with a larger batch size, or check the input's column types.",
                ) from exc
        self._writer.write_table(table)

    def _open(self, schema: pa.Schema) -> None:
        import pyarrow as pa
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq

        self._schema = schema
        if self.format == "parquet":
            self._writer = pq.ParquetWriter(str(self.path), schema, compression="zstd")
            return
        self._stream = pa.OSFile(str(self.path), "wb")
        if self.gzip:
            self._stream = pa.CompressedOutputStream(self._stream, "gzip")
        self._writer = pa_csv.CSVWriter(self._stream, schema)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._stream is not None:
            self._stream.close()
            self._stream = None


# ---------------------------------------------------------------------------------------------
# Executors


def _run_locally(
    job: _Job, source: _Source, target: _Target, batch_size: int, progress: bool
) -> int:
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

    def __init__(self, enabled: bool, source: _Source) -> None:
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


class _RayScorer:
    """A Ray Data actor: loads the pinned model once, then scores every batch it is handed."""

    def __init__(self, job: _Job) -> None:
        self.job = job
        self.model = job.model.load_in_worker()

    def __call__(self, batch: pa.Table) -> pa.Table:
        return self.job.score(self.model, batch, None)


def _run_on_ray(
    job: _Job, source: _Source, target: _Target, batch_size: int, progress: bool
) -> int:
    """Read, score and write with Ray Data; ``output`` becomes a folder of part files.

    Uses the running Ray connection, else ``RAY_ADDRESS``, else a new local cluster that is shut
    down afterwards (as the pipeline executor does). The parts are written into a temporary
    sibling folder that replaces the output once complete.
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
        fs = None if source.fs is None else _arrow_fs(source.fs)
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
        with _folder_output(target) as (folder, out_fs):
            arrow_fs = None if out_fs is None else _arrow_fs(out_fs)
            write = scored.write_parquet if target.format == "parquet" else scored.write_csv
            try:
                write(folder, filesystem=arrow_fs)
            except ray.exceptions.RayError as exc:
                raise _remote_error(exc) from exc
            if source.total_rows is not None:
                return source.total_rows  # one output row per input row
            return int(ds.dataset(folder, format=target.format, filesystem=out_fs).count_rows())
    finally:
        context.execution_options.preserve_order, context.enable_progress_bars = saved
        if started:
            ray.shutdown()


# A remote traceback's "module.Class: message" lines; Ray Data passes user-code errors as text.
_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*): (.+)$", re.MULTILINE)


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
    import pyarrow.fs as pa_fs

    return pa_fs.PyFileSystem(pa_fs.FSSpecHandler(fs))


@contextlib.contextmanager
def _folder_output(target: _Target) -> Iterator[tuple[str, Any]]:
    """A temporary sibling folder (or prefix) for part files, moved to the output on success."""
    parent, name = posixpath.split(target.path.rstrip("/"))
    temporary = posixpath.join(parent, f".{name}.tmp-{uuid.uuid4().hex[:12]}")
    fs = target.fs
    try:
        yield temporary, fs
        if fs is None:
            final = Path(target.path)
            if final.is_dir():
                import shutil

                shutil.rmtree(final)
            elif final.exists():
                final.unlink()
            os.replace(temporary, final)
        else:
            if fs.exists(target.path):
                fs.rm(target.path, recursive=True)
            fs.mv(temporary, target.path, recursive=True)
    finally:
        if fs is None:
            import shutil

            shutil.rmtree(temporary, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                fs.rm(temporary, recursive=True)
