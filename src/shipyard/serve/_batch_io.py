"""Batch inference's files: an input read in chunks, an output written incrementally and
atomically. Local paths and fsspec URLs (``s3://``, ``gs://``…) alike.

- **Flat memory.** The input is streamed in chunks of ``batch_size`` rows (Parquet one row
  group at a time, CSV with pyarrow's streaming reader) and each chunk's predictions are written
  before the next chunk is read, so a file larger than RAM scores in a few chunks' worth of it.
- **No half-written output.** Rows go to a temporary file next to the output, renamed into place
  only when every row is written (for an object store: a local file, uploaded once). A run that
  fails leaves the previous output, if any, untouched.

pyarrow and fsspec load when used.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInput, RunFailed, ShipyardError, StoreError

if TYPE_CHECKING:
    import pyarrow as pa

    from shipyard.serve._batch_job import Job

__all__ = ["Source", "Target"]

_FORMATS = {".csv": "csv", ".csv.gz": "csv", ".parquet": "parquet", ".pq": "parquet"}
# pyarrow's CSV reader reads up to 32 blocks ahead of a slow consumer whatever its options:
# 1 MiB blocks keep that near 32 MiB. Types of the model's columns come from its signature,
# so the first block's type inference matters only for copied-through columns.
_CSV_BLOCK_BYTES = 1 << 20
_STORE_HINT = "Check the credentials and storage options for that location."


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
class Source:
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
    def open(cls, location: str, options: Mapping[str, Any]) -> Source:
        fs, path = _split(location, options)
        try:
            is_dir = fs.isdir(path) if fs is not None else Path(path).is_dir()
            exists = is_dir or (fs.isfile(path) if fs is not None else Path(path).is_file())
        except Exception as exc:  # credentials, network: the store's own error types
            raise StoreError(
                f"Could not reach {location!r}: {str(exc).rstrip('.')}.",
                hint=_STORE_HINT,
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
    def chunks(self, job: Job, rows: int) -> Iterator[tuple[Iterator[pa.Table], Any]]:
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
            hint=_STORE_HINT,
        ) from exc


# ---------------------------------------------------------------------------------------------
# Writing: a temporary file (or folder), renamed (or uploaded) once every row is in


class Target:
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

    @contextlib.contextmanager
    def parts_folder(self) -> Iterator[str]:
        """A temporary sibling folder (or prefix) for part files, moved to the output on success."""
        parent, name = posixpath.split(self.path.rstrip("/"))
        temporary = posixpath.join(parent, f".{name}.tmp-{uuid.uuid4().hex[:12]}")
        fs = self.fs
        try:
            yield temporary
            if fs is None:
                final = Path(self.path)
                if final.is_dir():
                    shutil.rmtree(final)
                elif final.exists():
                    final.unlink()
                os.replace(temporary, final)
            else:
                if fs.exists(self.path):
                    fs.rm(self.path, recursive=True)
                fs.mv(temporary, self.path, recursive=True)
        finally:
            if fs is None:
                shutil.rmtree(temporary, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    fs.rm(temporary, recursive=True)

    def _upload(self, local: Path) -> None:
        try:
            self.fs.put_file(str(local), self.path)
        except Exception as exc:
            raise StoreError(
                f"Could not upload the output to {self.location!r}: {str(exc).rstrip('.')}.",
                hint=_STORE_HINT,
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
