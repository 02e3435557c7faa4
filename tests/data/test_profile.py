from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.datasets import load_diabetes

from shipyard.core.errors import InvalidInput
from shipyard.data._frames import to_arrow
from shipyard.data._profile import QUANTILES, ColumnProfile, DatasetProfile, profile_table


@pytest.fixture
def numbers() -> np.ndarray:
    return np.random.default_rng(7).lognormal(mean=1.0, sigma=0.8, size=5_000)


def test_numeric_statistics_match_numpy(numbers: np.ndarray) -> None:
    column = profile_table(pa.table({"x": numbers}), bins=15).columns["x"]

    assert column.kind == "float"
    assert (column.count, column.missing, column.missing_rate) == (5_000, 0, 0.0)
    assert column.min == numbers.min() and column.max == numbers.max()
    assert column.mean == pytest.approx(np.mean(numbers), rel=1e-9, abs=1e-9)
    assert column.std == pytest.approx(np.std(numbers, ddof=1), rel=1e-9, abs=1e-9)
    expected = np.quantile(numbers, list(QUANTILES.values()), method="linear")
    assert list(column.quantiles or {}) == ["p1", "p5", "p25", "p50", "p75", "p95", "p99"]
    assert list((column.quantiles or {}).values()) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    counts, edges = np.histogram(numbers, bins=15)
    assert column.histogram == {"edges": pytest.approx(edges.tolist()), "counts": counts.tolist()}


def test_integers_keep_exact_bounds() -> None:
    values = np.array([2**60, 3, 3, 7, -5], dtype=np.int64)

    column = profile_table(pa.table({"n": values})).columns["n"]

    assert column.kind == "integer"
    assert (column.min, column.max) == (-5, 2**60)
    assert isinstance(column.max, int)
    assert column.quantiles and column.quantiles["p50"] == 3.0
    assert sum((column.histogram or {})["counts"]) == 5


def test_nan_and_none_are_both_missing() -> None:
    frame = pd.DataFrame({"x": [1.0, np.nan, 3.0, None, 5.0]})
    nan_kept = pa.table({"x": pa.array([1.0, float("nan"), 3.0, None, 5.0], from_pandas=False)})

    for table in [to_arrow(frame), nan_kept]:
        column = profile_table(table).columns["x"]
        assert (column.count, column.missing, column.missing_rate) == (3, 2, 0.4)
        assert column.mean == 3.0
        assert sum((column.histogram or {})["counts"]) == 3


def test_integer_nulls_are_missing_and_skipped() -> None:
    column = profile_table(pa.table({"n": [4, None, 8, None]})).columns["n"]

    assert (column.count, column.missing) == (2, 2)
    assert (column.min, column.max, column.mean) == (4, 8, 6.0)


def test_strings_and_categoricals_have_exact_top_values() -> None:
    cities = ["Oslo"] * 5 + ["Lima"] * 3 + ["Pune"] * 3 + ["Baku"] + [None] * 2
    table = pa.table({"city": cities, "plan": pa.array(cities).dictionary_encode()})

    profile = profile_table(table, top_k=3)

    for name in ["city", "plan"]:
        column = profile.columns[name]
        assert (column.count, column.missing, column.distinct) == (12, 2, 4)
        assert column.top_values == [["Oslo", 5], ["Lima", 3], ["Pune", 3]]
        assert column.mean is None and column.histogram is None
    assert profile.columns["plan"].kind == "categorical"


def test_booleans_are_counted_not_averaged() -> None:
    column = profile_table(pa.table({"b": [True, False, True, None]})).columns["b"]

    assert column.kind == "boolean"
    assert column.top_values == [[True, 2], [False, 1]]
    assert column.mean is None


def test_datetimes_report_iso_bounds() -> None:
    stamps = pa.array([dt.datetime(2024, 3, 1, 12), None, dt.datetime(2023, 1, 2)])
    days = pa.array([dt.date(2020, 1, 1), dt.date(2021, 6, 30), None])

    profile = profile_table(pa.table({"t": stamps, "d": days}))

    assert (profile.columns["t"].min, profile.columns["t"].max) == (
        "2023-01-02T00:00:00",
        "2024-03-01T12:00:00",
    )
    assert (profile.columns["d"].min, profile.columns["d"].max) == ("2020-01-01", "2021-06-30")
    assert profile.columns["t"].missing == 1


def test_constant_and_all_missing_columns() -> None:
    table = pa.table({"c": [2.0, 2.0, 2.0], "e": pa.array([None, None, None], pa.float64())})

    profile = profile_table(table, bins=4)

    constant = profile.columns["c"]
    assert constant.std == 0.0
    assert constant.histogram == {"edges": [1.5, 1.75, 2.0, 2.25, 2.5], "counts": [0, 0, 3, 0]}
    empty = profile.columns["e"]
    assert (empty.count, empty.missing_rate, empty.mean, empty.histogram) == (0, 1.0, None, None)


def test_infinities_never_reach_the_dict() -> None:
    table = pa.table({"x": [1.0, 2.0, math.inf, -math.inf], "one": [1.0, None, None, None]})

    d = profile_table(table).to_dict()

    text = json.dumps(d, allow_nan=False)  # raises if NaN or inf slipped through
    assert d["columns"]["x"]["mean"] is None and d["columns"]["x"]["max"] is None
    assert sum(d["columns"]["x"]["histogram"]["counts"]) == 2  # only finite values are binned
    assert d["columns"]["one"]["std"] is None  # one value has no sample deviation
    assert "Infinity" not in text


def test_empty_table() -> None:
    profile = profile_table(pa.table({"x": pa.array([], pa.float64())}))

    assert profile.num_rows == 0
    assert profile.columns["x"].missing_rate == 0.0


def test_real_frame_round_trips_through_json() -> None:
    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame["sex"] = frame["sex"].map({1.0: "f", 2.0: "m"})

    profile = profile_table(to_arrow(frame))
    restored = DatasetProfile.from_dict(json.loads(json.dumps(profile.to_dict(), allow_nan=False)))

    assert restored == profile
    assert profile.num_rows == 442
    assert profile.columns["age"].mean == pytest.approx(frame["age"].mean(), rel=1e-12)
    assert profile.columns["bmi"].std == pytest.approx(frame["bmi"].std(), rel=1e-12)
    assert profile.columns["sex"].top_values == [
        [value, int(count)] for value, count in frame["sex"].value_counts().items()
    ]


def test_bad_arguments_and_dicts_are_invalid_input() -> None:
    table = pa.table({"x": [1.0]})

    with pytest.raises(InvalidInput, match=r"bins >= 1"):
        profile_table(table, bins=0)
    with pytest.raises(InvalidInput, match=r"num_rows"):
        DatasetProfile.from_dict({"columns": {}})
    with pytest.raises(InvalidInput, match=r"missing_rate"):
        ColumnProfile.from_dict({"kind": "float"})


def test_duplicate_column_names_are_refused() -> None:
    table = pa.table([pa.array([1]), pa.array([2])], names=["a", "a"])

    with pytest.raises(InvalidInput, match=r"'a' appear more than once"):
        profile_table(table)
