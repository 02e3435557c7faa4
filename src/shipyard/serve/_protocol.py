"""The wire formats: Open Inference Protocol v2 (JSON, and its binary tensor extension) and the
plain JSON route, decoded into payloads a loaded model prepares, and predictions encoded back.

Decoding never loops over rows in Python: tensors become numpy arrays in one call, records go
to the model's input preparer as they are. Every mistake raises MalformedRequest (400: not the
structure the route takes) or InvalidInput (422: well-formed, but not what the model takes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from shipyard.core.errors import InvalidInput, MalformedRequest
from shipyard.models._signature import Array, ColumnSpec, Signature, TensorSpec

__all__ = [
    "DATATYPES",
    "DecodedRequest",
    "decode_infer",
    "decode_predict",
    "dumps",
    "encode_infer",
    "encode_predict",
    "oip_datatype",
    "tensor_metadata",
]

# OIP datatype -> numpy dtype; BYTES travels as JSON strings or length-prefixed binary.
_NUMPY = {
    "BOOL": np.dtype(bool),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
}
_DATATYPE = {dtype.name: name for name, dtype in _NUMPY.items()}
DATATYPES = (*_NUMPY, "BYTES")
_MAX_DIMS = 8
_MAX_DIM = 2**31 - 1
_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
_KINDS = {"U": "text", "S": "bytes", "O": "mixed or null", "b": "boolean", "f": "float"}
_ORJSON_NATIVE = frozenset(
    np.dtype(name)
    for name in (
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float32",
        "float64",
    )
)


@dataclass(frozen=True)
class DecodedRequest:
    """A request body as the model's payload, with what the caller asked of the answer."""

    payload: Any
    rows: int
    proba: bool = False
    request_id: str | None = None
    binary_output: bool = False


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, option=_OPTIONS)


def oip_datatype(dtype: str) -> str:
    """The OIP datatype of a signature dtype name (strings, categories and objects: BYTES)."""
    return _DATATYPE.get(dtype, "BYTES")


def tensor_metadata(signature: Signature) -> list[dict[str, Any]]:
    """The model's inputs as OIP tensor metadata: one per column, or the one input tensor."""
    inputs = signature.inputs
    if isinstance(inputs, TensorSpec):
        return [{"name": "input", "datatype": oip_datatype(inputs.dtype), "shape": inputs.shape}]
    return [{"name": c.name, "datatype": oip_datatype(c.dtype), "shape": [-1]} for c in inputs]


# ---------------------------------------------------------------- the plain JSON route


def decode_predict(body: bytes, signature: Signature, *, strict: bool) -> DecodedRequest:
    """``{"instances": [records]}`` or ``{"inputs": {column: [values]}}`` (or a tensor list),
    with optional ``"params": {"proba": true}``."""
    document = _json_object(body)
    unknown = sorted(set(document) - {"instances", "inputs", "params"})
    if strict and unknown:
        raise InvalidInput(
            f"Unknown field(s) {unknown} in the request body.",
            hint='Send only "instances" or "inputs", and optionally "params".',
        )
    proba = _proba_param(document.get("params"))
    if ("instances" in document) == ("inputs" in document):
        raise MalformedRequest(
            'The body needs exactly one of "instances" (a list of records) or "inputs" '
            "(a dict of columns).",
            hint='Send e.g. {"instances": [{"age": 42, "plan": "basic"}]}.',
        )
    if "instances" in document:
        payload = document["instances"]
        if not isinstance(payload, list):
            raise MalformedRequest('"instances" must be a list of records (or of rows).')
        rows = len(payload)
        if strict and rows and isinstance(payload[0], Mapping):
            _refuse_extra_fields(payload, signature)
    else:
        payload = document["inputs"]
        if isinstance(payload, Mapping):
            rows = _column_rows(payload)
            if strict:
                _refuse_extra(set(payload), signature)
        elif isinstance(payload, list):
            rows = len(payload)
        else:
            raise MalformedRequest('"inputs" must be a dict of columns or a list of rows.')
    if rows == 0:
        raise InvalidInput("The request has no rows to predict.", hint="Send at least one row.")
    return DecodedRequest(payload, rows, proba)


def encode_predict(
    predictions: Array,
    probabilities: Array | None,
    classes: Sequence[Any] | None,
    *,
    model_name: str,
    model_version: int,
    request_id: str,
) -> bytes:
    content: dict[str, Any] = {"predictions": _jsonable(predictions)}
    if probabilities is not None:
        content["probabilities"] = probabilities
        if classes is not None:
            content["classes"] = list(classes)
    content.update(model_name=model_name, model_version=str(model_version), id=request_id)
    return dumps(content)


def _proba_param(params: Any) -> bool:
    if params is None:
        return False
    if not isinstance(params, Mapping):
        raise MalformedRequest('"params" must be an object such as {"proba": true}.')
    value = params.get("proba", False)
    if not isinstance(value, bool):
        raise InvalidInput('"params.proba" must be true or false.')
    return value


def _column_rows(columns: Mapping[str, Any]) -> int:
    if not columns:
        return 0
    first = next(iter(columns.values()))
    return len(first) if isinstance(first, list) else 1


def _refuse_extra_fields(records: list[Any], signature: Signature) -> None:
    keys: set[str] = set()
    for record in records:
        if isinstance(record, Mapping):
            keys.update(record)
    _refuse_extra(keys, signature)


def _refuse_extra(present: set[str], signature: Signature) -> None:
    expected = _column_names(signature)
    if expected is None:
        return
    extra = sorted(present - set(expected))
    if extra:
        raise InvalidInput(
            f"Unknown input field(s) {extra}; this deployment is strict and the model takes "
            f"{expected}.",
            hint="Remove the extra fields (or serve the deployment with strict = false).",
        )


def _column_names(signature: Signature) -> list[str] | None:
    inputs = signature.inputs
    return None if isinstance(inputs, TensorSpec) else [c.name for c in inputs]


# ---------------------------------------------------------------- Open Inference Protocol v2


def decode_infer(
    body: bytes, signature: Signature, *, strict: bool, header_length: int | None = None
) -> DecodedRequest:
    """An OIP v2 inference request (JSON, or JSON + binary tensors when ``header_length``)."""
    binary = b""
    if header_length is not None:
        if not 0 < header_length <= len(body):
            raise MalformedRequest(
                f"Inference-Header-Content-Length is {header_length}, but the body has "
                f"{len(body)} bytes.",
                hint="Send the length of the JSON header that starts the body.",
            )
        body, binary = body[:header_length], body[header_length:]
    document = _json_object(body)
    unknown = sorted(set(document) - {"id", "inputs", "outputs", "parameters"})
    if strict and unknown:
        raise InvalidInput(
            f"Unknown field(s) {unknown} in the inference request.",
            hint='Send only "id", "inputs", "outputs" and "parameters".',
        )
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise MalformedRequest('"id" must be a string.')
    raw_inputs = document.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise MalformedRequest(
            '"inputs" must be a non-empty list of tensors {"name", "shape", "datatype", "data"}.'
        )
    tensors: dict[str, Array] = {}
    offset = 0
    for position, item in enumerate(raw_inputs):
        name, array, offset = _tensor(item, position, binary, offset)
        if name in tensors:
            raise MalformedRequest(f"Input {name!r} appears more than once.")
        tensors[name] = array
    if offset != len(binary):
        raise MalformedRequest(
            f"The body has {len(binary) - offset} bytes of binary data that no input claims.",
            hint="Set parameters.binary_data_size on each binary input.",
        )
    payload, rows = _payload(tensors, signature, strict=strict)
    if rows == 0:
        raise InvalidInput("The request has no rows to predict.", hint="Send at least one row.")
    proba, binary_output = _requested_outputs(document)
    return DecodedRequest(payload, rows, proba, request_id, binary_output)


def encode_infer(
    predictions: Array,
    probabilities: Array | None,
    *,
    model_name: str,
    model_version: int,
    request_id: str,
    binary: bool,
) -> tuple[bytes, int | None]:
    """The OIP response body and, for binary outputs, the length of its JSON header."""
    outputs = [("predict", predictions)]
    if probabilities is not None:
        outputs.append(("proba", probabilities))
    described = []
    chunks = []
    for name, array in outputs:
        datatype = _DATATYPE.get(array.dtype.name, "BYTES")
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if binary:
            data = _to_binary(array, datatype)
            entry["parameters"] = {"binary_data_size": len(data)}
            chunks.append(data)
        else:
            entry["data"] = _jsonable(array.reshape(-1))
        described.append(entry)
    header = dumps(
        {
            "model_name": model_name,
            "model_version": str(model_version),
            "id": request_id,
            "outputs": described,
        }
    )
    if not binary:
        return header, None
    return header + b"".join(chunks), len(header)


def _tensor(item: Any, position: int, binary: bytes, offset: int) -> tuple[str, Array, int]:
    where = f"Input {position}"
    if not isinstance(item, Mapping):
        raise MalformedRequest(f"{where} is not an object with name, shape, datatype and data.")
    name, shape, datatype = item.get("name"), item.get("shape"), item.get("datatype")
    if not isinstance(name, str) or not name:
        raise MalformedRequest(f"{where} has no name.")
    where = f"Input {name!r}"
    if (
        not isinstance(shape, list)
        or len(shape) > _MAX_DIMS
        or not all(
            isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= _MAX_DIM for d in shape
        )
    ):
        raise MalformedRequest(
            f"{where} needs a shape: a list of at most {_MAX_DIMS} integers from 0 to {_MAX_DIM}."
        )
    if datatype not in DATATYPES:
        raise MalformedRequest(
            f"{where} has datatype {datatype!r}; expected one of {list(DATATYPES)}."
        )
    count = math.prod(shape)
    parameters = item.get("parameters") or {}
    size = parameters.get("binary_data_size") if isinstance(parameters, Mapping) else None
    if size is not None:
        if not isinstance(size, int) or size < 0 or offset + size > len(binary):
            raise MalformedRequest(f"{where} claims more binary data than the body holds.")
        array = _from_binary(binary[offset : offset + size], datatype, count, where)
        offset += size
    else:
        array = _from_json(item.get("data"), datatype, count, where)
    try:
        return name, array.reshape(shape), offset
    except ValueError:  # a 0 somewhere, but the other dimensions multiply past any array
        raise InvalidInput(
            f"{where} has shape {shape}, which no array can have.",
            hint="Send the tensor's real shape, batch dimension first.",
        ) from None


def _from_json(data: Any, datatype: str, count: int, where: str) -> Array:
    if not isinstance(data, list):
        raise MalformedRequest(f'{where} needs its values as a list in "data".')
    try:
        if datatype == "BYTES":
            array = np.array(data, dtype=object).reshape(-1)
            if not all(isinstance(v, str) for v in array):
                raise InvalidInput(f"{where} is BYTES and takes strings only.")
        else:
            array = np.array(data).reshape(-1)
            array = _cast(array, _NUMPY[datatype], where)
    except (ValueError, TypeError, OverflowError) as exc:
        if isinstance(exc, InvalidInput):
            raise
        raise InvalidInput(
            f"{where} does not hold {datatype} values: {exc}.",
            hint="Send a flat or nested list of values of the declared datatype.",
        ) from None
    if array.size != count:
        raise InvalidInput(
            f"{where} has {array.size} values, but its shape needs {count}.",
            hint="Make the shape and the number of values agree.",
        )
    return array


def _cast(array: Array, dtype: np.dtype[Any], where: str) -> Array:
    kind = array.dtype.kind
    # Integers and booleans widen to any numeric type; floats stay floats (no silent rounding).
    ok = (kind in "biu" and dtype.kind in "biuf") or (kind == "f" and dtype.kind == "f")
    if array.size and not ok:
        raise InvalidInput(
            f"{where} declares {_DATATYPE[dtype.name]} but holds {_KINDS.get(kind, 'other')} "
            f"values such as {_plain(array.reshape(-1)[0])!r}.",
            hint="Send numbers for numeric datatypes (null and NaN are not JSON numbers).",
        )
    if dtype.kind in "iu" and array.size and kind in "iu":
        info = np.iinfo(dtype)
        if array.min() < info.min or array.max() > info.max:
            raise InvalidInput(f"{where} has values outside the range of {dtype.name}.")
    with np.errstate(over="ignore"):
        cast = array.astype(dtype, copy=False)
    if dtype.kind == "f" and array.size and not np.isfinite(cast).all():
        raise InvalidInput(
            f"{where} has values outside the range of {dtype.name}.",
            hint="Send smaller numbers, or declare a wider float datatype (FP64).",
        )
    return cast


def _plain(value: Any) -> Any:
    """A numpy scalar as the plain Python value the caller sent (for messages)."""
    return value.item() if isinstance(value, np.generic) else value


def _from_binary(data: bytes, datatype: str, count: int, where: str) -> Array:
    if datatype == "BYTES":
        values: list[str] = []
        position = 0
        while position < len(data):
            if position + 4 > len(data):
                raise MalformedRequest(f"{where} has a truncated BYTES length prefix.")
            length = int.from_bytes(data[position : position + 4], "little")
            position += 4
            if position + length > len(data):
                raise MalformedRequest(f"{where} has a truncated BYTES element.")
            try:
                values.append(data[position : position + length].decode())
            except UnicodeDecodeError:
                raise InvalidInput(f"{where} holds bytes that are not UTF-8 text.") from None
            position += length
        array = np.array(values, dtype=object)
    else:
        dtype = _NUMPY[datatype].newbyteorder("<")
        if len(data) != count * dtype.itemsize:
            raise InvalidInput(
                f"{where} has {len(data)} bytes of binary data; its shape and datatype "
                f"need {count * dtype.itemsize}."
            )
        array = np.frombuffer(data, dtype=dtype).astype(_NUMPY[datatype])
    if array.size != count:
        raise InvalidInput(f"{where} has {array.size} values, but its shape needs {count}.")
    return array


def _to_binary(array: Array, datatype: str) -> bytes:
    if datatype != "BYTES":
        return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    parts = []
    for value in array.reshape(-1).tolist():
        encoded = str(value).encode()
        parts.append(len(encoded).to_bytes(4, "little") + encoded)
    return b"".join(parts)


def _payload(tensors: dict[str, Array], signature: Signature, *, strict: bool) -> tuple[Any, int]:
    """Named tensors as the model's payload: columns by name, or one positional matrix."""
    inputs = signature.inputs
    if isinstance(inputs, TensorSpec):
        if len(tensors) != 1:
            raise InvalidInput(
                f"This model takes one input tensor; got {len(tensors)}: {sorted(tensors)}.",
                hint="Send the whole input as one tensor.",
            )
        (array,) = tensors.values()
        return array, int(array.shape[0]) if array.ndim else 1
    names = [c.name for c in inputs]
    if strict:
        _refuse_extra(set(tensors), signature)
    if all(name in tensors for name in names):
        columns = {spec.name: _column(tensors[spec.name], spec) for spec in inputs}
        rows = {len(v) for v in columns.values()}
        if len(rows) > 1:
            raise InvalidInput(
                f"The input tensors have different numbers of rows: {sorted(rows)}.",
                hint="Send the same number of values for every column.",
            )
        return columns, rows.pop()
    if len(tensors) == 1:
        (array,) = tensors.values()
        if array.ndim == 2 and array.shape[1] == len(names):
            return array, int(array.shape[0])
    missing = [n for n in names if n not in tensors]
    raise InvalidInput(
        f"Missing input tensor(s) {missing}; the model takes one tensor per column "
        f"{names}, or one [rows, {len(names)}] tensor with the columns in that order.",
        hint="See GET /v2/models/{name} for the inputs.",
    )


def _column(array: Array, spec: ColumnSpec) -> Array:
    if array.ndim == 2 and array.shape[1] == 1:
        return array.reshape(-1)
    if array.ndim != 1:
        raise InvalidInput(
            f"Input {spec.name!r} has shape {list(array.shape)}; a column is [rows] or [rows, 1].",
            hint="Send one value per row for each column.",
        )
    return array


def _requested_outputs(document: Mapping[str, Any]) -> tuple[bool, bool]:
    """(probabilities wanted, binary outputs wanted) from "outputs" and "parameters"."""
    parameters = document.get("parameters") or {}
    if not isinstance(parameters, Mapping):
        raise MalformedRequest('"parameters" must be an object.')
    binary = parameters.get("binary_data_output") is True
    outputs = document.get("outputs")
    if outputs is None:
        return False, binary
    if not isinstance(outputs, list) or not all(
        isinstance(o, Mapping) and isinstance(o.get("name"), str) for o in outputs
    ):
        raise MalformedRequest('"outputs" must be a list of {"name": ...} objects.')
    names = [o["name"] for o in outputs]
    unknown = sorted(set(names) - {"predict", "proba"})
    if unknown:
        raise InvalidInput(
            f"Unknown output(s) {unknown}; this server returns 'predict' and, for "
            "classifiers, 'proba'.",
        )
    for output in outputs:
        params = output.get("parameters") or {}
        if isinstance(params, Mapping) and params.get("binary_data") is True:
            binary = True
    return "proba" in names, binary


# ---------------------------------------------------------------- shared


def _json_object(body: bytes) -> dict[str, Any]:
    if not body:
        raise MalformedRequest("The request body is empty.", hint="Send a JSON object.")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest(
            f"The request body is not valid JSON: {exc}.",
            hint="Send a JSON object; NaN and Infinity are not JSON (use null).",
        ) from None
    if not isinstance(document, dict):
        raise MalformedRequest(
            f"The request body is a JSON {type(document).__name__}; it must be an object."
        )
    return document


def _jsonable(array: Array) -> Any:
    """orjson writes numeric arrays natively; others (strings, objects) go through tolist()."""
    if array.dtype in _ORJSON_NATIVE:
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            values = array.astype(object)
            values[~np.isfinite(array)] = None
            return values.tolist()
        return np.ascontiguousarray(array)
    return array.tolist()
