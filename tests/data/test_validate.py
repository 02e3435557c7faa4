from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.datasets import load_iris

from shipyard.data._columns import DatasetSchema, infer_schema
from shipyard.data._frames import to_arrow
from shipyard.data._profile import DatasetProfile, profile_table
from shipyard.data._validate import Problem, ValidationReport, validate_table

Reference = tuple[DatasetSchema, DatasetProfile]


@pytest.fixture
def frame() -> pd.DataFrame:
    iris = load_iris(as_frame=True)
    frame = iris.frame.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    frame["species"] = iris.target_names[iris.target]
    frame["batch"] = np.arange(150) // 50  # integers 0..2
    frame["note"] = [None if i % 10 == 0 else "ok" for i in range(150)]  # 10% missing
    return frame


@pytest.fixture
def reference(frame: pd.DataFrame) -> Reference:
    table = to_arrow(frame)
    return infer_schema(table), profile_table(table)


def check(frame: pd.DataFrame, reference: Reference) -> ValidationReport:
    return validate_table(to_arrow(frame), *reference)


def only(report: ValidationReport) -> Problem:
    assert len(report.problems) == 1, str(report)
    return report.problems[0]


def test_clean_data_has_no_problems(frame: pd.DataFrame, reference: Reference) -> None:
    report = check(frame.sample(frac=0.5, random_state=0), reference)

    assert report.ok and report.problems == () and report.errors == () and report.warnings == ()
    assert str(report).startswith("ok: ")
    assert report.to_dict() == {"ok": True, "problems": []}


def test_missing_column_is_an_error(frame: pd.DataFrame, reference: Reference) -> None:
    report = check(frame.drop(columns=["petal_width"]), reference)

    problem = only(report)
    assert (problem.column, problem.kind, problem.severity) == (
        "petal_width",
        "missing_column",
        "error",
    )
    assert not report.ok and report.errors == (problem,)
    assert str(report).splitlines()[0] == (
        "error   missing_column    'petal_width': expected column is missing "
        "(reference has 8 columns)."
    )
    assert str(report).splitlines()[-1] == "failed: 1 error, 0 warnings."


def test_extra_column_is_a_warning(frame: pd.DataFrame, reference: Reference) -> None:
    report = check(frame.assign(score=1.0), reference)

    problem = only(report)
    assert (problem.column, problem.kind, problem.severity) == ("score", "extra_column", "warning")
    assert report.ok


def test_type_change_is_an_error(frame: pd.DataFrame, reference: Reference) -> None:
    report = check(frame.assign(sepal_length=frame["sepal_length"].astype(str)), reference)

    problem = only(report)
    assert (problem.kind, problem.severity) == ("type_changed", "error")
    assert problem.message == "expected float (double), got string (large_string)."


def test_integer_to_float_is_only_a_warning(frame: pd.DataFrame, reference: Reference) -> None:
    report = check(frame.assign(batch=frame["batch"].astype(float)), reference)

    problem = only(report)
    assert (problem.column, problem.kind, problem.severity) == ("batch", "type_changed", "warning")
    assert report.ok


def test_string_and_categorical_are_compatible(frame: pd.DataFrame, reference: Reference) -> None:
    report = check(frame.assign(species=pd.Categorical(frame["species"])), reference)

    assert report.problems == ()


def test_nulls_where_the_reference_had_none(frame: pd.DataFrame, reference: Reference) -> None:
    broken = frame.copy()
    broken.loc[:2, "sepal_length"] = np.nan

    problem = only(check(broken, reference))

    assert (problem.column, problem.kind, problem.severity) == (
        "sepal_length",
        "nulls_unexpected",
        "warning",
    )
    assert (
        problem.message == "3 of 150 rows (2.0%) are missing; the reference had no missing values."
    )


def test_null_rate_jump_beyond_tolerance(frame: pd.DataFrame, reference: Reference) -> None:
    broken = frame.copy()
    broken.loc[:44, "note"] = None  # 30% + the usual 10% spread over the rest

    problem = only(check(broken, reference))
    within = validate_table(to_arrow(broken), *reference, null_rate_tolerance=0.5)

    assert (problem.kind, problem.severity) == ("null_rate_jump", "warning")
    assert "the reference had 10.0%" in problem.message
    assert within.problems == ()


def test_unseen_categories_list_five_values_and_the_count(
    frame: pd.DataFrame, reference: Reference
) -> None:
    broken = frame.copy()
    broken.loc[:6, "species"] = [f"new-{i}" for i in range(7)]

    problem = only(check(broken, reference))

    assert (problem.kind, problem.severity) == ("unseen_categories", "warning")
    assert problem.message == (
        "7 values not seen in the reference, in 7 rows: 'new-0', 'new-1', 'new-2', 'new-3', "
        "'new-4' and 2 more (reference has 3 categories)."
    )


def test_values_out_of_range(frame: pd.DataFrame, reference: Reference) -> None:
    broken = frame.copy()
    broken.loc[:3, "petal_length"] = [-1.0, 0.5, 99.0, 100.0]

    problem = only(check(broken, reference))

    assert (problem.column, problem.kind, problem.severity) == (
        "petal_length",
        "out_of_range",
        "warning",
    )
    assert problem.message == (
        "4 rows (2.7%) outside the reference range [1, 6.9]; observed [-1, 100]."
    )


def test_without_a_profile_only_schema_checks_run(
    frame: pd.DataFrame, reference: Reference
) -> None:
    schema, _ = reference
    broken = frame.copy()
    broken.loc[:3, "petal_length"] = 1000.0
    broken.loc[:80, "note"] = None

    assert validate_table(to_arrow(broken), schema).problems == ()


def test_every_problem_together_and_report_serializes(
    frame: pd.DataFrame, reference: Reference
) -> None:
    broken = frame.drop(columns=["sepal_width"]).assign(extra=1)
    broken.loc[0, "sepal_length"] = np.nan
    broken.loc[1, "species"] = "unknown"
    broken.loc[2, "batch"] = 9

    report = check(broken, reference)

    kinds = [(p.column, p.kind) for p in report.problems]
    assert kinds == [
        ("sepal_length", "nulls_unexpected"),
        ("sepal_width", "missing_column"),
        ("species", "unseen_categories"),
        ("batch", "out_of_range"),
        ("extra", "extra_column"),
    ]
    assert len(report.errors) == 1 and len(report.warnings) == 4
    assert json.loads(json.dumps(report.to_dict()))["problems"][1]["kind"] == "missing_column"
    assert len(str(report).splitlines()) == 6


def test_empty_table_is_checked_for_columns_only(frame: pd.DataFrame, reference: Reference) -> None:
    report = validate_table(to_arrow(frame).slice(0, 0), *reference)

    assert report.problems == ()


def test_dictionary_of_integers_is_checked_as_strings() -> None:
    table = pa.table({"code": pa.array([1, 2, 2]).dictionary_encode()})
    later = pa.table({"code": pa.array([2, 3]).dictionary_encode()})

    problem = only(validate_table(later, infer_schema(table)))

    assert problem.kind == "unseen_categories" and "'3'" in problem.message
