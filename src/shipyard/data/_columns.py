"""The schema of a dataset version: what each column holds, so new data can be checked against it.

A schema is plain, frozen data that round-trips through JSON; it is inferred once from the data
(``infer_schema``) and stored with the version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from shipyard.core.errors import InvalidInput, NotFound
from shipyard.data._frames import check_unique_names

__all__ = ["KINDS", "ColumnSchema", "DatasetSchema", "column_kind", "infer_schema", "missing_count"]

KINDS = (
    "integer",
    "float",
    "boolean",
    "string",
    "categorical",
    "datetime",
    "date",
    "binary",
    "other",
)


@dataclass(frozen=True)
class ColumnSchema:
    """One column: its logical ``kind``, exact Arrow type, and the categories seen, if few."""

    name: str
    kind: str
    arrow_type: str
    nullable: bool
    categories: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "arrow_type": self.arrow_type,
            "nullable": self.nullable,
            "categories": None if self.categories is None else list(self.categories),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ColumnSchema:
        try:
            categories = d.get("categories")
            column = cls(
                name=str(d["name"]),
                kind=str(d["kind"]),
                arrow_type=str(d["arrow_type"]),
                nullable=bool(d["nullable"]),
                categories=None if categories is None else tuple(str(c) for c in categories),
            )
        except (KeyError, TypeError) as exc:
            raise InvalidInput(
                f"A column schema needs the keys name, kind, arrow_type and nullable; got {d!r}.",
                hint="Pass a dict produced by ColumnSchema.to_dict().",
            ) from exc
        if column.kind not in KINDS:
            raise InvalidInput(
                f"Column {column.name!r} has kind {column.kind!r}; expected one of "
                f"{', '.join(KINDS)}.",
                hint="Pass a dict produced by ColumnSchema.to_dict().",
            )
        return column


@dataclass(frozen=True)
class DatasetSchema:
    """The columns of a dataset version, in order."""

    columns: tuple[ColumnSchema, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def column(self, name: str) -> ColumnSchema:
        """The column called ``name``; ``NotFound`` if the schema has none."""
        for column in self.columns:
            if column.name == name:
                return column
        raise NotFound(
            f"Column {name!r} is not in the schema; it has {', '.join(map(repr, self.names))}.",
            hint="Check the spelling of the column name.",
        )

    def to_dict(self) -> dict[str, Any]:
        return {"columns": [column.to_dict() for column in self.columns]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetSchema:
        columns = d.get("columns") if isinstance(d, dict) else None
        if not isinstance(columns, list):
            raise InvalidInput(
                f"A dataset schema is a dict with a 'columns' list; got {d!r:.200}.",
                hint="Pass a dict produced by DatasetSchema.to_dict().",
            )
        return cls(tuple(ColumnSchema.from_dict(column) for column in columns))


def column_kind(dtype: pa.DataType) -> str:
    """The logical kind of an Arrow type: what checks and statistics make sense for it."""
    types = pa.types
    if types.is_boolean(dtype):
        return "boolean"
    if types.is_integer(dtype):
        return "integer"
    if types.is_floating(dtype) or types.is_decimal(dtype):
        return "float"
    if types.is_string(dtype) or types.is_large_string(dtype) or types.is_string_view(dtype):
        return "string"
    if types.is_dictionary(dtype):
        return "categorical"
    if types.is_timestamp(dtype):
        return "datetime"
    if types.is_date(dtype):
        return "date"
    if (
        types.is_binary(dtype)
        or types.is_large_binary(dtype)
        or types.is_fixed_size_binary(dtype)
        or types.is_binary_view(dtype)
    ):
        return "binary"
    return "other"


def missing_count(column: pa.ChunkedArray) -> int:
    """Nulls plus, in float columns, NaNs: both mean "no value" to a user of pandas."""
    missing = int(column.null_count)
    if pa.types.is_floating(column.type) and len(column):
        missing += int(pc.sum(pc.is_nan(column)).as_py() or 0)
    return missing


def infer_schema(table: pa.Table, *, max_categories: int = 100) -> DatasetSchema:
    """The schema of ``table``, from its data: ``nullable`` means a value is actually missing.

    String columns with at most ``max_categories`` distinct values, and every dictionary column,
    record their sorted distinct values so later data can be checked for unseen categories.
    """
    check_unique_names(table)
    columns = []
    for field, column in zip(table.schema, table.columns, strict=True):
        kind = column_kind(field.type)
        columns.append(
            ColumnSchema(
                name=field.name,
                kind=kind,
                arrow_type=str(field.type),
                nullable=missing_count(column) > 0,
                categories=_categories(column, kind, max_categories),
            )
        )
    return DatasetSchema(tuple(columns))


def _categories(column: pa.ChunkedArray, kind: str, max_categories: int) -> tuple[str, ...] | None:
    if kind == "categorical":
        column = column.cast(column.type.value_type)
    elif kind != "string":
        return None
    distinct = pc.unique(column).drop_null()
    if kind == "string" and len(distinct) > max_categories:
        return None
    values = distinct.cast(pa.string()) if not pa.types.is_string(distinct.type) else distinct
    return tuple(sorted(values.to_pylist()))
