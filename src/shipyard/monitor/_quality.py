"""Data quality of a monitored window against the reference dataset version.

The findings come from the dataset validation the registry already uses
(:func:`shipyard.data.validate`): missing columns, type changes, missing-rate jumps, unseen
categories, values out of the reference range. Beside them, each column gets the numbers alert
rules compare — ``missing_rate{col}``, ``missing_rate_jump{col}``, ``out_of_range_share{col}``,
``unseen_share{col}`` — computed with Arrow kernels over whole columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shipyard.data import DatasetSchema, ValidationReport
from shipyard.data._columns import column_kind, missing_count
from shipyard.data._profile import ColumnProfile, DatasetProfile
from shipyard.data._validate import validate_table

__all__ = ["QualityResult", "check_quality"]


@dataclass(frozen=True)
class QualityResult:
    """The validation findings and, per column, the rates alert rules can name."""

    report: ValidationReport
    columns: dict[str, dict[str, float | None]] = field(default_factory=dict)

    def values(self) -> dict[str, float]:
        """Flat ``metric{column}`` values for alert rules (absent measurements left out)."""
        flat: dict[str, float] = {
            "quality_errors": float(len(self.report.errors)),
            "quality_warnings": float(len(self.report.warnings)),
        }
        for column, rates in self.columns.items():
            for key, value in rates.items():
                if value is not None and not key.startswith("reference_"):
                    flat[f"{key}{{{column}}}"] = value
        return flat

    def to_dict(self) -> dict[str, Any]:
        return {**self.report.to_dict(), "columns": self.columns}


def check_quality(
    inputs: pa.Table,
    schema: DatasetSchema,
    profile: DatasetProfile | None,
    columns: Sequence[str],
    *,
    null_rate_tolerance: float = 0.1,
) -> QualityResult:
    """Check the ``columns`` of ``inputs`` (the model's inputs) against the reference."""
    wanted = set(columns)
    reference_schema = DatasetSchema(tuple(c for c in schema.columns if c.name in wanted))
    inputs = _whole_numbers_as_integers(inputs, reference_schema)
    report = validate_table(
        inputs, reference_schema, profile, null_rate_tolerance=null_rate_tolerance
    )
    rates = {}
    for name in columns:
        if name not in inputs.column_names:
            continue
        reference = None if profile is None else profile.columns.get(name)
        rates[name] = _column_rates(inputs.column(name), reference)
    return QualityResult(report, rates)


def _whole_numbers_as_integers(inputs: pa.Table, schema: DatasetSchema) -> pa.Table:
    """Integer columns the server logged as floats (it predicts on a float matrix) back as
    integers, when every value is whole: a type change only when the data really changed."""
    for expected in schema.columns:
        if expected.kind != "integer" or expected.name not in inputs.column_names:
            continue
        column = inputs.column(expected.name)
        if column_kind(column.type) != "float":
            continue
        values = column.drop_null().to_numpy()
        if np.all(np.isfinite(values) & (values == np.round(values))):
            position = inputs.column_names.index(expected.name)
            inputs = inputs.set_column(position, expected.name, column.cast(pa.int64()))
    return inputs


def _column_rates(
    column: pa.ChunkedArray, reference: ColumnProfile | None
) -> dict[str, float | None]:
    rows = len(column)
    missing_rate = missing_count(column) / rows if rows else 0.0
    reference_rate = None if reference is None else reference.missing_rate
    rates: dict[str, float | None] = {
        "missing_rate": missing_rate,
        "reference_missing_rate": reference_rate,
        "missing_rate_jump": None if reference_rate is None else missing_rate - reference_rate,
    }
    kind = column_kind(column.type)
    if reference is not None and rows:
        if kind in ("integer", "float"):
            rates["out_of_range_share"] = _out_of_range_share(column, reference)
        elif kind in ("string", "categorical", "boolean"):
            rates["unseen_share"] = _unseen_share(column, reference)
    return rates


def _out_of_range_share(column: pa.ChunkedArray, reference: ColumnProfile) -> float | None:
    low, high = reference.min, reference.max
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high)):
        return None
    if pa.types.is_decimal(column.type):
        column = column.cast(pa.float64())
    values = column.drop_null().to_numpy()
    outside = np.count_nonzero((values < low) | (values > high))  # NaN is never outside
    return float(outside / len(column))


def _unseen_share(column: pa.ChunkedArray, reference: ColumnProfile) -> float | None:
    known = _reference_categories(reference)
    if known is None:
        return None
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if not pa.types.is_string(column.type):
        column = column.cast(pa.string())
    present = column.drop_null()
    if not len(present):
        return 0.0
    unseen = pc.sum(pc.invert(pc.is_in(present, value_set=known))).as_py() or 0
    return float(unseen / len(column))


def _reference_categories(reference: ColumnProfile) -> pa.Array | None:
    """Every category of the reference, when the profile lists them all."""
    counts = getattr(reference, "value_counts", None) or reference.top_values
    if counts is None or (reference.distinct is not None and len(counts) < reference.distinct):
        return None
    # Arrow's own cast, so that booleans read "true"/"false" on both sides.
    return pa.array([value for value, _ in counts]).cast(pa.string())
