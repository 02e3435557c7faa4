"""Model signatures: what a model takes and returns, inferred from an example, and the checks
that turn a caller's payload into exactly that before the model sees it.

Preparing inputs sits on the serving hot path, so one-row dicts of numbers take a numpy-only
route (tens of microseconds); everything else goes column by column, which is slower but can say
which column and which value is wrong.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from shipyard.core.errors import InvalidInput
from shipyard.models._flavor import built_on

__all__ = [
    "Array",
    "ColumnSpec",
    "InputPreparer",
    "Signature",
    "TensorSpec",
    "as_array",
    "infer_signature",
    "prepare_input",
]

Array = npt.NDArray[Any]
InputKind = Literal["dataframe", "ndarray"]


@dataclass(frozen=True)
class ColumnSpec:
    """One named column: its dtype name and, for categoricals, the categories seen in training.

    ``shape`` describes columns whose cells are arrays; it is carried, not yet inferred.
    """

    name: str
    dtype: str
    shape: tuple[int, ...] | None = None
    categories: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class TensorSpec:
    """One array: its dtype name and shape, -1 where a dimension (the batch) may vary."""

    dtype: str
    shape: tuple[int, ...]


Spec = tuple[ColumnSpec, ...] | TensorSpec


@dataclass(frozen=True)
class Signature:
    """Inputs and outputs of a model; ``input_kind`` says whether it was fed columns or arrays."""

    inputs: Spec
    outputs: Spec | None
    input_kind: InputKind

    def __post_init__(self) -> None:
        expected = "ndarray" if isinstance(self.inputs, TensorSpec) else "dataframe"
        if self.input_kind != expected:
            raise InvalidInput(
                f"A signature with {type(self.inputs).__name__} inputs has input_kind "
                f"{expected!r}; got {self.input_kind!r}.",
                hint="Let infer_signature() build the signature from an example.",
            )

    def to_dict(self) -> dict[str, Any]:
        outputs = None if self.outputs is None else _spec_to_dict(self.outputs)
        return {
            "input_kind": self.input_kind,
            "inputs": _spec_to_dict(self.inputs),
            "outputs": outputs,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        try:
            outputs = data.get("outputs")
            return cls(
                inputs=_spec_from_dict(data["inputs"]),
                outputs=None if outputs is None else _spec_from_dict(outputs),
                input_kind=data["input_kind"],
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise InvalidInput(
                f"The stored model signature is malformed ({type(exc).__name__}: {exc}).",
                hint="Package the model again with package_model().",
            ) from exc


def _spec_to_dict(spec: Spec) -> dict[str, Any]:
    def fields(item: ColumnSpec | TensorSpec) -> dict[str, Any]:
        pairs = dataclasses.asdict(item).items()
        return {k: list(v) if isinstance(v, tuple) else v for k, v in pairs if v is not None}

    if isinstance(spec, TensorSpec):
        return {"type": "tensor", **fields(spec)}
    return {"type": "columns", "columns": [fields(col) for col in spec]}


def _spec_from_dict(data: Mapping[str, Any]) -> Spec:
    def fields(item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: tuple(v) if isinstance(v, list) else v for k, v in item.items()}

    if data["type"] == "tensor":
        return TensorSpec(**fields({k: v for k, v in data.items() if k != "type"}))
    return tuple(ColumnSpec(**fields(col)) for col in data["columns"])


def infer_signature(example: Any, output: Any = None) -> Signature:
    """The signature of a model fed ``example`` (and, if given, returning ``output``).

    Frames, records and dicts of columns give column specs; arrays, tensors and nested lists
    give a tensor spec whose first (batch) dimension is -1.
    """
    outputs: Spec | None = None
    if isinstance(output, pd.DataFrame):
        outputs = _columns_of(output, named=False)
    elif output is not None:
        outputs = _tensor_of(as_array(output))
    frame = _as_frame(example)
    if frame is not None:
        return Signature(_columns_of(frame, named=True), outputs, "dataframe")
    return Signature(_tensor_of(as_array(example)), outputs, "ndarray")


def _as_frame(data: Any) -> pd.DataFrame | None:
    """``data`` as a DataFrame when it is column-shaped, else None."""
    if isinstance(data, pd.DataFrame):
        return data
    if built_on(data, "polars") and hasattr(data, "to_pandas"):
        return data.to_pandas()
    if isinstance(data, Mapping):
        one_row = not any(_is_sequence(v) for v in data.values())
        return pd.DataFrame({k: [v] if one_row else v for k, v in data.items()})
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        return pd.DataFrame.from_records(data)
    return None


def as_array(data: Any) -> Array:
    """An ndarray from an array, tensor, Series, DataFrame or (nested) list."""
    if isinstance(data, np.ndarray):
        return data
    if built_on(data, "torch") and hasattr(data, "detach"):
        return np.asarray(data.detach().cpu().numpy())
    if isinstance(data, pd.DataFrame | pd.Series):
        return np.asarray(data.to_numpy())
    if isinstance(data, str | bytes | Mapping) or not hasattr(data, "__len__"):
        raise InvalidInput(
            f"Expected an array, tensor, DataFrame, list of records or dict of columns; "
            f"got {type(data).__name__}.",
            hint="Pass the same kind of data the model was trained on.",
        )
    try:
        return np.asarray(data)
    except ValueError as exc:  # ragged nested lists
        raise InvalidInput(
            f"The input is not a rectangular array: {exc}",
            hint="Give every row the same number of values.",
        ) from exc


def _is_sequence(value: Any) -> bool:
    return isinstance(value, list | tuple | np.ndarray | pd.Series | pd.Index)


def _columns_of(frame: pd.DataFrame, *, named: bool) -> tuple[ColumnSpec, ...]:
    specs = []
    for name in frame.columns:
        if named and not isinstance(name, str):
            raise InvalidInput(
                f"Column names must be strings; got {name!r} ({type(name).__name__}).",
                hint="Name the columns, or pass an ndarray when features are positional.",
            )
        specs.append(_column_spec(str(name), frame[name]))
    return tuple(specs)


def _column_spec(name: str, series: pd.Series) -> ColumnSpec:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return ColumnSpec(name, "category", categories=tuple(dtype.categories.tolist()))
    if pd.api.types.is_bool_dtype(dtype):
        return ColumnSpec(name, "bool")
    if pd.api.types.is_numeric_dtype(dtype):  # nullable Int64 and friends map to numpy names
        return ColumnSpec(name, np.dtype(getattr(dtype, "numpy_dtype", dtype)).name)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return ColumnSpec(name, str(dtype))
    if pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
        return ColumnSpec(name, "string")
    return ColumnSpec(name, "object")


def _tensor_of(array: Array) -> TensorSpec:
    shape = (-1, *array.shape[1:]) if array.ndim else ()
    return TensorSpec(_array_dtype(array), tuple(int(d) for d in shape))


def _array_dtype(array: Array) -> str:
    if array.dtype.kind == "U" or (
        array.dtype.kind == "O" and all(isinstance(v, str) for v in array.flat)
    ):
        return "string"
    return "object" if array.dtype.kind == "O" else array.dtype.name


def prepare_input(data: Any, signature: Signature) -> pd.DataFrame | Array:
    """``data`` as the model was trained on it: the signature's columns in order, or an array."""
    return InputPreparer(signature)(data)


class InputPreparer:
    """Checks and converts payloads for one signature; build once per loaded model and reuse."""

    def __init__(self, signature: Signature) -> None:
        self.signature = signature

    @cached_property
    def _columns(self) -> tuple[ColumnSpec, ...]:
        inputs = self.signature.inputs
        return () if isinstance(inputs, TensorSpec) else inputs

    @cached_property
    def _names(self) -> list[str]:
        return [c.name for c in self._columns]

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
    def _int_positions(self) -> list[int]:
        return [i for i, c in enumerate(self._columns) if np.dtype(c.dtype).kind in "iu"]

    def __call__(self, data: Any) -> pd.DataFrame | Array:
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

    def _already_prepared(self, frame: pd.DataFrame) -> bool:
        """Whether ``frame`` holds every column with the exact dtype (categoricals excepted)."""
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
        if fast is not None:
            return fast.astype(dtype, copy=False)
        return np.asarray(self._frame(data).to_numpy(dtype=dtype))

    def _fast_matrix(self, data: Any) -> Array | None:
        """Plain numbers from a dict or records as a matrix, or None for the checking path."""
        try:
            if isinstance(data, Mapping):
                matrix = np.array([data[name] for name in self._names])
            elif isinstance(data, list) and data and isinstance(data[0], Mapping):
                matrix = np.array([[row[name] for row in data] for name in self._names])
            else:
                return None
        except (KeyError, TypeError, ValueError):
            return None
        if matrix.dtype.kind not in "biuf" or matrix.ndim not in (1, 2):
            return None
        matrix = matrix[None, :] if matrix.ndim == 1 else matrix.T
        if matrix.dtype.kind == "f" and self._int_positions:
            ints = matrix[:, self._int_positions]
            if not np.array_equal(ints, np.trunc(ints)):
                return None
        return matrix

    def _frame(self, data: Any) -> pd.DataFrame:
        raw, n_rows = self._raw_columns(data)
        columns = {spec.name: _coerce(spec, raw[spec.name]) for spec in self._columns}
        for name, values in columns.items():
            if len(values) != n_rows:
                raise InvalidInput(
                    f"Column {name!r} has {len(values)} values; other columns have {n_rows}.",
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
            return {n: frame[n] for n in self._names}, len(frame)
        if isinstance(data, Mapping):
            self._require(set(data))
            raw = {n: data[n] if _is_sequence(data[n]) else [data[n]] for n in self._names}
            return raw, len(raw[self._names[0]])
        if isinstance(data, list | tuple) and data and isinstance(data[0], Mapping):
            for i, record in enumerate(data):
                self._require(set(record), where=f" (record {i})")
            return {n: [r[n] for r in data] for n in self._names}, len(data)
        matrix = as_array(data)
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
    if spec.dtype == "category":
        present = pd.Series(values).dropna()
        if spec.categories is not None and not present.isin(spec.categories).all():
            bad = present[~present.isin(spec.categories)].iloc[0]
            raise _wrong_value(what, f"category (one of {list(spec.categories)})", bad)
        return pd.Categorical(values, categories=spec.categories)
    array = np.asarray(values.to_numpy() if isinstance(values, pd.Series) else values)
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


def _strings(array: Array, what: str) -> Array:
    if array.dtype.kind == "U":
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
    """``array`` as ``target``, refusing lossy casts (text to numbers, 1.5 to an int)."""
    kind = array.dtype.kind
    if array.dtype == target:
        return array
    if kind == "O":
        return _cast_objects(array, target, what)
    if target.kind == "f" and kind in "biuf":
        return array.astype(target)
    if target.kind in "iu" and kind in "biu":
        return array.astype(target)
    if target.kind in "iu" and kind == "f":
        bad = ~np.isfinite(array) | (array != np.trunc(array))
        if bad.any():
            raise _wrong_value(what, target.name, _first(array[bad]))
        return array.astype(target)
    if target.kind == "b" and kind in "iu" and np.isin(array, (0, 1)).all():
        return array.astype(bool)
    raise _wrong_value(what, target.name, _first(array))


_NUMBER_TYPES = (int, float, np.integer, np.floating, np.bool_)


def _cast_objects(array: Array, target: np.dtype[Any], what: str) -> Array:
    """Python objects (JSON values, None) to ``target``; None is NaN in float columns."""
    values = []
    for value in array.ravel().tolist():
        if _is_missing(value) and target.kind == "f":
            value = math.nan
        elif not isinstance(value, _NUMBER_TYPES):
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
