"""The server's OpenAPI document, with each deployment's request schema built from the
signature of the version it serves: clients and fuzzers see the real columns and types."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard import __version__
from shipyard.models._package import forbids_missing
from shipyard.models._signature import ColumnSpec, TensorSpec
from shipyard.serve._protocol import DATATYPES

if TYPE_CHECKING:
    from shipyard.serve._app import ServerState
    from shipyard.serve._deployment import Deployment

__all__ = ["openapi_document"]

_ERROR = {"$ref": "#/components/schemas/Error"}


def openapi_document(state: ServerState) -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/v2/health/live": _get("Liveness", {"type": "object"}),
        "/v2/health/ready": _get("Readiness: 200 once every deployment has loaded", None),
        "/v2": _get("Server metadata (Open Inference Protocol)", {"type": "object"}),
        "/v1/deployments": _get("What each deployment serves now", {"type": "object"}),
        "/metrics": _get("Prometheus metrics", None, media="text/plain"),
    }
    for deployment in state.deployments.values():
        paths.update(_deployment_paths(deployment))
    return {
        "openapi": "3.0.3",
        "info": {"title": "Shipyard model server", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "code"],
                    "properties": {
                        "error": {"type": "string"},
                        "code": {"type": "string"},
                        "hint": {"type": "string"},
                        "id": {"type": "string"},
                    },
                },
                "InferTensor": {
                    "type": "object",
                    "required": ["name", "shape", "datatype", "data"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "shape": {
                            "type": "array",
                            "items": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
                            "maxItems": 8,
                        },
                        "datatype": {"enum": list(DATATYPES)},
                        "data": {"type": "array"},
                    },
                },
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _deployment_paths(deployment: Deployment) -> dict[str, Any]:
    name = deployment.name
    current = deployment.variants[0].current
    row, columns = _row_schema(current.model if current else None)
    predict_body = {
        "oneOf": [
            {
                "type": "object",
                "required": ["instances"],
                "properties": {
                    "instances": {"type": "array", "items": row, "minItems": 1},
                    "params": {"type": "object", "properties": {"proba": {"type": "boolean"}}},
                },
            },
            {
                "type": "object",
                "required": ["inputs"],
                "properties": {"inputs": columns},
            },
        ]
    }
    prediction = {
        "type": "object",
        "properties": {
            "predictions": {"type": "array"},
            "probabilities": {"type": "array"},
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
        },
    }
    infer_body = {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "inputs": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/InferTensor"},
                "minItems": 1,
            },
            "outputs": {
                "type": "array",
                "items": {"type": "object", "properties": {"name": {"type": "string"}}},
            },
        },
    }
    feedback_body = {
        "type": "object",
        "required": ["request_id", "label"],
        "properties": {
            "request_id": {"type": "string"},
            "label": {"oneOf": [{"type": "number"}, {"type": "string"}, {"type": "boolean"}]},
            "row": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
        },
    }
    return {
        f"/v1/models/{name}:predict": _post(
            f"Predict with deployment {name} (records or columns)", predict_body, prediction
        ),
        f"/v1/models/{name}/feedback": _post(
            f"Record ground truth for {name}'s predictions by request id",
            feedback_body,
            {"type": "object"},
        ),
        f"/v2/models/{name}": _get(f"{name}: Open Inference Protocol metadata", {"type": "object"}),
        f"/v2/models/{name}/ready": _get(f"{name}: readiness", {"type": "object"}),
        f"/v2/models/{name}/infer": _post(
            f"{name}: Open Inference Protocol inference", infer_body, {"type": "object"}
        ),
    }


def _row_schema(model: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(one record, a dict of columns) as JSON schemas for the model's column inputs."""
    if model is None or isinstance(model.signature.inputs, TensorSpec):
        return {"type": "array"}, {"type": "array"}
    nullable_floats = not forbids_missing(model.metadata)
    properties = {c.name: _column_schema(c, nullable_floats) for c in model.signature.inputs}
    required = list(properties)
    row = {"type": "object", "required": required, "properties": properties}
    columns = {
        "type": "object",
        "required": required,
        "properties": {
            name: {"type": "array", "items": schema, "minItems": 1}
            for name, schema in properties.items()
        },
    }
    return row, columns


def _column_schema(column: ColumnSpec, nullable_floats: bool) -> dict[str, Any]:
    dtype = column.dtype
    if dtype == "category":
        return {"enum": list(column.categories or ())}
    if dtype == "bool":
        return {"type": "boolean"}
    if dtype.startswith(("int", "uint")):
        info = np.iinfo(np.dtype(dtype))
        return {"type": "integer", "minimum": int(info.min), "maximum": int(info.max)}
    if dtype.startswith("float"):
        return {"type": "number", "nullable": True} if nullable_floats else {"type": "number"}
    if dtype.startswith("datetime"):
        return {"type": "string", "format": "date-time"}
    return {"type": "string"}


def _get(summary: str, schema: dict[str, Any] | None, *, media: str = "application/json") -> Any:
    ok: dict[str, Any] = {"description": "OK"}
    if schema is not None:
        ok["content"] = {media: {"schema": schema}}
    return {"get": {"summary": summary, "responses": {"200": ok, **_errors()}}}


def _post(summary: str, body: dict[str, Any], response: dict[str, Any]) -> Any:
    return {
        "post": {
            "summary": summary,
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": response}}},
                **_errors(),
            },
        }
    }


def _errors() -> dict[str, Any]:
    described = {
        "400": "Malformed body",
        "401": "Missing or wrong bearer token",
        "403": "Host or Origin not allowed",
        "404": "Unknown deployment or version",
        "413": "Body too large",
        "415": "Not JSON",
        "422": "The input does not fit the model's signature",
        "503": "Overloaded, loading or timed out; retry",
    }
    content = {"application/json": {"schema": _ERROR}}
    return {code: {"description": text, "content": content} for code, text in described.items()}
