"""Turn whatever frame a user holds into one canonical Arrow table, and fingerprint it.

Arrow is the one in-memory form inside ``shipyard.data``: pandas, polars, records and files all
become a ``pa.Table`` at the edge, so that schemas, profiles and digests are computed once, the
same way, whatever the user started from.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from shipyard.core.errors import InvalidInput, NotFound, StoreError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "content_digest",
    "from_parquet_bytes",
    "normalize",
    "read_table",
    "to_arrow",
    "to_pandas",
    "to_parquet_bytes",
]

_ACCEPTED = (
    "a pandas or polars DataFrame, a pyarrow Table or RecordBatch, "
    "a dict of columns ({'a': [1, 2]}) or a list of records ([{'a': 1}, {'a': 2}])"
)
_FORMATS = {".csv": "csv", ".csv.gz": "csv", ".parquet": "parquet", ".pq": "parquet"}


def to_arrow(data: object) -> pa.Table:
    """The Arrow table holding ``data``; the single door every in-memory frame comes through."""
    try:
        table = _convert(data)
    except (ValueError, TypeError, pa.ArrowNotImplementedError) as exc:  # Arrow*Invalid/TypeError
        raise InvalidInput(
            f"Could not convert the {type(data).__qualname__} to an Arrow table: "
            f"{str(exc).rstrip('.')}.",
            hint="Give every column a unique name and a single type (no mix of numbers and "
            "strings).",
        ) from exc
    if table is None:
        hint = " To read a file, use read_table(path)." if isinstance(data, str | Path) else ""
        raise InvalidInput(
            f"Cannot make a table from a {type(data).__module__}.{type(data).__qualname__}: "
            f"expected {_ACCEPTED}.",
            hint=f"Convert the data to one of those first.{hint}",
        )
    check_unique_names(table)
    return table


def _convert(data: Any) -> pa.Table | None:
    module = type(data).__module__
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if module.startswith("pandas") and type(data).__name__ == "DataFrame":
        return pa.Table.from_pandas(data, preserve_index=False)
    if module.startswith("polars") and type(data).__name__ == "DataFrame":
        return data.to_arrow()
    if module.startswith("polars") and type(data).__name__ == "LazyFrame":
        return data.collect().to_arrow()
    if isinstance(data, Mapping):
        return pa.table(dict(data))
    if isinstance(data, list) and all(isinstance(row, Mapping) for row in data):
        return pa.Table.from_pylist(data)
    return None


def check_unique_names(table: pa.Table) -> None:
    """Refuse duplicate column names: columns are looked up by name everywhere downstream."""
    duplicates = sorted(name for name, n in Counter(table.column_names).items() if n > 1)
    if duplicates:
        raise InvalidInput(
            f"Column names must be unique, but {', '.join(map(repr, duplicates))} appear "
            "more than once.",
            hint="Rename or drop the duplicate columns.",
        )


def read_table(path: str, storage_options: dict[str, Any] | None = None) -> pa.Table:
    """Read a CSV or Parquet file, local or behind an fsspec URL (``s3://bucket/x.parquet``)."""
    fmt = _format_of(path)
    is_url = "://" in path and not path.startswith("file://")
    if not is_url and not Path(path.removeprefix("file://")).is_file():
        raise NotFound(f"Data file {path!r} does not exist.", hint="Check the path.")
    try:
        if not is_url:  # pyarrow reads local files natively and infers .gz itself
            local = path.removeprefix("file://")
            table = pa_csv.read_csv(local) if fmt == "csv" else pq.read_table(local)
        else:
            with fsspec.open(path, "rb", compression="infer", **(storage_options or {})) as f:
                table = pa_csv.read_csv(f) if fmt == "csv" else pq.read_table(f)
    except FileNotFoundError as exc:
        raise NotFound(f"Data file {path!r} does not exist.", hint="Check the URL.") from exc
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise InvalidInput(
            f"Could not read {path!r} as {fmt.upper()}: {str(exc).rstrip('.')}.",
            hint=f"Check that the file really is {fmt.upper()} and is not truncated.",
        ) from exc
    except (ImportError, ValueError) as exc:  # fsspec: unknown protocol or missing driver
        raise InvalidInput(
            f"Cannot open {path!r}: {str(exc).rstrip('.')}.",
            hint="Install the driver for that URL scheme, e.g. pip install 'shipyard[cloud]'.",
        ) from exc
    except Exception as exc:  # OSError, or the own trees of boto, gcsfs, adlfs...
        raise StoreError(
            f"Could not read {path!r}: {str(exc).rstrip('.')}.",
            hint="Check the credentials and storage_options for that location.",
        ) from exc

    check_unique_names(table)
    return table


def _format_of(path: str) -> str:
    lowered = path.lower()
    for suffix, fmt in _FORMATS.items():
        if lowered.endswith(suffix):
            return fmt
    raise InvalidInput(
        f"Cannot tell the format of {path!r} from its extension: expected one of "
        f"{', '.join(_FORMATS)}.",
        hint="Rename the file, or load it yourself and pass the frame instead.",
    )


def normalize(table: pa.Table) -> pa.Table:
    """``table`` in canonical form: no metadata, 32-bit offsets, int32 dictionaries, one chunk.

    The same data from pandas, polars or pyarrow then compares (and hashes) equal, as far as
    their types allow.
    """
    schema = pa.schema(
        [pa.field(field.name, _canonical_type(field.type)) for field in table.schema]
    )
    table = table.replace_schema_metadata(None)
    if not table.schema.equals(schema, check_metadata=True):
        table = table.cast(schema)
    return table.combine_chunks()


def _canonical_type(dtype: pa.DataType) -> pa.DataType:
    if pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
        return pa.string()
    if pa.types.is_large_binary(dtype) or pa.types.is_binary_view(dtype):
        return pa.binary()
    if pa.types.is_dictionary(dtype):
        return pa.dictionary(pa.int32(), _canonical_type(dtype.value_type), dtype.ordered)
    if pa.types.is_large_list(dtype) or pa.types.is_list(dtype):
        return pa.list_(_canonical_type(dtype.value_type))
    if pa.types.is_struct(dtype):
        fields = [dtype.field(i) for i in range(dtype.num_fields)]
        return pa.struct([pa.field(f.name, _canonical_type(f.type)) for f in fields])
    return dtype


def content_digest(table: pa.Table) -> str:
    """Hex sha256 of the table's content: names, types and values, in order.

    Chunking, metadata and producer do not change it; any value, name, order or type does.
    """
    table = normalize(table)
    digest = hashlib.sha256()
    header = [table.num_rows, [[field.name, str(field.type)] for field in table.schema]]
    digest.update(json.dumps(header, ensure_ascii=False).encode())
    arrays: list[pa.Array] = []
    for column in table.columns:
        arrays.extend(_canonical_arrays(_single_array(column)))
    batch = pa.RecordBatch.from_arrays(arrays, names=[str(i) for i in range(len(arrays))])
    with pa.ipc.new_stream(pa.PythonFile(_HashSink(digest), mode="w"), batch.schema) as writer:
        writer.write_batch(batch)
    return digest.hexdigest()


def _single_array(column: pa.ChunkedArray) -> pa.Array:
    if column.num_chunks == 1:
        return column.chunk(0)
    return pa.concat_arrays(column.chunks) if column.num_chunks else pa.array([], column.type)


def _canonical_arrays(array: pa.Array) -> list[pa.Array]:
    """The arrays that stand for ``array`` in the digest.

    Dictionaries are decoded, so their (arbitrary) dictionary order does not count. The bytes
    under a null slot are undefined in Arrow (pandas leaves NaN there, pyarrow zero), so a column
    with nulls is hashed as its validity plus its values with nulls filled.
    """
    if pa.types.is_dictionary(array.type):
        array = array.cast(array.type.value_type)
    if array.null_count == 0:
        return [array]
    fill = _fill_value(array.type)
    if fill is None:  # nested or exotic types: trust the IPC writer
        return [array]
    return [pc.is_valid(array), pc.fill_null(array, fill)]


def _fill_value(dtype: pa.DataType) -> pa.Scalar | None:
    types = pa.types
    if types.is_string(dtype) or types.is_binary(dtype):
        return pa.scalar("" if types.is_string(dtype) else b"", dtype)
    if types.is_boolean(dtype):
        return pa.scalar(False)
    if types.is_integer(dtype) or types.is_floating(dtype) or types.is_decimal(dtype):
        return pa.scalar(0).cast(dtype)
    if types.is_temporal(dtype) and dtype.bit_width in (32, 64):
        storage = pa.int64() if dtype.bit_width == 64 else pa.int32()
        return pa.array([0], storage).view(dtype)[0]
    return None


class _HashSink:
    """A write-only file that feeds everything written to it into a hash."""

    closed = False

    def __init__(self, digest: Any) -> None:
        self._digest = digest

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def to_parquet_bytes(table: pa.Table) -> bytes:
    """``table`` as one zstd-compressed Parquet file in memory, ready for the blob store."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return bytes(sink.getvalue().to_pybytes())


def from_parquet_bytes(data: bytes) -> pa.Table:
    """The table stored by :func:`to_parquet_bytes`."""
    try:
        return pq.read_table(pa.BufferReader(data))
    except pa.ArrowInvalid as exc:
        raise InvalidInput(
            f"The {len(data)} bytes given are not a readable Parquet file: {exc}",
            hint="Pass bytes produced by to_parquet_bytes.",
        ) from exc


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """``table`` as a pandas DataFrame (dictionary columns become categoricals)."""
    return table.to_pandas()
