"""Preparing payloads: every mistake is an InvalidInput naming the column, and edge shapes (no
rows, one row, mixed lists) come out as the model's frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shipyard.core.errors import InvalidInput
from shipyard.models._inputs import InputPreparer, prepare_input
from shipyard.models._signature import ColumnSpec, Signature, infer_signature


@pytest.fixture
def mixed() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": np.array([31, 45, 27], dtype=np.int64),
            "income": [52_000.5, 61_000.0, 38_500.25],
            "member": [True, False, True],
            "city": ["Oslo", "Lima", "Pune"],
            "joined": pd.to_datetime(["2021-01-02", "2022-03-04", "2023-05-06"]),
            "seen": pd.to_datetime(["2021-01-02", "2022-03-04", "2023-05-06"]).tz_localize("UTC"),
            "plan": pd.Categorical(["free", "pro", "free"], categories=["free", "pro", "team"]),
            "level": np.array([1, 2, 3], dtype=np.uint8),
        },
        index=[10, 11, 12],
    )


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("level", 300),  # wrapped to 44 before
        ("level", -1),  # wrapped to 255 before
        ("age", 1e30),  # became -2**63 with a RuntimeWarning before
        ("age", 2**70),  # RecursionError before
        ("age", float("inf")),
    ],
)
def test_integers_out_of_range_name_the_column(
    mixed: pd.DataFrame, column: str, value: object
) -> None:
    signature = infer_signature(mixed)
    row = mixed.iloc[0].to_dict() | {column: value}
    for payload in (row, [row], pd.DataFrame([row])):
        with pytest.raises(InvalidInput, match=f"Column '{column}' expects") as err:
            prepare_input(payload, signature)
        assert repr(value) in err.value.message


def test_numeric_fast_path_checks_ranges_too() -> None:
    signature = Signature((ColumnSpec("a", "int32"), ColumnSpec("b", "int32")), None, "dataframe")
    with pytest.raises(InvalidInput, match=r"'a' expects int32 values; got 3000000000"):
        prepare_input({"a": 3_000_000_000, "b": 1}, signature)
    with pytest.raises(InvalidInput, match=r"'b' expects int32 values; got 1e\+20"):
        InputPreparer(signature).matrix([{"a": 1, "b": 1e20}], np.float32)
    assert prepare_input({"a": 2.0, "b": -(2**31)}, signature).to_numpy().tolist() == [
        [2, -(2**31)]
    ]


def test_records_must_all_be_mappings(mixed: pd.DataFrame) -> None:
    records = mixed.to_dict(orient="records")
    with pytest.raises(InvalidInput, match="Record 1 is a list, not a mapping"):
        prepare_input([records[0], [1, 2]], infer_signature(mixed))


def test_a_mixed_list_is_one_positional_row(mixed: pd.DataFrame) -> None:
    signature = infer_signature(mixed)
    row = [31, 1.5, True, "Oslo", "2021-01-02", "2021-01-02T00:00:00Z", "pro", 3]
    expected = prepare_input(dict(zip(mixed.columns, row, strict=True)), signature)
    assert expected.dtypes.tolist() == mixed.dtypes.tolist()
    # numpy alone would turn every value into a string: '31' for the int column
    pd.testing.assert_frame_equal(prepare_input(row, signature), expected)
    pd.testing.assert_frame_equal(prepare_input([row], signature), expected)


@pytest.mark.parametrize("kind", ["frame", "records", "columns"])
def test_zero_rows_give_an_empty_frame_of_the_signature(mixed: pd.DataFrame, kind: str) -> None:
    signature = infer_signature(mixed)
    payload = {
        "frame": mixed.iloc[:0],
        "records": [],
        "columns": {name: [] for name in mixed.columns},
    }[kind]
    prepared = prepare_input(payload, signature)
    assert isinstance(prepared, pd.DataFrame) and len(prepared) == 0
    assert list(prepared.columns) == list(mixed.columns)
    assert prepared["seen"].dtype == mixed["seen"].dtype  # the time zone is kept
    assert prepared["level"].dtype == np.uint8 and prepared["plan"].dtype == mixed["plan"].dtype


def test_empty_tensor_batches_keep_their_shape() -> None:
    signature = infer_signature(np.zeros((2, 3), dtype=np.float32))
    assert prepare_input([], signature).shape == (0, 3)
    assert prepare_input(np.zeros((0, 3)), signature).dtype == np.float32


def test_duplicated_columns_are_named(mixed: pd.DataFrame) -> None:
    doubled = pd.concat([mixed, mixed[["age"]]], axis=1)
    with pytest.raises(InvalidInput, match=r"more than one column named \['age'\]"):
        prepare_input(doubled, infer_signature(mixed))


def test_numeric_frames_take_the_fast_matrix_path_in_any_column_order() -> None:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).data
    preparer = InputPreparer(infer_signature(frame.head(3)))
    expected = frame.to_numpy(dtype="float64")
    shuffled = frame[frame.columns[::-1]].assign(extra="ignored")
    np.testing.assert_array_equal(preparer.matrix(shuffled, "float64"), expected)
    single = preparer.matrix(frame.head(1), "float32")
    assert single.dtype == np.float32
    np.testing.assert_array_equal(single, expected[:1].astype("float32"))
    as_object = frame.head(2).astype(object)
    as_object.iloc[0, 0] = "not a number"
    with pytest.raises(InvalidInput, match=frame.columns[0]):
        preparer.matrix(as_object, "float64")
