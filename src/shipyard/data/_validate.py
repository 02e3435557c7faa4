"""Check new data against a dataset version's schema and profile before it is trusted.

Errors mean the data cannot be used as the reference was (a column is gone, a type changed);
warnings mean it can, but looks different (more nulls, unseen categories, values out of range).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shipyard.data._columns import ColumnSchema, DatasetSchema, column_kind, missing_count
from shipyard.data._profile import ColumnProfile, DatasetProfile

__all__ = ["Problem", "ValidationReport", "validate_table"]

_MAX_LISTED = 5
# Kinds whose values mean the same thing to a model: no type problem between them.
_COMPATIBLE = {frozenset({"string", "categorical"})}


@dataclass(frozen=True)
class Problem:
    """One finding: which column, what kind of problem, how serious, and what was seen."""

    column: str | None
    kind: str
    severity: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        subject = "table" if self.column is None else repr(self.column)
        return f"{self.severity:<7} {self.kind:<17} {subject}: {self.message}"


@dataclass(frozen=True)
class ValidationReport:
    """All problems found; ``ok`` unless one of them is an error."""

    problems: tuple[Problem, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "problems": [problem.to_dict() for problem in self.problems]}

    def __str__(self) -> str:
        if not self.problems:
            return "ok: the data matches the reference schema and profile; no problems found."
        errors, warnings = (
            _plural(len(self.errors), "error"),
            _plural(len(self.warnings), "warning"),
        )
        summary = f"{'ok' if self.ok else 'failed'}: {errors}, {warnings}."
        return "\n".join([*map(str, self.problems), summary])


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"


def validate_table(
    table: pa.Table,
    schema: DatasetSchema,
    profile: DatasetProfile | None = None,
    *,
    null_rate_tolerance: float = 0.1,
) -> ValidationReport:
    """Compare ``table`` with a reference ``schema`` (and ``profile``, for null rates and ranges).

    ``null_rate_tolerance`` is the absolute rise in the missing rate that is still accepted.
    """
    problems: list[Problem] = []
    present = set(table.column_names)
    width = _plural(len(schema.columns), "column")
    for expected in schema.columns:
        if expected.name not in present:
            message = f"expected column is missing (reference has {width})."
            problems.append(Problem(expected.name, "missing_column", "error", message))
            continue
        reference = profile.columns.get(expected.name) if profile is not None else None
        problems.extend(
            _check_column(table.column(expected.name), expected, reference, null_rate_tolerance)
        )
    known = set(schema.names)
    for name in table.column_names:
        if name not in known:
            problems.append(
                Problem(name, "extra_column", "warning", "column is not in the reference schema.")
            )
    return ValidationReport(tuple(problems))


def _check_column(
    column: pa.ChunkedArray,
    expected: ColumnSchema,
    reference: ColumnProfile | None,
    tolerance: float,
) -> list[Problem]:
    name, kind = expected.name, column_kind(column.type)
    problems: list[Problem] = []
    if kind != expected.kind and frozenset({kind, expected.kind}) not in _COMPATIBLE:
        widened = expected.kind == "integer" and kind == "float"
        problems.append(
            Problem(
                name,
                "type_changed",
                "warning" if widened else "error",
                f"expected {expected.kind} ({expected.arrow_type}), got {kind} ({column.type}).",
            )
        )
        if not widened:
            return problems  # the other checks compare like with like
    problems.extend(_check_missing(column, expected, reference, tolerance))
    if expected.categories is not None and kind in ("string", "categorical"):
        problems.extend(_check_categories(column, expected))
    if reference is not None and kind in ("integer", "float"):
        problems.extend(_check_range(name, column, reference))
    return problems


def _check_missing(
    column: pa.ChunkedArray,
    expected: ColumnSchema,
    reference: ColumnProfile | None,
    tolerance: float,
) -> list[Problem]:
    rows = len(column)
    missing = missing_count(column) if rows else 0
    if not missing:
        return []
    rate = missing / rows
    seen = f"{missing} of {rows} rows ({rate:.1%}) are missing"
    if not expected.nullable:
        message = f"{seen}; the reference had no missing values."
        return [Problem(expected.name, "nulls_unexpected", "warning", message)]
    if reference is not None and rate > reference.missing_rate + tolerance:
        message = (
            f"{seen}; the reference had {reference.missing_rate:.1%} "
            f"(tolerated rise: {tolerance * 100:g} percentage points)."
        )
        return [Problem(expected.name, "null_rate_jump", "warning", message)]
    return []


def _check_categories(column: pa.ChunkedArray, expected: ColumnSchema) -> list[Problem]:
    values = _as_strings(column)
    known = pa.array(expected.categories or (), pa.string())
    distinct = pc.unique(values).drop_null()
    unseen = distinct.filter(pc.invert(pc.is_in(distinct, value_set=known)))
    if not len(unseen):
        return []
    rows = int(pc.sum(pc.is_in(values, value_set=unseen)).as_py() or 0)
    names = sorted(unseen.to_pylist())
    listed = ", ".join(map(repr, names[:_MAX_LISTED]))
    more = f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else ""
    message = (
        f"{_plural(len(names), 'value')} not seen in the reference, in {_plural(rows, 'row')}: "
        f"{listed}{more} (reference has {len(known)} categories)."
    )
    return [Problem(expected.name, "unseen_categories", "warning", message)]


def _as_strings(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return column if pa.types.is_string(column.type) else column.cast(pa.string())


def _check_range(name: str, column: pa.ChunkedArray, reference: ColumnProfile) -> list[Problem]:
    low, high = reference.min, reference.max
    if not _is_number(low) or not _is_number(high):
        return []
    if pa.types.is_decimal(column.type):
        column = column.cast(pa.float64())
    values = column.drop_null().to_numpy()
    outside = int(np.count_nonzero((values < low) | (values > high)))  # NaN is never outside
    if not outside:
        return []
    observed = f"[{_fmt(np.nanmin(values))}, {_fmt(np.nanmax(values))}]"
    message = (
        f"{outside} rows ({outside / len(column):.1%}) outside the reference range "
        f"[{_fmt(low)}, {_fmt(high)}]; observed {observed}."
    )
    return [Problem(name, "out_of_range", "warning", message)]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fmt(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float | np.floating) else str(value)
