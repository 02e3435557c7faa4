"""Signatures: inference from every kind of example, and the checks on prediction inputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from shipyard.core.errors import InvalidInput
from shipyard.models._inputs import InputPreparer, prepare_input
from shipyard.models._signature import ColumnSpec, Signature, TensorSpec, infer_signature

from .conftest import Dataset


@pytest.fixture
def mixed() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": np.array([31, 45, 27], dtype=np.int64),
            "income": [52_000.5, 61_000.0, 38_500.25],
            "member": [True, False, True],
            "city": ["Oslo", "Lima", "Pune"],
            "joined": pd.to_datetime(["2021-01-02", "2022-03-04", "2023-05-06"]),
            "plan": pd.Categorical(["free", "pro", "free"], categories=["free", "pro", "team"]),
        }
    )


@pytest.fixture
def numeric() -> Signature:
    return Signature(
        (ColumnSpec("a", "float64"), ColumnSpec("n", "int64"), ColumnSpec("b", "float64")),
        None,
        "dataframe",
    )


def test_dataframe_columns_and_dtypes_are_inferred(mixed: pd.DataFrame) -> None:
    signature = infer_signature(mixed)
    assert signature.input_kind == "dataframe"
    assert signature.outputs is None
    assert signature.inputs == (
        ColumnSpec("age", "int64"),
        ColumnSpec("income", "float64"),
        ColumnSpec("member", "bool"),
        ColumnSpec("city", "string"),
        ColumnSpec("joined", str(mixed["joined"].dtype)),
        ColumnSpec("plan", "category", categories=("free", "pro", "team")),
    )


def test_polars_records_and_dicts_give_the_same_columns(breast_cancer: Dataset) -> None:
    import polars as pl

    X = breast_cancer[0].head(3)
    expected = infer_signature(X)
    assert len(expected.inputs) == 30
    assert {c.dtype for c in expected.inputs if isinstance(c, ColumnSpec)} == {"float64"}
    assert infer_signature(pl.from_pandas(X)) == expected
    assert infer_signature(X.to_dict(orient="records")) == expected
    assert infer_signature(X.to_dict(orient="list")) == expected
    assert infer_signature(X.iloc[0].to_dict()) == expected


def test_arrays_and_tensors_give_a_batch_dimension() -> None:
    import torch

    assert infer_signature(np.zeros((7, 4), dtype=np.float32)) == Signature(
        TensorSpec("float32", (-1, 4)), None, "ndarray"
    )
    images = torch.zeros((2, 3, 8, 8))
    assert infer_signature(images).inputs == TensorSpec("float32", (-1, 3, 8, 8))
    assert infer_signature([[1, 2], [3, 4]]).inputs == TensorSpec("int64", (-1, 2))


def test_outputs_come_from_the_prediction(iris: Dataset) -> None:
    X, y = iris
    signature = infer_signature(X, y)
    assert signature.outputs == TensorSpec("string", (-1,))
    assert infer_signature(X, np.zeros((150, 3))).outputs == TensorSpec("float64", (-1, 3))


def test_signature_round_trips_through_json(mixed: pd.DataFrame) -> None:
    for signature in (
        infer_signature(mixed, np.array([0.5, 1.5, 2.5])),
        infer_signature(np.zeros((2, 3, 4), dtype=np.float32)),
    ):
        data = json.loads(json.dumps(signature.to_dict()))
        assert Signature.from_dict(data) == signature


def test_malformed_signatures_are_refused() -> None:
    with pytest.raises(InvalidInput, match="malformed"):
        Signature.from_dict({"inputs": {"type": "columns"}})
    with pytest.raises(InvalidInput, match="input_kind"):
        Signature(TensorSpec("float32", (-1,)), None, "dataframe")


def test_every_payload_shape_gives_the_same_frame(mixed: pd.DataFrame) -> None:
    signature = infer_signature(mixed)
    expected = prepare_input(mixed, signature)
    pd.testing.assert_frame_equal(expected, mixed)
    payloads = [
        mixed.to_dict(orient="records"),
        mixed.to_dict(orient="list"),
        mixed[list(reversed(mixed.columns))].assign(extra=1),
    ]
    for payload in payloads:
        pd.testing.assert_frame_equal(prepare_input(payload, signature), expected)
    one = prepare_input(mixed.iloc[1].to_dict(), signature)
    pd.testing.assert_frame_equal(one, expected.iloc[[1]].reset_index(drop=True))


def test_numeric_arrays_records_and_dicts_agree(breast_cancer: Dataset) -> None:
    X = breast_cancer[0].head(4)
    signature = infer_signature(X)
    expected = prepare_input(X, signature)
    for payload in (X.to_numpy(), X.to_dict(orient="records"), X.to_dict(orient="list")):
        pd.testing.assert_frame_equal(prepare_input(payload, signature), expected)
    row = prepare_input(X.iloc[2].to_dict(), signature)
    pd.testing.assert_frame_equal(row, expected.iloc[[2]].reset_index(drop=True))
    assert list(row.columns) == list(X.columns)


def test_missing_columns_are_named(mixed: pd.DataFrame) -> None:
    signature = infer_signature(mixed)
    with pytest.raises(InvalidInput, match=r"missing column\(s\) \['city', 'plan'\]") as err:
        prepare_input(mixed.drop(columns=["city", "plan"]), signature)
    assert "'income'" in err.value.message  # the expected columns are listed
    records = mixed.to_dict(orient="records")
    del records[1]["age"]
    with pytest.raises(InvalidInput, match=r"\['age'\] \(record 1\)"):
        prepare_input(records, signature)


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("income", "lots", "float64"),
        ("age", 31.5, "int64"),
        ("member", "yes", "bool"),
        ("city", 7, "string"),
        ("plan", "enterprise", "category"),
    ],
)
def test_wrong_values_name_column_dtype_and_value(
    mixed: pd.DataFrame, column: str, value: object, expected: str
) -> None:
    signature = infer_signature(mixed)
    row = mixed.iloc[0].to_dict() | {column: value}
    with pytest.raises(InvalidInput, match=expected) as err:
        prepare_input(row, signature)
    assert f"'{column}'" in err.value.message
    assert repr(value) in err.value.message


def test_safe_casts_are_made(numeric: Signature) -> None:
    frame = prepare_input({"a": 1, "n": 2.0, "b": None, "other": "ignored"}, numeric)
    assert frame.dtypes.astype(str).tolist() == ["float64", "int64", "float64"]
    assert frame.iloc[0, 0] == 1.0 and frame.iloc[0, 1] == 2 and np.isnan(frame.iloc[0, 2])
    assert InputPreparer(numeric).matrix({"a": 1, "n": 2, "b": 3.5}, np.float32).tolist() == [
        [1.0, 2.0, 3.5]
    ]
    with pytest.raises(InvalidInput, match="'n' expects int64"):
        InputPreparer(numeric).matrix({"a": 1, "n": 2.5, "b": 3.5}, np.float32)
    with pytest.raises(InvalidInput, match=r"'a' expects float64 values; got '1\.0'"):
        prepare_input({"a": "1.0", "n": 2, "b": 3}, numeric)


def test_array_inputs_must_have_the_signature_width(numeric: Signature) -> None:
    frame = prepare_input(np.array([1, 2, 3]), numeric)
    assert frame.to_numpy().tolist() == [[1.0, 2.0, 3.0]]
    with pytest.raises(InvalidInput, match=r"needs 3 columns in the order \['a', 'n', 'b'\]"):
        prepare_input(np.zeros((2, 4)), numeric)
    with pytest.raises(InvalidInput, match="Expected an array"):
        prepare_input("a,n,b", numeric)


def test_tensor_inputs_are_cast_and_shape_checked() -> None:
    import torch

    signature = infer_signature(np.zeros((5, 3, 2), dtype=np.float32))
    batch = prepare_input(np.ones((4, 3, 2)).tolist(), signature)
    assert batch.dtype == np.float32 and batch.shape == (4, 3, 2)
    assert prepare_input(torch.ones((3, 2), dtype=torch.int64), signature).shape == (1, 3, 2)
    with pytest.raises(InvalidInput, match=r"shape \(4, 2, 3\); the model expects \(-1, 3, 2\)"):
        prepare_input(np.zeros((4, 2, 3)), signature)
    with pytest.raises(InvalidInput, match="not a rectangular array"):
        prepare_input([[[1.0, 2.0]], [[1.0]]], signature)
    with pytest.raises(InvalidInput, match="input tensor expects float32 values; got 'x'"):
        prepare_input([[["x", "y"]] * 3], signature)
    ints = infer_signature(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(InvalidInput, match=r"expects int64 values; got 0\.5"):
        prepare_input([[1.0, 0.5]], ints)
