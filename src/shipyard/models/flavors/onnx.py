"""ONNX models given as an ``onnx.ModelProto`` (or as bytes with ``flavor="onnx"``), run with
onnxruntime on CPU.

A model with one input is fed the whole prepared input; a model with several inputs is fed one
column per input, matched by name. ``predict`` returns the first output; ``predict_proba`` the
output whose name mentions probabilities, when there is one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from shipyard.core.errors import InvalidInput
from shipyard.models._flavor import Flavor, built_on, distribution_versions

if TYPE_CHECKING:
    from shipyard.models._signature import Signature

__all__ = ["OnnxFlavor"]

_FILE = "model.onnx"
_NUMPY_TYPES = {
    "tensor(double)": np.float64,
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
    "tensor(string)": np.object_,
}


class OnnxFlavor(Flavor):
    """An ONNX graph; its ONNX form is itself, so ``backend="onnx"`` works too."""

    name: ClassVar[str] = "onnx"

    def handles(self, model: object) -> bool:
        return built_on(model, "onnx") and type(model).__name__ == "ModelProto"

    def save(
        self, model: Any, files: dict[str, bytes], options: Mapping[str, Any]
    ) -> dict[str, Any]:
        import onnx

        data = _serialize(model)
        try:
            proto = onnx.load_from_string(data)
            onnx.checker.check_model(proto)
        except Exception as exc:  # protobuf and checker errors have no common base class
            raise InvalidInput(
                f"The ONNX model is not valid: {type(exc).__name__}: {exc}",
                hint="Export it again, or check it with onnx.checker.check_model().",
            ) from exc
        files[_FILE] = data
        return {
            "file": _FILE,
            "inputs": [i.name for i in proto.graph.input],
            "outputs": [o.name for o in proto.graph.output],
            "opsets": {o.domain or "ai.onnx": o.version for o in proto.opset_import},
        }

    def load(self, read: Callable[[str], bytes], meta: Mapping[str, Any]) -> Any:
        from shipyard.models._onnx import new_session

        return new_session(read(meta.get("file", _FILE)), threads=None)

    def predict(self, model: Any, inputs: Any, meta: Mapping[str, Any]) -> Any:
        return _decode(model.run(None, _feed(model, inputs))[0])

    def predict_proba(self, model: Any, inputs: Any, meta: Mapping[str, Any]) -> Any:
        names = [o.name for o in model.get_outputs()]
        proba = next((n for n in names if "prob" in n.lower()), None)
        if proba is None:
            return super().predict_proba(model, inputs, meta)
        return _decode(model.run([proba], _feed(model, inputs))[0])

    def to_onnx(self, model: Any, signature: Signature, example: Any) -> bytes | None:
        return _serialize(model)

    def library_versions(self) -> dict[str, str]:
        return distribution_versions(["onnx", "onnxruntime", "numpy"])


def _serialize(model: Any) -> bytes:
    if isinstance(model, bytes | bytearray):
        return bytes(model)
    if hasattr(model, "SerializeToString"):
        return bytes(model.SerializeToString())
    raise InvalidInput(
        f"The onnx flavor takes an onnx.ModelProto or its bytes; got {type(model).__name__}.",
        hint="Load the model with onnx.load() first.",
    )


def _feed(session: Any, inputs: Any) -> dict[str, Any]:
    specs = session.get_inputs()
    if len(specs) == 1:
        values = inputs.to_numpy() if isinstance(inputs, pd.DataFrame) else np.asarray(inputs)
        return {specs[0].name: values.astype(_NUMPY_TYPES.get(specs[0].type, values.dtype))}
    if not isinstance(inputs, pd.DataFrame):
        raise InvalidInput(
            f"This ONNX model has {len(specs)} inputs {[s.name for s in specs]}; it needs one "
            "column per input.",
            hint="Package it with an input_example DataFrame whose columns are the input names.",
        )
    return {
        s.name: inputs[s.name].to_numpy().reshape(-1, 1).astype(_NUMPY_TYPES.get(s.type, object))
        for s in specs
    }


def _decode(output: Any) -> Any:
    """ZipMap outputs (a list of {class: probability}) as a (n_rows, n_classes) array."""
    if isinstance(output, list) and output and isinstance(output[0], dict):
        keys = list(output[0])
        return np.array([[row[k] for k in keys] for row in output])
    return output
