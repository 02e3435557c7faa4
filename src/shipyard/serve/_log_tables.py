"""Records to Arrow: predicted batches and feedback as the tables the inference log stores.

The writer thread converts many small batches at once, so conversion is vectorized over rows
and batches that can share columns are merged first. The columns and their types are described
in :mod:`shipyard.serve._inference_log`.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from shipyard.core.errors import InvalidInput
from shipyard.serve._log_records import Feedback, LogBatch

__all__ = [
    "ARROW_ERRORS",
    "DAY_MS",
    "FEEDBACK_SCHEMA",
    "INFERENCE_SCHEMA",
    "TS",
    "batch_tables",
    "check_rows",
    "coalesce_tables",
    "feedback_tables",
    "merge_batches",
    "similar_batches",
    "utc_date",
]

MAX_ROW = 2**31 - 1  # rows are int32 in the parts
TS = pa.timestamp("ms", tz="UTC")
DAY_MS = 86_400_000
#: What Arrow raises for values it cannot convert or types it cannot merge.
ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError)


def _list_of(value_type: pa.DataType) -> pa.DataType:
    # "element" is the child name Parquet files use, so written and read schemas compare equal.
    return pa.list_(pa.field("element", value_type))


#: The columns every inference table has; ``inputs`` and ``prediction`` take their types from
#: the parts read (an empty result has an empty struct and a null column).
INFERENCE_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("row", pa.int32()),
        ("ts", TS),
        ("deployment", pa.string()),
        ("model_name", pa.string()),
        ("model_version", pa.int32()),
        ("variant", pa.string()),
        ("role", pa.string()),
        ("latency_ms", pa.float32()),
        ("inputs", pa.struct([])),
        ("prediction", pa.null()),
        ("proba", _list_of(pa.float64())),
        ("classes", _list_of(pa.null())),
    ]
)

#: The columns every feedback table has; ``label`` takes its type from the parts read.
FEEDBACK_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("row", pa.int32()),
        ("ts", TS),
        ("label_json", pa.string()),
        ("label", pa.null()),
    ]
)

# Predicted batches: on the writer thread, vectorized over rows.


def similar_batches(batches: list[tuple[LogBatch, int]]) -> list[list[tuple[LogBatch, int]]]:
    """``batches`` grouped so that each group's arrays can be concatenated: the same model
    version in the same role, with inputs and outputs of the same kinds and shapes."""
    groups: dict[tuple[Any, ...], list[tuple[LogBatch, int]]] = {}
    for item in batches:
        batch = item[0]
        try:
            key = _merge_key(batch)
        except Exception:  # something odd: alone in its group, where conversion judges it
            key = (id(batch),)
        groups.setdefault(key, []).append(item)
    return list(groups.values())


def _merge_key(batch: LogBatch) -> tuple[Any, ...]:
    inputs = batch.inputs
    if isinstance(inputs, pd.DataFrame):
        shape: tuple[Any, ...] = ("frame",)  # pd.concat reconciles columns and dtypes
    else:
        names = None if batch.input_names is None else tuple(batch.input_names)
        shape = ("array", inputs.dtype.str, inputs.shape[1:], names)
    proba = batch.probabilities
    return (
        batch.deployment,
        batch.model_name,
        batch.model_version,
        batch.variant,
        batch.role,
        shape,
        batch.predictions.dtype.str,
        batch.predictions.shape[1:],
        None if proba is None else proba.shape[1:],
        None if batch.classes is None else tuple(np.asarray(batch.classes).tolist()),
    )


def merge_batches(batches: list[LogBatch]) -> LogBatch:
    """Batches of one :func:`_merge_key` as one batch, requests in order."""
    first = batches[0]
    if len(batches) == 1:
        return first
    inputs: pd.DataFrame | np.ndarray[Any, Any]
    if isinstance(first.inputs, pd.DataFrame):
        inputs = pd.concat([b.inputs for b in batches], ignore_index=True)
    else:
        inputs = np.concatenate([np.asarray(b.inputs) for b in batches])
    probabilities = None
    if first.probabilities is not None:
        probabilities = np.concatenate([np.asarray(b.probabilities) for b in batches])
    return replace(
        first,
        request_ids=[request_id for b in batches for request_id in b.request_ids],
        rows_per_request=np.concatenate([np.asarray(b.rows_per_request) for b in batches]),
        received_ms=np.concatenate([np.asarray(b.received_ms) for b in batches]),
        latency_ms=np.concatenate([np.asarray(b.latency_ms) for b in batches]),
        inputs=inputs,
        predictions=np.concatenate([b.predictions for b in batches]),
        probabilities=probabilities,
    )


def check_rows(batch: LogBatch) -> None:
    """Raise ValueError when the rows per request do not add up to the rows of the arrays."""
    counts = np.asarray(batch.rows_per_request, dtype=np.int64)
    n_rows = int(counts.sum())
    proba = batch.probabilities
    if (
        (counts < 0).any()
        or len(batch.predictions) != n_rows
        or len(batch.inputs) != n_rows
        or (proba is not None and len(proba) != n_rows)
    ):
        raise ValueError(
            f"rows_per_request adds up to {n_rows} rows but there are {len(batch.inputs)} input "
            f"rows and {len(batch.predictions)} predictions"
        )


def batch_tables(batch: LogBatch) -> list[tuple[date, pa.Table]]:
    """``batch`` as Arrow tables, one per UTC date of its requests."""
    check_rows(batch)
    counts = np.asarray(batch.rows_per_request, dtype=np.int64)
    n_rows = int(counts.sum())
    if n_rows == 0:
        return []
    request = np.repeat(np.arange(len(counts)), counts)  # the request of each row
    starts = np.cumsum(counts) - counts
    received = np.asarray(batch.received_ms, dtype=np.int64)
    columns: dict[str, pa.Array] = {
        "request_id": pa.array(list(batch.request_ids), pa.string()).take(request),
        "row": pa.array(np.arange(n_rows, dtype=np.int64) - starts[request]).cast(pa.int32()),
        "ts": pa.array(received[request], TS),
        "deployment": pa.repeat(pa.scalar(batch.deployment, pa.string()), n_rows),
        "model_name": pa.repeat(pa.scalar(batch.model_name, pa.string()), n_rows),
        "model_version": pa.repeat(pa.scalar(batch.model_version, pa.int32()), n_rows),
        "variant": pa.repeat(pa.scalar(batch.variant, pa.string()), n_rows),
        "role": pa.repeat(pa.scalar(batch.role, pa.string()), n_rows),
        "latency_ms": pa.array(np.asarray(batch.latency_ms, dtype=np.float32)[request]),
    }
    inputs = _inputs_struct(batch.inputs, batch.input_names)
    if inputs is not None:  # Parquet cannot store a struct without fields
        columns["inputs"] = inputs
    columns["prediction"] = _values_array(np.asarray(batch.predictions), missing_as_null=False)
    columns["proba"], columns["classes"] = _proba_arrays(batch.probabilities, batch.classes, n_rows)
    return _by_day(pa.table(columns), received[request] // DAY_MS)


def _inputs_struct(
    inputs: pd.DataFrame | np.ndarray[Any, Any], names: Sequence[str] | None
) -> pa.StructArray | None:
    """One struct field per input column, each with its own Arrow type."""
    if isinstance(inputs, pd.DataFrame):
        fields = [str(name) for name in inputs.columns]
        arrays = [_column_array(inputs.iloc[:, i]) for i in range(inputs.shape[1])]
    else:
        values = np.asarray(inputs)
        width = 1 if values.ndim == 1 else values.shape[1]
        fields = [str(n) for n in names] if names is not None else [f"x{i}" for i in range(width)]
        if values.ndim == 1 and len(fields) == 1:
            arrays = [_column_array(values)]
        elif values.ndim == 2 and len(fields) == width:
            arrays = [_column_array(values[:, i]) for i in range(width)]
        elif values.ndim >= 2 and len(fields) == 1:  # one tensor input: a list per row
            arrays = [_values_array(values, missing_as_null=True)]
        else:
            raise ValueError(f"inputs of shape {values.shape} do not match names {fields}")
    if not fields:
        return None
    return pa.StructArray.from_arrays(arrays, names=fields)


def _column_array(values: pd.Series[Any] | np.ndarray[Any, Any]) -> pa.Array:
    """One input column as Arrow; missing values (None, NaN, NA) become nulls."""
    try:
        array = pa.array(values, from_pandas=True)
    except ARROW_ERRORS:
        # Mixed Python objects: kept readable as text rather than lost (rare, so a loop is fine).
        array = pa.array([None if _missing(v) else str(v) for v in values], pa.string())
    return _plain(array)


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _plain(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The plain type Parquet and later unification handle best."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):  # pandas categoricals: their values
        array = array.dictionary_decode()
    if pa.types.is_large_string(array.type) or pa.types.is_string_view(array.type):
        array = array.cast(pa.string())
    elif pa.types.is_large_binary(array.type) or pa.types.is_binary_view(array.type):
        array = array.cast(pa.binary())
    elif pa.types.is_float16(array.type):
        array = array.cast(pa.float32())
    return array


def _values_array(values: np.ndarray[Any, Any], *, missing_as_null: bool) -> pa.Array:
    """Predictions (or a tensor input): a value per row, or a list per row for (n, k, ...)."""
    if values.ndim <= 1:
        return _plain(_scalar_array(values, missing_as_null))
    width = math.prod(values.shape[1:])
    flat = _plain(_scalar_array(values.reshape(-1), missing_as_null))
    return _list_array(flat, len(values), width)


def _scalar_array(values: np.ndarray[Any, Any], from_pandas: bool) -> pa.Array:
    try:
        return pa.array(values, from_pandas=from_pandas)
    except ARROW_ERRORS:
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def _list_array(flat: pa.Array, n_rows: int, width: int) -> pa.Array:
    offsets = pa.array((np.arange(n_rows + 1, dtype=np.int64) * width).astype(np.int32))
    return pa.ListArray.from_arrays(offsets, flat, type=_list_of(flat.type))


def _proba_arrays(
    probabilities: np.ndarray[Any, Any] | None,
    classes: Sequence[Any] | np.ndarray[Any, Any] | None,
    n_rows: int,
) -> tuple[pa.Array, pa.Array]:
    if probabilities is None:
        return pa.nulls(n_rows, _list_of(pa.float64())), pa.nulls(n_rows, _list_of(pa.null()))
    proba = np.asarray(probabilities, dtype=np.float64).reshape(n_rows, -1)
    width = proba.shape[1]
    proba_array = _list_array(pa.array(proba.reshape(-1)), n_rows, width)
    if classes is None:
        return proba_array, pa.nulls(n_rows, _list_of(pa.null()))
    labels = _plain(_scalar_array(np.asarray(classes), False))
    if len(labels) != width:
        raise ValueError(f"{len(labels)} classes for {width} probability columns")
    repeated = labels.take(pa.array(np.tile(np.arange(width), n_rows)))
    return proba_array, _list_array(repeated, n_rows, width)


def coalesce_tables(tables: list[pa.Table]) -> list[pa.Table]:
    """``tables`` as one table when their types merge, else one per schema."""
    if len(tables) == 1:
        return tables
    try:
        return [pa.concat_tables(tables, promote_options="permissive")]
    except ARROW_ERRORS:
        groups: list[list[pa.Table]] = []
        for table in tables:
            for group in groups:
                if group[0].schema.equals(table.schema):
                    group.append(table)
                    break
            else:
                groups.append([table])
        return [pa.concat_tables(group) for group in groups]


# Feedback.


def feedback_tables(records: Sequence[Feedback]) -> list[tuple[date, pa.Table]]:
    """``records`` as feedback tables, one per UTC date of arrival, after checking every one of
    them (so a bad record converts nothing)."""
    now = time.time_ns() // 1_000_000
    labels_json: list[str] = []
    for i, record in enumerate(records):
        where = f"Feedback record {i}"
        if not isinstance(record, Feedback):
            raise InvalidInput(f"{where} is not a Feedback.", hint="Pass Feedback records.")
        if not isinstance(record.request_id, str) or not record.request_id:
            raise InvalidInput(
                f"{where} has no request id.",
                hint="Use the request id the prediction's response carried.",
            )
        if record.row is not None and (
            not isinstance(record.row, int)
            or isinstance(record.row, bool)
            or not 0 <= record.row <= MAX_ROW
        ):
            raise InvalidInput(
                f"{where} has row {record.row!r}: it must be an index from 0 to {MAX_ROW}, "
                "or omitted.",
                hint="Omit row when the label applies to every row of the request.",
            )
        if record.received_ms is not None and (
            not isinstance(record.received_ms, int) or isinstance(record.received_ms, bool)
        ):
            raise InvalidInput(
                f"{where} has received_ms {record.received_ms!r}: it must be epoch ms.",
                hint="Omit it to use the current time.",
            )
        labels_json.append(_label_json(record.label, where))
    labels = [record.label for record in records]
    table = pa.table(
        {
            "request_id": pa.array([r.request_id for r in records], pa.string()),
            "row": pa.array([r.row for r in records], pa.int32()),
            "ts": pa.array([now if r.received_ms is None else r.received_ms for r in records], TS),
            "label_json": pa.array(labels_json, pa.string()),
            "label": _typed_labels(labels, labels_json),
        }
    )
    return _by_day(table, table.column("ts").cast(pa.int64()).to_numpy() // DAY_MS)


def _label_json(label: Any, where: str) -> str:
    scalars = (bool, int, float, str)
    ok = isinstance(label, scalars) or (
        isinstance(label, list) and bool(label) and all(isinstance(v, scalars) for v in label)
    )
    if ok:
        try:
            return json.dumps(label, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
        except ValueError:
            pass  # NaN or infinity: not JSON
    raise InvalidInput(
        f"{where} has label {label!r}: a label must be a number, a string, a boolean, or a "
        "non-empty list of them, and numbers must be finite.",
        hint="Send the observed ground truth of the prediction.",
    )


def _typed_labels(labels: list[Any], labels_json: list[str]) -> pa.Array:
    """The labels in their common type, or as strings when they have none."""
    kinds = {_label_kind(v) for v in labels}
    try:
        if kinds == {"bool"}:
            return pa.array(labels, pa.bool_())
        if kinds == {"int"}:
            return pa.array(labels, pa.int64())
        if kinds <= {"int", "float"}:
            return pa.array([float(v) for v in labels], pa.float64())
        if kinds == {"str"}:
            return pa.array(labels, pa.string())
        if kinds == {"list"}:
            typed = pa.array(labels)
            if pa.types.is_list(typed.type):
                return _plain_list(typed)
    except ARROW_ERRORS:
        pass
    return pa.array(
        [v if isinstance(v, str) else text for v, text in zip(labels, labels_json, strict=True)],
        pa.string(),
    )


def _label_kind(value: Any) -> str:
    for kind, types in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if isinstance(value, types):
            return kind
    return "list"


def _plain_list(array: pa.Array) -> pa.Array:
    flat = _plain(array.flatten())
    return pa.ListArray.from_arrays(array.offsets, flat, type=_list_of(flat.type))


# Dates.


def utc_date(day_number: int) -> date:
    """The date of a day number (days since 1970-01-01 UTC), as the ``date=`` folders name it."""
    return date(1970, 1, 1) + timedelta(days=day_number)


def _by_day(table: pa.Table, row_days: np.ndarray[Any, Any]) -> list[tuple[date, pa.Table]]:
    """``table`` split by UTC date, ``row_days`` being each row's day number."""
    if len(row_days) and (row_days == row_days[0]).all():
        return [(utc_date(int(row_days[0])), table)]
    return [
        (utc_date(int(day)), table.filter(pa.array(row_days == day))) for day in np.unique(row_days)
    ]
