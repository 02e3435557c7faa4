from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_iris

from shipyard.core.errors import InvalidInput, NotFound
from shipyard.data._frames import (
    content_digest,
    from_parquet_bytes,
    normalize,
    read_table,
    to_arrow,
    to_pandas,
    to_parquet_bytes,
)

COLUMNS = {
    "id": [1, 2, 3, 4],
    "score": [0.5, None, 2.25, -1.0],
    "city": ["Oslo", "Lima", None, "Oslo"],
}
RECORDS = [dict(zip(COLUMNS, row, strict=True)) for row in zip(*COLUMNS.values(), strict=True)]


@pytest.fixture
def reference() -> pa.Table:
    return pa.table(COLUMNS)


def all_producers() -> dict[str, object]:
    return {
        "pandas": pd.DataFrame(COLUMNS),
        "polars": pl.DataFrame(COLUMNS),
        "pyarrow": pa.table(COLUMNS),
        "record_batch": pa.RecordBatch.from_pydict(COLUMNS),
        "dict": COLUMNS,
        "records": RECORDS,
    }


@pytest.mark.parametrize("producer", list(all_producers()))
def test_every_producer_normalizes_to_the_same_table(producer: str, reference: pa.Table) -> None:
    table = normalize(to_arrow(all_producers()[producer]))

    assert table.equals(normalize(reference))
    assert table.schema.metadata is None
    assert table.schema.field("city").type == pa.string()  # pandas and polars give large_string
    assert content_digest(table) == content_digest(reference)


def test_pandas_index_is_dropped() -> None:
    frame = pd.DataFrame(COLUMNS, index=[10, 11, 12, 13])

    assert to_arrow(frame).column_names == ["id", "score", "city"]


def test_polars_lazy_frame_is_collected(reference: pa.Table) -> None:
    table = to_arrow(pl.DataFrame(COLUMNS).lazy())

    assert normalize(table).equals(normalize(reference))


def test_categoricals_normalize_to_int32_string_dictionaries() -> None:
    from_pandas = to_arrow(pd.DataFrame({"c": pd.Categorical(["u", "v", "u"])}))
    from_polars = to_arrow(pl.DataFrame({"c": pl.Series(["u", "v", "u"], dtype=pl.Categorical)}))
    expected = pa.dictionary(pa.int32(), pa.string())

    assert normalize(from_pandas).schema.field("c").type == expected
    assert normalize(from_polars).schema.field("c").type == expected
    assert content_digest(from_pandas) == content_digest(from_polars)


def test_digest_changes_with_any_value_name_order_or_type(reference: pa.Table) -> None:
    digest = content_digest(reference)
    changed_value = pa.table({**COLUMNS, "score": [0.5, None, 2.25, -1.5]})
    renamed = reference.rename_columns(["id", "score", "town"])
    reordered = reference.select(["score", "id", "city"])
    retyped = reference.set_column(0, "id", reference.column("id").cast(pa.int32()))
    null_moved = pa.table({**COLUMNS, "score": [0.5, 0.0, 2.25, -1.0]})

    others = [changed_value, renamed, reordered, retyped, null_moved]
    digests = {content_digest(table) for table in others}
    assert len(digests) == len(others) and digest not in digests


def test_digest_ignores_chunking_and_metadata(reference: pa.Table) -> None:
    chunked = pa.Table.from_batches(reference.to_batches(max_chunksize=1))
    with_metadata = reference.replace_schema_metadata({"origin": "test"})

    assert chunked.column(0).num_chunks == 4
    assert content_digest(chunked) == content_digest(reference)
    assert content_digest(with_metadata) == content_digest(reference)


def test_digest_ignores_bytes_under_nulls() -> None:
    # pandas stores NaN under a missing float, pyarrow zero: the data are the same.
    from_pandas = to_arrow(pd.DataFrame({"x": [1.0, np.nan]}))
    from_list = pa.table({"x": [1.0, None]})

    assert content_digest(from_pandas) == content_digest(from_list)


def test_digest_of_dictionary_ignores_dictionary_order() -> None:
    first = pa.DictionaryArray.from_arrays(pa.array([0, 1, 0], pa.int32()), ["a", "b"])
    second = pa.DictionaryArray.from_arrays(pa.array([1, 0, 1], pa.int32()), ["b", "a"])

    assert content_digest(pa.table({"c": first})) == content_digest(pa.table({"c": second}))


def test_digest_is_the_same_in_another_process(tmp_path: Path) -> None:
    frame = load_iris(as_frame=True).frame
    path = tmp_path / "iris.parquet"
    pq.write_table(to_arrow(frame), path)
    code = (
        "import pyarrow.parquet as pq; from shipyard.data._frames import content_digest; "
        f"print(content_digest(pq.read_table({str(path)!r})))"
    )

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == content_digest(to_arrow(frame))


def test_digest_of_empty_tables_depends_on_the_columns() -> None:
    empty_int = pa.table({"a": pa.array([], pa.int64())})
    empty_str = pa.table({"a": pa.array([], pa.string())})

    assert content_digest(empty_int) != content_digest(empty_str)
    assert content_digest(pa.table({})) != content_digest(empty_int)


@pytest.mark.parametrize(
    ("bad", "got"),
    [("data.csv", "builtins.str"), (42, "builtins.int"), ([1, 2], "builtins.list")],
)
def test_unsupported_inputs_say_what_is_accepted(bad: object, got: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        to_arrow(bad)

    assert got in str(raised.value)
    assert "pandas or polars DataFrame" in str(raised.value)
    assert "list of records" in str(raised.value)


def test_a_path_string_points_to_read_table() -> None:
    with pytest.raises(InvalidInput, match=r"read_table"):
        to_arrow("data.csv")


def test_mixed_types_in_a_column_are_invalid_input() -> None:
    with pytest.raises(InvalidInput, match=r"Could not convert the dict.*single type"):
        to_arrow({"a": [1, "x"]})


def test_duplicate_column_names_are_rejected() -> None:
    with pytest.raises(InvalidInput, match=r"'a'"):
        to_arrow(pa.table([pa.array([1]), pa.array([2])], names=["a", "a"]))


def test_read_csv_parquet_and_gzip(tmp_path: Path) -> None:
    frame = load_iris(as_frame=True).frame
    expected = normalize(to_arrow(frame))
    frame.to_csv(tmp_path / "iris.csv", index=False)
    with gzip.open(tmp_path / "iris.csv.gz", "wt") as f:
        frame.to_csv(f, index=False)
    pq.write_table(expected, tmp_path / "iris.parquet")
    pq.write_table(expected, tmp_path / "iris.pq")

    for name in ["iris.csv", "iris.csv.gz", "iris.parquet", "iris.pq"]:
        table = normalize(read_table(str(tmp_path / name)))
        assert table.num_rows == 150
        assert table.column_names == expected.column_names
        assert np.allclose(table["sepal length (cm)"].to_numpy(), frame["sepal length (cm)"])
    assert content_digest(read_table(str(tmp_path / "iris.parquet"))) == content_digest(expected)


def test_read_through_an_fsspec_url(tmp_path: Path) -> None:
    pq.write_table(pa.table(COLUMNS), tmp_path / "x.parquet")

    table = read_table(f"file://{tmp_path / 'x.parquet'}")
    via_memory = _through_memory_filesystem(tmp_path / "x.parquet")

    assert table.equals(pa.table(COLUMNS))
    assert via_memory.equals(pa.table(COLUMNS))


def _through_memory_filesystem(path: Path) -> pa.Table:
    import fsspec

    fs = fsspec.filesystem("memory")
    fs.pipe("/shipyard-test/x.parquet", path.read_bytes())
    try:
        return read_table("memory://shipyard-test/x.parquet")
    finally:
        fs.rm("/shipyard-test", recursive=True)


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match=r"does not exist"):
        read_table(str(tmp_path / "nope.csv"))
    with pytest.raises(NotFound):
        read_table("memory://shipyard-test/nope.parquet")


def test_unknown_extension_lists_the_supported_ones(tmp_path: Path) -> None:
    (tmp_path / "data.json").write_text("{}")

    with pytest.raises(InvalidInput) as raised:
        read_table(str(tmp_path / "data.json"))

    for suffix in [".csv", ".csv.gz", ".parquet", ".pq"]:
        assert suffix in str(raised.value)


def test_corrupt_parquet_is_invalid_input(tmp_path: Path) -> None:
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")

    with pytest.raises(InvalidInput, match=r"as PARQUET"):
        read_table(str(tmp_path / "bad.parquet"))
    with pytest.raises(InvalidInput, match=r"not a readable Parquet"):
        from_parquet_bytes(b"garbage")


def test_parquet_bytes_round_trip_with_zstd(reference: pa.Table) -> None:
    data = to_parquet_bytes(reference)

    assert pq.ParquetFile(pa.BufferReader(data)).metadata.row_group(0).column(0).compression == (
        "ZSTD"
    )
    assert from_parquet_bytes(data).equals(reference)


def test_to_pandas_round_trips_values(reference: pa.Table) -> None:
    frame = to_pandas(reference)

    assert list(frame.columns) == ["id", "score", "city"]
    assert frame["id"].tolist() == [1, 2, 3, 4]
    assert np.isnan(frame["score"][1])


def test_unknown_url_scheme_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match=r"Cannot open 'nosuchscheme://b/x.csv'"):
        read_table("nosuchscheme://b/x.csv")


def test_csv_with_duplicate_headers_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "dup.csv").write_text("a,a\n1,2\n")

    with pytest.raises(InvalidInput, match=r"'a' appear more than once"):
        read_table(str(tmp_path / "dup.csv"))


def test_a_polars_series_is_not_a_table() -> None:
    with pytest.raises(InvalidInput, match=r"polars.*Series"):
        to_arrow(pl.Series("a", [1, 2]))
