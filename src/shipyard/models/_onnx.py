"""ONNX forms of models: conversion, the equivalence check against native predictions, and
running a verified form.

An ONNX form is kept only when, on the packaging example, its predictions match the native ones
(labels equal, numbers within 1e-5). Its recorded metadata tells the runner how to turn raw
session outputs back into what native ``predict`` returns: the same shape, dtype and labels.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from shipyard.core.errors import InvalidInput
from shipyard.models._flavor import ConversionSkipped
from shipyard.models._inputs import InputPreparer, empty_output, exact_dtype, n_rows
from shipyard.models._signature import Array, Signature, TensorSpec

__all__ = [
    "OnnxRunner",
    "brief",
    "convert_lightgbm",
    "convert_sklearn",
    "new_session",
    "squeeze_output",
    "verify_onnx",
]

TOLERANCE = 1e-5
_INPUT_TYPES = {
    "tensor(double)": "float64",
    "tensor(float)": "float32",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(bool)": "bool",
}


def convert_sklearn(model: Any, signature: Signature) -> bytes:
    """A scikit-learn estimator or pipeline on numeric features, as ONNX bytes."""
    width = _numeric_width(signature)
    try:
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
        from sklearn.base import is_classifier
    except ImportError as exc:
        raise ConversionSkipped(f"skl2onnx is not installed ({exc})") from exc
    # Probabilities as a plain tensor rather than a list of {class: p} maps.
    options = {"zipmap": False} if is_classifier(model) else None

    def convert(tensor_type: Any) -> Any:
        return to_onnx(
            model, initial_types=[("input", tensor_type([None, width]))], options=options
        )

    # Doubles first so regressors match to 1e-5; not every converter or kernel supports them.
    return _first_loadable(convert, [DoubleTensorType, FloatTensorType])


def convert_lightgbm(model: Any, signature: Signature) -> bytes:
    """A LightGBM model (scikit-learn API or Booster) on numeric features, as ONNX bytes."""
    width = _numeric_width(signature)
    try:
        from onnxmltools import convert_lightgbm as convert_lgbm
        from onnxmltools.convert.common.data_types import FloatTensorType
    except ImportError as exc:
        raise ConversionSkipped(f"onnxmltools is not installed ({exc})") from exc

    def convert(tensor_type: Any) -> Any:
        initial = [("input", tensor_type([None, width]))]
        return convert_lgbm(model, initial_types=initial, zipmap=False)

    return _first_loadable(convert, [FloatTensorType])  # its tree converter takes floats only


def _numeric_width(signature: Signature) -> int:
    inputs = signature.inputs
    if isinstance(inputs, TensorSpec):
        if len(inputs.shape) != 2 or not inputs.dtype.startswith(("float", "int")):
            raise ConversionSkipped(f"input tensor {inputs.dtype}{inputs.shape} is not a matrix")
        return inputs.shape[1]
    other = [c.name for c in inputs if not c.dtype.startswith(("float", "int", "uint"))]
    if other:
        raise ConversionSkipped(f"columns {other} are not numeric; only numeric columns convert")
    return len(inputs)


def _first_loadable(convert: Callable[[Any], Any], tensor_types: list[Any]) -> bytes:
    errors = []
    for tensor_type in tensor_types:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # converters warn about opsets and versions
                data: bytes = convert(tensor_type).SerializeToString()
            new_session(data)
            return data
        except Exception as exc:  # converters fail in many library-specific ways
            errors.append(f"{tensor_type.__name__}: {type(exc).__name__}: {brief(exc)}")
    raise ConversionSkipped("conversion failed: " + "; ".join(errors))


def brief(message: object, limit: int = 240) -> str:
    """The start of a message on one line: converters may embed whole tree arrays (megabytes)."""
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[:limit] + " …"


def new_session(model_bytes: bytes, *, threads: int | None = 1) -> Any:
    """An onnxruntime CPU session; one thread suits one-row serving requests best."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # shape-inference notices otherwise go to stderr
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = threads
    return onnxruntime.InferenceSession(
        model_bytes, sess_options=options, providers=["CPUExecutionProvider"]
    )


def squeeze_output(values: Any) -> Array:
    """Native output convention: (n, 1) becomes (n,); everything else stays as it is."""
    array = np.asarray(values)
    return array.ravel() if array.ndim == 2 and array.shape[1] == 1 else array


def verify_onnx(
    model_bytes: bytes,
    matrix: Array,
    native: Array,
    native_proba: Array | None,
    classes: list[Any] | None,
) -> dict[str, Any]:
    """How to run ``model_bytes`` like the native model, or ConversionSkipped saying why not."""
    session = new_session(model_bytes)
    inputs, outputs = session.get_inputs(), [o.name for o in session.get_outputs()]
    if len(inputs) != 1 or inputs[0].type not in _INPUT_TYPES:
        raise ConversionSkipped("the ONNX model does not take exactly one numeric tensor")
    input_dtype = _INPUT_TYPES[inputs[0].type]
    results = session.run(None, {inputs[0].name: matrix.astype(input_dtype)})
    predicted = squeeze_output(results[0])
    diffs = [0.0]
    labels: dict[str, Any] | None = None
    if native.dtype.kind == "f":
        diffs.append(_max_diff(predicted, native, "predictions"))
    else:
        labels = _label_decoding(predicted, native, classes)
    proba_output = None
    if native_proba is not None and native_proba.ndim == 2 and len(results) > 1:
        diffs.append(_max_diff(np.asarray(results[1]), native_proba, "probabilities"))
        proba_output = outputs[1]
    return {
        "input": {"name": inputs[0].name, "dtype": input_dtype},
        "outputs": {"predict": outputs[0], "proba": proba_output},
        "predict_dtype": exact_dtype(native),
        "labels": labels,
        "max_abs_diff": max(diffs),
    }


def _max_diff(got: Array, expected: Array, what: str) -> float:
    if got.shape != expected.shape:
        raise ConversionSkipped(f"ONNX {what} have shape {got.shape}, native {expected.shape}")
    got, expected = got.astype(np.float64), expected.astype(np.float64)
    gaps = np.abs(got - expected)
    diff = float(np.max(gaps, initial=0.0, where=~np.isnan(gaps)))
    if not np.allclose(got, expected, rtol=TOLERANCE, atol=TOLERANCE, equal_nan=True):
        raise ConversionSkipped(f"ONNX {what} differ from native ones by up to {diff:.3g}")
    return diff


def _label_decoding(got: Array, expected: Array, classes: list[Any] | None) -> dict[str, Any]:
    if got.shape == expected.shape and np.array_equal(got, expected):
        return {"decode": "identity", "classes": None}
    decodable = classes and got.dtype.kind in "iu" and got.size and got.max() < len(classes)
    if decodable and got.min() >= 0 and np.array_equal(np.asarray(classes)[got], expected):
        return {"decode": "index", "classes": classes}
    raise ConversionSkipped("ONNX class labels differ from the native ones")


class OnnxRunner:
    """Runs a verified ONNX form and decodes its outputs to the native shape, dtype and labels.

    Safe to call from several threads: onnxruntime sessions run concurrently.
    """

    def __init__(
        self,
        session: Any,
        meta: Mapping[str, Any],
        signature: Signature,
        proba_width: int | None = None,
        *,
        forbid_missing: bool = False,
    ) -> None:
        self.session = session
        self.meta = meta
        self._prepare = InputPreparer(signature, forbid_missing=forbid_missing)
        self._tensor = isinstance(signature.inputs, TensorSpec)
        self._input = {"name": str(meta["input"]["name"]), "dtype": str(meta["input"]["dtype"])}
        # Packages from before exact dtypes were recorded say "string" for numpy strings.
        dtype = str(meta["predict_dtype"])
        self._dtype = "str" if dtype == "string" else dtype
        self._empty = empty_output(signature.outputs, self._dtype)
        self._proba_width = proba_width

    def prepare(self, data: Any) -> Array:
        """The payload as the one input matrix (or tensor) of the ONNX graph."""
        dtype = self._input["dtype"]
        if self._tensor:
            return np.asarray(self._prepare(data)).astype(dtype, copy=False)
        return self._prepare.matrix(data, dtype)

    def run(self, matrix: Array, *, proba: bool = False) -> tuple[Array, Array | None]:
        """Predictions and, when asked and available, probabilities, from one session call."""
        proba_name = self.meta["outputs"].get("proba") if proba else None
        if self._empty is not None and not n_rows(matrix):
            empty_proba = None
            if proba_name is not None and self._proba_width is not None:
                empty_proba = np.empty((0, self._proba_width))
            return self._empty.copy(), empty_proba
        names = [self.meta["outputs"]["predict"]]
        if proba_name is not None:
            names.append(proba_name)
        results = self.session.run(names, {self._input["name"]: matrix})
        probabilities = np.asarray(results[1], dtype=np.float64) if proba_name else None
        return self._decode(squeeze_output(results[0])), probabilities

    def _decode(self, predicted: Array) -> Array:
        labels = self.meta.get("labels")
        if labels and labels["decode"] == "index":
            predicted = np.asarray(labels["classes"])[predicted]
        if np.dtype(self._dtype).kind == "U":  # never narrower than needed: no truncated labels
            predicted = predicted.astype(str)
            return predicted.astype(np.promote_types(predicted.dtype, self._dtype), copy=False)
        return predicted.astype(self._dtype, copy=False)

    def predict_proba(self, data: Any) -> Array:
        name = self.meta["outputs"].get("proba")
        if name is None:
            raise InvalidInput(
                "This model's ONNX form has no class probabilities.",
                hint="Call predict() instead; only classifiers have probabilities.",
            )
        matrix = self.prepare(data)
        if self._proba_width is not None and not n_rows(matrix):
            return np.empty((0, self._proba_width))
        result = self.session.run([name], {self._input["name"]: matrix})[0]
        return np.asarray(result, dtype=np.float64)
