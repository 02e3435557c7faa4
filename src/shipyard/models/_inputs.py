"""Turning a caller's payload into exactly what a model's signature says, before the model sees
it: the signature's columns in order and dtype, or an array of its shape.

This sits on the serving hot path, so one-row dicts of numbers take a numpy-only route (tens of
microseconds); everything else goes column by column, which is slower but can say which column
and which value is wrong. Every mistake in a payload raises :class:`InvalidInput`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from shipyard.core.errors import InvalidInput
from shipyard.models._flavor import built_on
from shipyard.models._signature import (
    Array,
    ColumnSpec,
    Signature,
    Spec,
    TensorSpec,
    as_array,
    is_sequence,
)

__all__ = [
    "InputPreparer",
    "cast_array",
    "empty_output",
    "exact_dtype",
    "n_rows",
    "prepare_input",
]


def prepare_input(data: Any, signature: Signature) -> pd.DataFrame | Array:
    """``data`` as the model was trained on it: the signature's columns in order, or an array."""
    return InputPreparer(signature)(data)


def n_rows(prepared: pd.DataFrame | Array) -> int:
    """How many rows (examples) a prepared input holds."""
    return int(prepared.shape[0]) if prepared.ndim else 1


def exact_dtype(array: Array) -> str:
    """``array``'s dtype as a JSON string numpy reads back: "<U10" keeps the string width."""
    return array.dtype.str if array.dtype.kind == "U" else array.dtype.name


def empty_output(outputs: Spec | None, dtype: str | None = None) -> Array | None:
    """What predicting on zero rows returns: an empty array shaped like ``outputs``, of
    ``dtype`` (from :func:`exact_dtype`) when known.

    None when the outputs do not say (then the model itself is asked).
    """
    if not isinstance(outputs, TensorSpec) or not outputs.shape:
        return None
    if min(outputs.shape[1:], default=0) < 0:
        return None
    name = dtype or outputs.dtype
    return np.empty((0, *outputs.shape[1:]), dtype=object if name == "string" else name)


class InputPreparer:
    """Checks and converts payloads for one signature; build once per loaded model and reuse.

    ``forbid_missing`` refuses NaN and null in float inputs, for models that were found at
    packaging to fail on them: the caller then hears which column and row, not a library error.
    Safe to share between threads: it keeps no state but what it derives from the signature.
    """

    def __init__(self, signature: Signature, *, forbid_missing: bool = False) -> None:
        self.signature = signature
        self.forbid_missing = forbid_missing

    @cached_property
    def _columns(self) -> tuple[ColumnSpec, ...]:
        inputs = self.signature.inputs
        return () if isinstance(inputs, TensorSpec) else inputs

    @cached_property
    def _names(self) -> list[str]:
        return [c.name for c in self._columns]

    @cached_property
    def _pick(self) -> Callable[[Mapping[str, Any]], Any]:
        """A record's values in signature order, as a tuple (itemgetter always gives one)."""
        getter = operator.itemgetter(*self._names)
        return getter if len(self._names) > 1 else lambda record: (getter(record),)

    @cached_property
    def _index(self) -> pd.Index:
        return pd.Index(self._names)

    @cached_property
    def _numeric(self) -> bool:
        return bool(self._columns) and all(_numeric_dtype(c.dtype) for c in self._columns)

    @cached_property
    def _uniform(self) -> np.dtype[Any] | None:
        """The one numeric dtype of every column, when there is one (a single pandas block)."""
        dtypes = {c.dtype for c in self._columns}
        return np.dtype(dtypes.pop()) if self._numeric and len(dtypes) == 1 else None

    @cached_property
    def _int_groups(self) -> dict[str, list[int]]:
        """Positions of the integer columns, by dtype name, for range checks on fast matrices."""
        groups: dict[str, list[int]] = {}
        for i, column in enumerate(self._columns):
            if np.dtype(column.dtype).kind in "iu":
                groups.setdefault(column.dtype, []).append(i)
        return groups

    def __call__(self, data: Any) -> pd.DataFrame | Array:
        prepared = self._prepared(data)
        if self.forbid_missing:
            self._refuse_missing(prepared)
        return prepared

    def _prepared(self, data: Any) -> pd.DataFrame | Array:
        inputs = self.signature.inputs
        if isinstance(inputs, TensorSpec):
            return _prepare_tensor(data, inputs)
        if isinstance(data, pd.DataFrame) and self._already_prepared(data):
            return data if list(data.columns) == self._names else data[self._names]
        if self._uniform is not None:
            fast = self._fast_matrix(data)
            if fast is not None:
                return pd.DataFrame(fast.astype(self._uniform), columns=self._index, copy=False)
        return self._frame(data)

    @cached_property
    def _float_columns(self) -> list[str]:
        return [c.name for c in self._columns if c.dtype.startswith("float")]

    def _refuse_missing(self, prepared: pd.DataFrame | Array) -> None:
        """InvalidInput naming the first missing value in a float input, if there is one."""
        if isinstance(prepared, pd.DataFrame):
            if not self._float_columns:
                return
            values = prepared[self._float_columns].to_numpy(dtype=np.float64)
            names = self._float_columns
        elif prepared.dtype.kind == "f" and prepared.size:
            values, names = prepared.reshape(len(prepared), -1), self._names
        else:
            return
        if np.isfinite(values).all():  # the common case, in one pass
            return
        missing = ~np.isfinite(values)
        row, position = (int(i) for i in np.argwhere(missing)[0])
        where = f"column {names[position]!r}" if names else f"input value {position}"
        raise InvalidInput(
            f"Row {row} has a missing or infinite value (null, NaN or inf) in {where}; this "
            "model failed on missing values when it was packaged, so it does not take them.",
            hint="Send a number there, or retrain the model with an imputer in its pipeline.",
        )

    def _already_prepared(self, frame: pd.DataFrame) -> bool:
        """Whether ``frame`` holds every column with the exact dtype (categoricals excepted)."""
        if not frame.columns.is_unique:
            return False
        dtypes = frame.dtypes
        return all(
            spec.dtype != "category"
            and spec.name in dtypes
            and _PANDAS_NAMES.get(str(dtypes[spec.name]), str(dtypes[spec.name])) == spec.dtype
            for spec in self._columns
        )

    def matrix(self, data: Any, dtype: npt.DTypeLike) -> Array:
        """Numeric column inputs as one (n_rows, n_columns) array, for runtimes such as ONNX."""
        if not self._numeric:
            raise InvalidInput(
                "Only signatures whose columns are all numeric turn into one matrix.",
                hint="Use the native backend for models on string or categorical columns.",
            )
        fast = self._fast_matrix(data)
        matrix = (
            fast.astype(dtype, copy=False)
            if fast is not None
            else np.asarray(self._frame(data).to_numpy(dtype=dtype))
        )
        if self.forbid_missing:
            self._refuse_missing(matrix)
        return matrix

    def _fast_matrix(self, data: Any) -> Array | None:
        """Plain numbers from a frame, dict or records as a matrix; None: take the checking path."""
        try:
            if isinstance(data, pd.DataFrame):
                matrix = self._frame_matrix(data)
                if matrix is None:
                    return None
            elif isinstance(data, Mapping):
                matrix = np.array([data[name] for name in self._names])
                if matrix.ndim == 1:  # one row of scalars
                    matrix = matrix[None, :]
                elif matrix.ndim == 2:  # columns of values
                    matrix = matrix.T
            elif isinstance(data, list) and data and isinstance(data[0], Mapping):
                # One C call per record picks its values in signature order.
                matrix = np.array(list(map(self._pick, data)))
            else:
                return None
        except (KeyError, TypeError, ValueError):
            return None
        if matrix.dtype.kind not in "biuf" or matrix.ndim != 2:
            return None
        for name, positions in self._int_groups.items():
            if _unfit(matrix[:, positions], np.dtype(name)).any():
                return None  # the checking path names the column and the value
        return matrix

    def _frame_matrix(self, frame: pd.DataFrame) -> Array | None:
        """A numeric frame's values in signature order without building Series (the one-row
        serving path); None when columns are missing, repeated or not all numeric."""
        if not frame.columns.is_unique:
            return None
        positions = frame.columns.get_indexer(self._index)
        if (positions < 0).any():
            return None
        values: Array = frame.to_numpy()
        in_order = values.shape[1] == len(positions) and bool(
            (positions == np.arange(len(positions))).all()
        )
        return values if in_order else values[:, positions]

    def _frame(self, data: Any) -> pd.DataFrame:
        raw, rows = self._raw_columns(data)
        columns = {spec.name: _coerce(spec, raw[spec.name]) for spec in self._columns}
        for name, values in columns.items():
            if len(values) != rows:
                raise InvalidInput(
                    f"Column {name!r} has {len(values)} values; other columns have {rows}.",
                    hint="Give every column the same number of values.",
                )
        return pd.DataFrame(columns, columns=self._index)

    def _raw_columns(self, data: Any) -> tuple[dict[str, Any], int]:
        """The caller's values for each expected column (unchecked) and the row count."""
        frame = data if isinstance(data, pd.DataFrame) else None
        if frame is None and built_on(data, "polars") and hasattr(data, "to_pandas"):
            frame = data.to_pandas()
        if frame is not None:
            self._require(set(frame.columns))
            repeated = sorted(
                {n for n in frame.columns[frame.columns.duplicated()]} & set(self._names)
            )
            if repeated:
                raise InvalidInput(
                    f"The input has more than one column named {repeated}.",
                    hint="Give each column a unique name.",
                )
            return {n: frame[n] for n in self._names}, len(frame)
        if isinstance(data, Mapping):
            self._require(set(data))
            raw = {n: data[n] if is_sequence(data[n]) else [data[n]] for n in self._names}
            return raw, len(raw[self._names[0]])
        if isinstance(data, list | tuple) and not data:
            return {n: [] for n in self._names}, 0
        if isinstance(data, list | tuple) and isinstance(data[0], Mapping):
            for i, record in enumerate(data):
                if not isinstance(record, Mapping):
                    raise InvalidInput(
                        f"Record {i} is a {type(record).__name__}, not a mapping of column "
                        "names to values.",
                        hint="Send every record as {column: value, ...}.",
                    )
                self._require(set(record), where=f" (record {i})")
            return {n: [r[n] for r in data] for n in self._names}, len(data)
        return self._positional(data)

    def _positional(self, data: Any) -> tuple[dict[str, Any], int]:
        """Columns from an array or nested lists holding the values in signature order."""
        matrix = as_array(data)
        if matrix.dtype.kind in "US" and not isinstance(data, np.ndarray):
            matrix = np.array(data, dtype=object)  # keep [3, "red"] a number and a string
        matrix = matrix[None, :] if matrix.ndim == 1 else matrix
        if matrix.ndim != 2 or matrix.shape[1] != len(self._names):
            raise InvalidInput(
                f"An array for this model needs {len(self._names)} columns in the order "
                f"{self._names}; got shape {matrix.shape}.",
                hint="Send a dict or records keyed by column name to avoid ordering mistakes.",
            )
        return {n: matrix[:, j] for j, n in enumerate(self._names)}, matrix.shape[0]

    def _require(self, present: set[Any], where: str = "") -> None:
        missing = [n for n in self._names if n not in present]
        if missing:
            raise InvalidInput(
                f"The input is missing column(s) {missing}{where}; the model expects "
                f"columns {self._names}.",
                hint="Add the missing columns; extra columns are ignored.",
            )


_PANDAS_NAMES = {"str": "string"}  # pandas 3 names its default string dtype "str"


def _numeric_dtype(name: str) -> bool:
    return name.startswith(("int", "uint", "float"))


def _first(array: Array) -> Any:
    """The first value as a plain Python object, for error messages."""
    if not array.size:
        return None
    value = array.ravel()[0]
    return value.item() if isinstance(value, np.generic) else value


def _wrong_value(what: str, expected: str, value: Any) -> InvalidInput:
    return InvalidInput(
        f"{what} expects {expected} values; got {value!r} ({type(value).__name__}).",
        hint=f"Send {expected} values for {what[0].lower()}{what[1:]}.",
    )


def _coerce(spec: ColumnSpec, values: Any) -> Any:
    """One column's values in the spec's dtype, or an error naming the column and a bad value."""
    what = f"Column {spec.name!r}"
    if len(values) == 0:
        return _empty_column(spec)
    array = _column_array(values, what)
    if spec.dtype == "category":
        present = pd.Series(array).dropna()
        if spec.categories is not None and not present.isin(spec.categories).all():
            bad = present[~present.isin(spec.categories)].iloc[0]
            bad = bad.item() if isinstance(bad, np.generic) else bad
            raise _wrong_value(what, f"category (one of {list(spec.categories)})", bad)
        return pd.Categorical(array, categories=spec.categories)
    if spec.dtype == "string":
        return _strings(array, what)
    if spec.dtype.startswith("datetime64"):
        if array.dtype.kind in "biufc":
            raise _wrong_value(what, spec.dtype, _first(array))
        try:
            return pd.Series(pd.to_datetime(array)).astype(spec.dtype)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"{what} expects {spec.dtype} values: {exc}") from exc
    if spec.dtype == "object":
        return array.astype(object)
    return cast_array(array, np.dtype(spec.dtype), what)


def _column_array(values: Any, what: str) -> Array:
    """One value per row as a 1-D array; nested values (lists in cells) are refused."""
    try:
        array = np.asarray(values.to_numpy() if isinstance(values, pd.Series) else values)
    except ValueError:  # lists of different lengths in the cells
        array = None
    if array is not None and array.ndim == 1:
        return array
    raise InvalidInput(
        f"{what} expects one value per row; got nested values such as lists.",
        hint=f"Send a single value for {what[0].lower()}{what[1:]} in each row.",
    )


def _empty_column(spec: ColumnSpec) -> Any:
    if spec.dtype == "category":
        return pd.Categorical([], categories=spec.categories)
    if spec.dtype.startswith("datetime64"):
        return pd.Series([], dtype=spec.dtype)
    if spec.dtype in ("string", "object"):
        return np.empty(0, dtype=object)
    return np.empty(0, dtype=np.dtype(spec.dtype))


def _strings(array: Array, what: str) -> Array:
    if array.dtype.kind == "U" or not array.size:
        return array.astype(object)
    if array.dtype.kind == "O":
        bad = next((v for v in array if not (isinstance(v, str) or _is_missing(v))), None)
        if bad is None:
            return array
        raise _wrong_value(what, "string", bad)
    raise _wrong_value(what, "string", _first(array))


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def cast_array(array: Array, target: np.dtype[Any], what: str) -> Array:
    """``array`` as ``target``, refusing lossy casts (text to numbers, 1.5 or 300 to an int8)."""
    kind = array.dtype.kind
    if array.dtype == target:
        return array
    if kind == "O":
        return _cast_objects(array, target, what)
    if target.kind == "f" and kind in "biuf":
        return array.astype(target)
    if (target.kind in "iu" and kind in "biuf") or (target.kind == "b" and kind in "iu"):
        bad = _unfit(array, target)
        if bad.any():
            raise _wrong_value(what, target.name, _first(array[bad]))
        return array.astype(target)
    raise _wrong_value(what, target.name, _first(array))


def _unfit(array: Array, target: np.dtype[Any]) -> Array:
    """Which numbers in ``array`` an integer or bool ``target`` cannot hold exactly."""
    if array.dtype.kind == "b":
        return np.zeros(array.shape, dtype=bool)
    if target.kind == "b":
        return ~np.isin(array, (0, 1))
    info = np.iinfo(target)
    if array.dtype.kind == "f":
        # max + 1 is a power of two, exact as a float, where max itself may round up.
        fits: Array = np.isfinite(array) & (array == np.trunc(array))
        fits &= (array >= info.min) & (array < float(info.max) + 1)
        return ~fits
    outside: Array = (array < info.min) | (array > info.max)
    return outside


_NUMBER_TYPES = (int, float, np.integer, np.floating, np.bool_)
_INT_RANGE = range(-(2**63), 2**64)  # what numpy holds in int64 or uint64


def _cast_objects(array: Array, target: np.dtype[Any], what: str) -> Array:
    """Python objects (JSON values, None) to ``target``; None is NaN in float columns."""
    values = []
    for value in array.ravel().tolist():
        if _is_missing(value) and target.kind == "f":
            value = math.nan
        elif not isinstance(value, _NUMBER_TYPES) or (
            isinstance(value, int) and value not in _INT_RANGE
        ):
            raise _wrong_value(what, target.name, value)
        values.append(value)
    return cast_array(np.array(values).reshape(array.shape), target, what)


def _prepare_tensor(data: Any, spec: TensorSpec) -> Array:
    array = as_array(data)
    if spec.dtype == "string":
        array = _strings(array, "The input tensor")
    elif spec.dtype != "object":
        array = cast_array(array, np.dtype(spec.dtype), "The input tensor")
    expected = spec.shape
    if array.shape == (0,) and len(expected) > 1 and min(expected[1:]) >= 0:
        array = array.reshape((0, *expected[1:]))  # [] is a batch of no examples
    if array.ndim == len(expected) - 1 and _shape_fits(array.shape, expected[1:]):
        array = array[None, ...]  # one example without its batch dimension
    if array.ndim != len(expected) or not _shape_fits(array.shape, expected):
        raise InvalidInput(
            f"The input tensor has shape {array.shape}; the model expects {expected} "
            "(-1 means any size).",
            hint="Reshape the input to the model's shape, with the batch dimension first.",
        )
    return array


def _shape_fits(shape: Sequence[int], expected: Sequence[int]) -> bool:
    return len(shape) == len(expected) and all(
        e in (-1, s) for s, e in zip(shape, expected, strict=True)
    )
