from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.datasets import load_wine

from shipyard.core.errors import InvalidInput, NotFound
from shipyard.data._columns import (
    ColumnSchema,
    DatasetSchema,
    column_kind,
    infer_schema,
)
from shipyard.data._frames import to_arrow


@pytest.fixture
def mixed() -> pa.Table:
    return pa.table(
        {
            "age": pa.array([31, 45, None], pa.int32()),
            "income": [1.5, float("nan"), 3.0],
            "height": [1.8, 1.6, 1.7],
            "city": ["Oslo", "Lima", "Oslo"],
            "plan": pa.array(["pro", "free", None]).dictionary_encode(),
            "active": [True, False, True],
            "seen": pa.array([dt.datetime(2024, 1, 1), None, None], pa.timestamp("us")),
            "born": pa.array([dt.date(1990, 5, 1)] * 3, pa.date32()),
            "blob": [b"a", b"b", b"c"],
            "tags": [["x"], [], ["y", "z"]],
        }
    )


def test_kinds_of_every_column(mixed: pa.Table) -> None:
    schema = infer_schema(mixed)

    assert [c.kind for c in schema.columns] == [
        "integer",
        "float",
        "float",
        "string",
        "categorical",
        "boolean",
        "datetime",
        "date",
        "binary",
        "other",
    ]
    assert schema.column("age").arrow_type == "int32"


@pytest.mark.parametrize(
    ("dtype", "kind"),
    [
        (pa.large_string(), "string"),
        (pa.string_view(), "string"),
        (pa.decimal128(10, 2), "float"),
        (pa.uint8(), "integer"),
        (pa.large_binary(), "binary"),
        (pa.timestamp("ns", tz="UTC"), "datetime"),
        (pa.time64("us"), "other"),
        (pa.null(), "other"),
    ],
)
def test_column_kind(dtype: pa.DataType, kind: str) -> None:
    assert column_kind(dtype) == kind


def test_nullable_comes_from_the_data_and_counts_nan(mixed: pa.Table) -> None:
    schema = infer_schema(mixed)

    nullable = {c.name for c in schema.columns if c.nullable}
    assert nullable == {"age", "income", "plan", "seen"}
    assert all(field.nullable for field in mixed.schema)  # the Arrow flag says nothing


def test_categories_for_dictionaries_and_low_cardinality_strings(mixed: pa.Table) -> None:
    schema = infer_schema(mixed)

    assert schema.column("city").categories == ("Lima", "Oslo")
    assert schema.column("plan").categories == ("free", "pro")
    assert schema.column("age").categories is None


def test_high_cardinality_strings_have_no_categories() -> None:
    table = pa.table({"id": [f"user-{i}" for i in range(30)]})

    assert infer_schema(table, max_categories=29).column("id").categories is None
    assert len(infer_schema(table, max_categories=30).column("id").categories or ()) == 30


def test_dictionary_categories_are_the_values_present_as_strings() -> None:
    codes = pa.array([3, 1, 3, None]).dictionary_encode()
    chunked = pa.chunked_array(
        [pa.array(["b", "a"]).dictionary_encode(), pa.array(["c", "a"]).dictionary_encode()]
    )
    table = pa.table({"codes": codes, "letters": chunked})

    schema = infer_schema(table, max_categories=1)  # the cap is for plain strings only

    assert schema.column("codes").categories == ("1", "3")
    assert schema.column("letters").categories == ("a", "b", "c")


def test_schema_of_a_real_frame_round_trips_through_json() -> None:
    frame = load_wine(as_frame=True).frame
    frame["grade"] = pd.Categorical(np.where(frame["alcohol"] > 13, "high", "low"))

    schema = infer_schema(to_arrow(frame))
    restored = DatasetSchema.from_dict(json.loads(json.dumps(schema.to_dict())))

    assert restored == schema
    assert schema.names[:2] == ("alcohol", "malic_acid")
    assert schema.column("target").kind == "integer"
    assert schema.column("grade").categories == ("high", "low")


def test_unknown_column_is_not_found_and_lists_the_columns(mixed: pa.Table) -> None:
    with pytest.raises(NotFound, match=r"'agee' is not in the schema; it has 'age', 'income'"):
        infer_schema(mixed).column("agee")


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"columns": "age"},
        {"columns": [{"name": "age"}]},
        {"columns": [{"name": "age", "kind": "number", "arrow_type": "x", "nullable": False}]},
    ],
)
def test_malformed_dicts_are_invalid_input(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidInput, match=r"to_dict"):
        DatasetSchema.from_dict(bad)


def test_column_schema_is_frozen() -> None:
    column = ColumnSchema("a", "integer", "int64", False, None)

    with pytest.raises(AttributeError):
        column.name = "b"  # type: ignore[misc]
