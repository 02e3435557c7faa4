"""Model signatures: what a model takes and returns, inferred from an example.

Checking a caller's payload against a signature lives in :mod:`shipyard.models._inputs`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from shipyard.core.errors import InvalidInput
from shipyard.models._flavor import built_on

__all__ = [
    "Array",
    "ColumnSpec",
    "Signature",
    "Spec",
    "TensorSpec",
    "as_array",
    "infer_signature",
    "is_sequence",
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
        one_row = not any(is_sequence(v) for v in data.values())
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


def is_sequence(value: Any) -> bool:
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
