"""Each output type round-trips through its materializer; unknown types are named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

import shipyard as sy
from shipyard.core.errors import InvalidInput
from shipyard.pipelines import Materializer, register_materializer
from shipyard.pipelines._materializers import _registered, materializer_for


def _round_trip(value: Any) -> tuple[str, Any]:
    materializer = materializer_for(value, "test")
    files = materializer.save(value)
    return materializer.name, materializer.load(lambda name: files[name])


def test_values_round_trip_by_type() -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", None]}, index=pd.Index(["p", "q"], name="id"))
    name, back = _round_trip(frame)
    assert name == "pandas"
    pd.testing.assert_frame_equal(back, frame)
    table = pa.table({"n": [1.5, None]})
    assert _round_trip(table) == ("arrow", table)
    array = np.arange(12, dtype="int32").reshape(3, 4)
    name, back = _round_trip(array)
    assert name == "numpy" and back.dtype == np.int32 and (back == array).all()
    value = {"metrics": [0.5, float("nan")], "ok": True, "name": "x", "none": None}
    name, back = _round_trip(value)
    assert name == "json" and back["metrics"][0] == 0.5 and np.isnan(back["metrics"][1])
    assert _round_trip(7) == ("json", 7)


def test_numpy_scalars_in_json_values_are_stored_as_numbers() -> None:
    frame = pd.DataFrame({"y": [1, 0, 1], "x": [0.5, 1.5, np.nan]})
    value = {
        "positives": frame["y"].sum(),  # np.int64
        "mean": np.float32(frame["x"].mean()),
        "any_missing": frame["x"].isna().any(),  # np.bool_
        "counts": [np.uint8(3), np.int16(-2)],
        "missing": frame["x"].max() - np.inf,  # -inf
    }
    name, back = _round_trip(value)
    assert name == "json"
    assert back == {
        "positives": 2,
        "mean": 1.0,
        "any_missing": True,
        "counts": [3, -2],
        "missing": float("-inf"),
    }
    assert type(back["positives"]) is int and type(back["any_missing"]) is bool


def test_models_round_trip_through_their_flavor() -> None:
    x, y = load_iris(return_X_y=True)
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, y)
    name, back = _round_trip(model)
    assert name == "model" and (back.predict(x) == model.predict(x)).all()


def test_dataset_versions_are_stored_by_reference(workspace: Path) -> None:
    version = sy.log_dataset(pd.DataFrame({"a": [1, 2, 3]}), "numbers")
    materializer = materializer_for(version, "test")
    files = materializer.save(version)
    assert materializer.name == "dataset" and b'"version": 1' in files["dataset.json"]
    assert materializer.load(lambda name: files[name]).id == version.id


def test_unknown_and_unsafe_values_are_refused_clearly() -> None:
    class Opaque:
        pass

    with pytest.raises(InvalidInput, match="Opaque") as caught:
        materializer_for(Opaque(), "make")
    assert "register_materializer" in (caught.value.hint or "")
    with pytest.raises(InvalidInput, match="objects"):
        materializer_for(np.array([object()]), "make").save(np.array([object()]))


def test_a_registered_materializer_comes_first() -> None:
    class Point:
        def __init__(self, x: int) -> None:
            self.x = x

    register_materializer(
        Materializer(
            "point",
            lambda v: isinstance(v, Point),
            lambda v: {"x.txt": str(v.x).encode()},
            lambda read: Point(int(read("x.txt"))),
        )
    )
    try:
        name, back = _round_trip(Point(4))
        assert name == "point" and back.x == 4
    finally:
        _registered.clear()
