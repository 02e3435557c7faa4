"""Summary statistics of a table, stored with each dataset version as the reference for drift.

Everything is computed column by column on numpy views and Arrow kernels, never row by row, so a
million-row frame profiles in less time than pandas takes to ``describe`` it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shipyard.core.errors import InvalidInput
from shipyard.data._columns import column_kind, missing_count
from shipyard.data._frames import check_unique_names

__all__ = [
    "QUANTILES",
    "QUANTILE_SKETCH_SIZE",
    "VALUE_COUNTS_MAX",
    "ColumnProfile",
    "DatasetProfile",
    "profile_table",
]

QUANTILES = {"p1": 0.01, "p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99}
QUANTILE_SKETCH_SIZE = 101  # p0, p1, …, p100
VALUE_COUNTS_MAX = 1_000
_SKETCH_LEVELS = np.linspace(0.0, 1.0, QUANTILE_SKETCH_SIZE).tolist()
_NUMERIC = ("integer", "float")
_COUNTED = ("string", "categorical", "boolean")
_TIMELIKE = ("datetime", "date")


@dataclass
class ColumnProfile:
    """Statistics of one column; fields that do not apply to its ``kind`` stay ``None``.

    Numbers: ``min``/``max``/``mean``/``std`` (sample, ddof=1), ``quantiles`` keyed ``p1`` to
    ``p99`` and an equal-width ``histogram`` of the finite values. Strings, categories and
    booleans: ``distinct`` and the ``top_values`` as ``[value, count]`` pairs. Dates and
    timestamps: ``min``/``max`` as ISO strings.

    Two finer summaries let drift be measured against the profile alone, without the data
    (profiles stored before they existed load with them ``None``):

    * ``quantile_sketch`` (numbers) — the 101 quantiles p0 (the minimum), p1, …, p100 (the
      maximum) of the finite values, interpolated linearly as :func:`numpy.quantile` does: the
      reference distribution's quantile function to within a percentile.
    * ``value_counts`` (strings, categories, booleans) — ``[value, count]`` for every category,
      commonest first (ties in first-seen order), at most ``VALUE_COUNTS_MAX`` (1,000) of them.
      When ``distinct`` is larger the list is truncated: the unlisted categories together hold
      ``count - sum(listed counts)`` values.
    """

    kind: str
    count: int
    missing: int
    missing_rate: float
    min: float | int | str | None = None
    max: float | int | str | None = None
    mean: float | None = None
    std: float | None = None
    quantiles: dict[str, float | None] | None = None
    histogram: dict[str, list[Any]] | None = None
    distinct: int | None = None
    top_values: list[list[Any]] | None = None
    quantile_sketch: list[float] | None = None
    value_counts: list[list[Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ColumnProfile:
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{key: value for key, value in d.items() if key in known})
        except TypeError as exc:
            raise InvalidInput(
                f"A column profile needs kind, count, missing and missing_rate; got {d!r:.200}.",
                hint="Pass a dict produced by ColumnProfile.to_dict().",
            ) from exc


@dataclass
class DatasetProfile:
    """The profile of a whole table: its row count and one :class:`ColumnProfile` per column."""

    num_rows: int
    columns: dict[str, ColumnProfile] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "num_rows": self.num_rows,
            "columns": {name: column.to_dict() for name, column in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetProfile:
        if not isinstance(d, dict) or "num_rows" not in d or not isinstance(d.get("columns"), dict):
            raise InvalidInput(
                f"A dataset profile is a dict with 'num_rows' and 'columns'; got {d!r:.200}.",
                hint="Pass a dict produced by DatasetProfile.to_dict().",
            )
        columns = {name: ColumnProfile.from_dict(c) for name, c in d["columns"].items()}
        return cls(num_rows=int(d["num_rows"]), columns=columns)


def profile_table(table: pa.Table, *, bins: int = 20, top_k: int = 10) -> DatasetProfile:
    """Profile each column of ``table``: ``bins`` histogram bins, the ``top_k`` commonest values."""
    if bins < 1 or top_k < 0:
        raise InvalidInput(
            f"profile_table needs bins >= 1 and top_k >= 0; got bins={bins}, top_k={top_k}.",
            hint="Pass positive numbers.",
        )
    check_unique_names(table)
    columns = {
        name: _profile_column(column, table.num_rows, bins, top_k)
        for name, column in zip(table.column_names, table.columns, strict=True)
    }
    return DatasetProfile(num_rows=table.num_rows, columns=columns)


def _profile_column(column: pa.ChunkedArray, num_rows: int, bins: int, top_k: int) -> ColumnProfile:
    kind = column_kind(column.type)
    missing = missing_count(column)
    profile = ColumnProfile(
        kind=kind,
        count=num_rows - missing,
        missing=missing,
        missing_rate=missing / num_rows if num_rows else 0.0,
    )
    if profile.count == 0:
        return profile
    if kind in _NUMERIC:
        _add_numeric(profile, _numeric_values(column), bins)
    elif kind in _COUNTED:
        _add_counts(profile, column, top_k)
    elif kind in _TIMELIKE:
        bounds = pc.min_max(column)
        profile.min = bounds["min"].as_py().isoformat()
        profile.max = bounds["max"].as_py().isoformat()
    return profile


def _numeric_values(column: pa.ChunkedArray) -> np.ndarray[Any, Any]:
    """The present values as one numpy array: nulls dropped, then NaNs, without a copy if none."""
    if pa.types.is_decimal(column.type):
        column = column.cast(pa.float64())
    values: np.ndarray[Any, Any] = column.drop_null().to_numpy()
    if values.dtype.kind == "f":
        nan = np.isnan(values)
        if nan.any():
            values = values[~nan]
    return values


def _add_numeric(profile: ColumnProfile, values: np.ndarray[Any, Any], bins: int) -> None:
    # One (SIMD) sort is cheaper than partitioning for seven quantiles, and once sorted the
    # quantiles and the histogram are read off with indexing and binary searches.
    ordered = np.sort(values.astype(np.float64, copy=False))
    n = len(ordered)
    with np.errstate(invalid="ignore", over="ignore"):  # infinities make these NaN: reported None
        mean = float(np.mean(ordered))
        centred = ordered - mean
        variance = float(np.dot(centred, centred)) / (n - 1) if n > 1 else math.nan
    profile.min, profile.max = _finite(values.min().item()), _finite(values.max().item())
    profile.mean, profile.std = _finite(mean), _finite(math.sqrt(variance))
    points = _sorted_quantiles(ordered, list(QUANTILES.values()))
    profile.quantiles = {key: _finite(p) for key, p in zip(QUANTILES, points, strict=True)}
    finite = ordered[np.searchsorted(ordered, -np.inf, "right") : np.searchsorted(ordered, np.inf)]
    if len(finite):
        profile.histogram = _sorted_histogram(finite, bins)
        profile.quantile_sketch = _quantile_sketch(finite)


def _sorted_quantiles(ordered: np.ndarray[Any, Any], qs: list[float]) -> list[float]:
    """``np.quantile(..., method="linear")`` on already sorted values, without re-partitioning."""
    position = np.asarray(qs) * (len(ordered) - 1)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, len(ordered) - 1)
    low, high, t = ordered[below], ordered[above], position - below
    with np.errstate(invalid="ignore"):  # inf - inf where the tail is infinite
        points = np.where(t >= 0.5, high - (high - low) * (1 - t), low + (high - low) * t)
    points = np.where(low == high, low, points)
    return [float(p) for p in points]


def _quantile_sketch(finite: np.ndarray[Any, Any]) -> list[float]:
    """p0…p100 of sorted finite values; nearest ranks where interpolation overflows (~1e308)."""
    points = _sorted_quantiles(finite, _SKETCH_LEVELS)
    if all(math.isfinite(p) for p in points):
        return points
    ranks = np.rint(np.asarray(_SKETCH_LEVELS) * (len(finite) - 1)).astype(np.int64)
    return [float(p) for p in finite[ranks]]


def _sorted_histogram(ordered: np.ndarray[Any, Any], bins: int) -> dict[str, list[Any]]:
    """The counts ``np.histogram(values, bins)`` gives, from sorted finite values."""
    lo, hi = float(ordered[0]), float(ordered[-1])
    if lo == hi:  # as numpy does: a unit-wide range around a constant
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    cuts = np.searchsorted(ordered, edges, side="left")
    cuts[-1] = len(ordered)  # the last bin is closed on the right
    return {"edges": edges.tolist(), "counts": np.diff(cuts).tolist()}


def _add_counts(profile: ColumnProfile, column: pa.ChunkedArray, top_k: int) -> None:
    if pa.types.is_dictionary(column.type):
        # Chunks may carry different dictionaries; counting decoded values sidesteps that.
        column = column.cast(column.type.value_type)
    counted = pc.value_counts(column.drop_null())
    values, counts = counted.field("values"), counted.field("counts").to_numpy()
    profile.distinct = len(counted)
    # Stable sort: ties keep first-appearance order, so the result is deterministic. One sort
    # and one conversion serve both lists: the top values are the head of the value counts.
    kept = np.argsort(-counts, kind="stable")[: max(top_k, VALUE_COUNTS_MAX)]
    kept_values = values.take(pa.array(kept, pa.int64()))
    if not (pa.types.is_boolean(kept_values.type) or pa.types.is_string(kept_values.type)):
        kept_values = kept_values.cast(pa.string())
    pairs = list(zip(kept_values.to_pylist(), counts[kept].tolist(), strict=True))
    profile.top_values = [[value, count] for value, count in pairs[:top_k]]
    profile.value_counts = [[value, count] for value, count in pairs[:VALUE_COUNTS_MAX]]


def _finite(value: float | int) -> float | int | None:
    """``value``, or ``None`` where JSON could not hold it (NaN, infinities)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
