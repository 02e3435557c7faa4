"""What train_tabular refuses, with messages that say what to fix, before any run starts; and
how it reads the task from a target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import shipyard as sy
from shipyard.solutions import tabular
from shipyard.solutions.tabular._task import resolve_task


def _frame(n: int = 60, **columns: Any) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    base = {"x": rng.normal(size=n), "y": np.tile([0, 1], n // 2)}
    return pd.DataFrame({**base, **columns})


@pytest.mark.parametrize(
    ("values", "task"),
    [
        ([0, 1] * 10, "binary"),
        ([0.0, 1.0] * 10, "binary"),
        ([True, False] * 10, "binary"),
        (["yes", "no"] * 10, "binary"),
        (["a", "b", "c"] * 10, "multiclass"),
        (list(range(20)) * 2, "multiclass"),  # at most 20 whole numbers: class labels
        (list(range(21)) * 2, "regression"),  # one more reads as a count
        ([0.5, 1.5, 2.0] * 10, "regression"),  # not whole numbers
        ([1, None, 0] * 10, "binary"),  # nulls do not count as a class
    ],
)
def test_the_task_is_read_from_the_target(values: list[Any], task: str) -> None:
    assert tabular.infer_task(pd.Series(values, name="y")) == task


def test_a_given_task_overrules_the_rule_but_must_fit_the_target() -> None:
    ratings = pd.Series([1, 2, 3, 4, 5] * 4, name="rating")
    assert resolve_task(ratings, None) == "multiclass"
    assert resolve_task(ratings, "regression") == "regression"
    assert resolve_task(pd.Series(["a", "b"] * 5), "classification") == "binary"
    with pytest.raises(sy.InvalidInput, match="needs a numeric target"):
        resolve_task(pd.Series(["a", "b"] * 5, name="plan"), "regression")
    with pytest.raises(sy.InvalidInput, match="exactly two classes; column 'rating' has 5"):
        resolve_task(ratings, "binary")
    with pytest.raises(sy.InvalidInput, match="Unknown task 'clustering'"):
        resolve_task(ratings, "clustering")


CASES: dict[str, tuple[dict[str, Any], str]] = {
    "missing target": (
        {"target": "label"},
        r"no column 'label' \(given as target\); its columns are 'x', 'y'",
    ),
    "single class": ({"data": _frame(y=1)}, r"'y' has a single value \(1\)"),
    "all-null target": ({"data": _frame(y=None)}, "empty: all 60 rows are null"),
    "tiny data": ({"data": _frame(10)}, "10 rows with a value for 'y'; .* at least 20"),
    "rare class": (
        {"data": _frame(y=[0, 1] * 29 + [2, 2])},
        r"fewer than 5 rows \(2: 2\)",
    ),
    "no features": ({"data": _frame()[["y"]]}, "No column is usable as a feature"),
    "only an id column": (
        {"data": _frame()[["y"]].assign(id=[f"u{i}" for i in range(60)])},
        "'id': looks like an identifier",
    ),
    "unknown model": ({"model": "xgb"}, "Unknown model 'xgb'.*lightgbm, logistic_regression"),
    "regression-only model": ({"model": "ridge"}, "'ridge' does not do binary prediction"),
    "regressor instance": ({"model": "LinearRegression"}, "not a classifier"),
    "test_size": ({"test_size": 1.5}, "between 0 and 1"),
    "test_size leaving too few": ({"test_size": 0.02}, "each side needs at least 5"),
    "missing time column": ({"time_column": "when"}, "no column 'when' .given as time_column"),
    "undated time column": (
        {"data": _frame(when=["soon"] * 60), "time_column": "when"},
        "'when' holds .* not dates",
    ),
    "missing slice column": ({"slice_columns": ["plan"]}, "given as slice_columns"),
    "unreadable file type": ({"data": Path("data.xlsx")}, "must end in .csv, .csv.gz"),
    "tuning a caller's estimator": (
        {"model": "LogisticRegression", "tune_trials": 2},
        "Cannot tune 'LogisticRegression'",
    ),
    "seed": ({"seed": -1}, "seed must be a whole number"),
    "duplicate column names": (
        {"data": pd.concat([_frame(), _frame()[["x"]]], axis=1)},
        "more than one column named 'x'",
    ),
    "a target of numbers and text": (
        {"data": _frame(y=pd.Series([1, "1"] * 30, dtype=object))},
        r"'y' mixes values of types \['number', 'str'\]",
    ),
    "infinite feature values": (
        {"data": _frame(x=[np.inf, 1.0, -np.inf] * 20), "model": "logistic_regression"},
        "'x' has 40 infinite values",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_before_a_run_starts(home: Path, case: str) -> None:
    from sklearn.linear_model import LinearRegression, LogisticRegression

    arguments, message = CASES[case]
    arguments = {"data": _frame(), "target": "y", **arguments}
    instances = {"LinearRegression": LinearRegression(), "LogisticRegression": LogisticRegression()}
    if arguments.get("model") in instances:
        arguments["model"] = instances[arguments["model"]]
    with pytest.raises(sy.InvalidInput, match=message):
        tabular.train_tabular(**arguments)
    assert sy.search_runs().runs == []


def test_a_missing_file_is_not_found(home: Path, tmp_path: Path) -> None:
    with pytest.raises(sy.NotFound, match="No file at"):
        tabular.train_tabular(tmp_path / "absent.csv", "y")


def test_default_names_come_from_the_file_and_the_target() -> None:
    assert tabular.default_name("Churn 2024", "Churned?") == "churn-2024-churned"
    assert tabular.default_name(None, "target") == "target"
    assert tabular.default_name(None, "!!!") == "tabular"
