"""Reading the inference log and feedback back: one table from parts written over time.

Parts written by different model versions or on different days need not share a schema, so the
readers unify them (missing columns become nulls, numbers widen, what cannot merge becomes text)
instead of failing on the first mismatch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from shipyard.core.errors import InvalidInput
from shipyard.serve._log_store import PartStore, check_deployment
from shipyard.serve._log_tables import ARROW_ERRORS, FEEDBACK_SCHEMA, INFERENCE_SCHEMA

__all__ = ["logged_deployments", "read_feedback", "read_inference_log"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def read_inference_log(
    location: str,
    deployment: str,
    *,
    since: datetime | str | int | None = None,
    until: datetime | str | int | None = None,
    columns: Sequence[str] | None = None,
    storage_options: dict[str, Any] | None = None,
) -> pa.Table:
    """The predicted rows of ``deployment`` with ``since <= ts < until``, oldest first.

    ``columns`` (names of :data:`INFERENCE_SCHEMA`; ``ts`` is always included) reads only
    those: a summary of days of traffic need not decode every row's inputs. An absent or empty
    log is an empty table with those columns.
    """
    store = PartStore(location, storage_options)
    return _read(store, "inference", deployment, since, until, INFERENCE_SCHEMA, columns)


def logged_deployments(
    location: str, *, storage_options: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every deployment that wrote an inference log, with the newest day it logged."""
    store = PartStore(location, storage_options)
    return [
        {"name": name, "last_day": day.isoformat()} for name, day in store.deployments("inference")
    ]


def read_feedback(
    location: str,
    deployment: str,
    *,
    since: datetime | str | int | None = None,
    until: datetime | str | int | None = None,
    storage_options: dict[str, Any] | None = None,
) -> pa.Table:
    """The feedback of ``deployment`` that arrived with ``since <= ts < until``, oldest first.

    An absent or empty log is an empty table with :data:`FEEDBACK_SCHEMA`.
    """
    store = PartStore(location, storage_options)
    return _read(store, "feedback", deployment, since, until, FEEDBACK_SCHEMA)


def _read(
    store: PartStore,
    kind: str,
    deployment: str,
    since: Any,
    until: Any,
    base: pa.Schema,
    columns: Sequence[str] | None = None,
) -> pa.Table:
    check_deployment(deployment)
    since_ms, until_ms = _epoch_ms(since, "since"), _epoch_ms(until, "until")
    selected = None if columns is None else _columns(columns, base)
    if selected is not None:
        base = pa.schema([base.field(name) for name in selected])
    tables = store.read_parts(kind, deployment, since_ms, until_ms, selected)
    if kind == "feedback":
        tables = _common_labels(tables)
    table = _unify(tables, base)
    return table.take(pc.sort_indices(table, sort_keys=[("ts", "ascending")]))


def _columns(columns: Sequence[str], base: pa.Schema) -> list[str]:
    if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
        raise InvalidInput(f"columns must be a list of column names, got {columns!r}.")
    unknown = [c for c in columns if c not in base.names]
    if unknown:
        raise InvalidInput(
            f"Unknown inference-log column(s) {', '.join(map(repr, unknown))}.",
            hint=f"The log has: {', '.join(base.names)}.",
        )
    return list(dict.fromkeys(["ts", *columns]))


def _epoch_ms(value: Any, what: str) -> int | None:
    """``since``/``until`` as epoch ms: a datetime (naive = UTC), an ISO string or epoch ms."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        with suppress(ValueError):
            value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int((value - _EPOCH) // timedelta(milliseconds=1))
    raise InvalidInput(
        f"{what}={value!r} is not a time.",
        hint="Pass a datetime (naive means UTC), an ISO 8601 string or epoch milliseconds.",
    )


def _common_labels(tables: list[pa.Table]) -> list[pa.Table]:
    """Feedback parts with one label type: numbers merge, anything else becomes text."""
    types = {t.schema.field("label").type for t in tables} - {pa.null()}
    numeric = all(pa.types.is_integer(t) or pa.types.is_floating(t) for t in types)
    if len(types) <= 1 or numeric:
        return tables
    return [
        t
        if pa.types.is_string(t.schema.field("label").type)
        else t.set_column(t.schema.get_field_index("label"), "label", t.column("label_json"))
        for t in tables
    ]


def _unify(tables: list[pa.Table], base: pa.Schema) -> pa.Table:
    """One table from parts whose schemas differ: missing columns and fields become nulls."""
    schemas = [base, *(t.schema.remove_metadata() for t in tables)]
    try:
        target = pa.unify_schemas(schemas, promote_options="permissive")
    except ARROW_ERRORS:
        target = _merge_schemas(schemas)
    if not tables:
        return target.empty_table()
    return pa.concat_tables([_conform_table(t, target) for t in tables])


def _merge_schemas(schemas: list[pa.Schema]) -> pa.Schema:
    names = list(dict.fromkeys(name for schema in schemas for name in schema.names))
    return pa.schema(
        [
            (name, _merge_types([s.field(name).type for s in schemas if name in s.names]))
            for name in names
        ]
    )


def _merge_types(types: list[pa.DataType]) -> pa.DataType:
    """A type all of ``types`` convert to: Arrow's promotion, field by field for structs, else
    text."""
    try:
        probe = [pa.schema([("v", t)]) for t in types]
        return pa.unify_schemas(probe, promote_options="permissive").field("v").type
    except ARROW_ERRORS:
        pass
    concrete = [t for t in types if t != pa.null()]
    if concrete and all(pa.types.is_struct(t) for t in concrete):
        merged = _merge_schemas([pa.schema(list(t)) for t in concrete])
        return pa.struct(list(merged))
    return pa.string()


def _conform_table(table: pa.Table, target: pa.Schema) -> pa.Table:
    if table.schema.remove_metadata().equals(target):
        return table.replace_schema_metadata(None)
    columns = [
        _conform(table.column(field.name), field.type)
        if field.name in table.column_names
        else pa.chunked_array([pa.nulls(table.num_rows, field.type)])
        for field in target
    ]
    return pa.Table.from_arrays(columns, schema=target)


def _conform(column: pa.ChunkedArray, target: pa.DataType) -> pa.ChunkedArray:
    if column.type == target:
        return column
    return pa.chunked_array([_conform_array(chunk, target) for chunk in column.chunks], target)


def _conform_array(array: pa.Array, target: pa.DataType) -> pa.Array:
    if array.type == target:
        return array
    if pa.types.is_struct(target) and pa.types.is_struct(array.type):
        children = dict(zip([f.name for f in array.type], array.flatten(), strict=True))
        fields = list(target)
        return pa.StructArray.from_arrays(
            [
                _conform_array(children[f.name], f.type)
                if f.name in children
                else pa.nulls(len(array), f.type)
                for f in fields
            ],
            fields=fields,
            mask=array.is_null() if array.null_count else None,
        )
    try:
        return array.cast(target)
    except ARROW_ERRORS:
        if not pa.types.is_string(target):
            raise
        # Values no cast turns into text (lists, structs): their JSON, so nothing is lost.
        texts = [None if v is None else json.dumps(v, default=str) for v in array.to_pylist()]
        return pa.array(texts, pa.string())
