"""Logging a model into a run and opening it again from the run's verified artifacts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInput, NotFound
from shipyard.models._ref import MODEL_META_FILE, ModelRef
from shipyard.store import validate_artifact_name
from shipyard.tracking import Run, TrackingService, active_run

if TYPE_CHECKING:
    from shipyard.models._package import LoadedModel

__all__ = ["log_model", "open_logged_model"]


def log_model(
    model: Any,
    name: str,
    *,
    input_example: Any,
    run: Run | None = None,
    flavor: str | None = None,
    options: Mapping[str, Any] | None = None,
    convert_onnx: bool = True,
) -> ModelRef:
    """Package ``model`` and store it in ``run`` (default: the active run) under ``name``.

    The flavor is picked from the model's type unless named; the signature is inferred from
    ``input_example`` and the model's prediction on it. Where the model converts to ONNX and
    the ONNX form predicts the same on the example, it is stored too.
    """
    from shipyard.models._package import package_model

    run = run if run is not None else active_run()
    if run is None:
        raise InvalidInput(
            "log_model needs a run.",
            hint="Call it inside `with sy.start_run():`, or as run.log_model(...).",
        )
    name = validate_artifact_name(name)
    package = package_model(
        model,
        input_example=input_example,
        flavor=flavor,
        options=options,
        convert_onnx=convert_onnx,
    )
    service = run._service
    for file_name, data in package.files.items():
        service.log_artifact_bytes(run.id, f"{name}/{file_name}", data)
    # The metadata goes last: until it is stored, loaders do not see a model here.
    meta = json.dumps(package.meta, indent=2, sort_keys=True, allow_nan=False).encode()
    service.log_artifact_bytes(run.id, f"{name}/{MODEL_META_FILE}", meta)
    onnx = package.meta.get("onnx") or {}
    return ModelRef(run.id, name, package.meta["flavor"], onnx.get("status") == "verified")


def open_logged_model(
    service: TrackingService,
    run_id: str,
    path: str,
    *,
    backend: str = "native",
    load_options: Mapping[str, Any] | None = None,
) -> LoadedModel:
    """Open the model logged in ``run_id`` at ``path``; every file is checksum-verified."""
    from shipyard.models._package import open_package

    run_id = service.resolve_run_id(run_id)
    path = validate_artifact_name(path)
    try:
        meta = json.loads(service.get_artifact(run_id, f"{path}/{MODEL_META_FILE}"))
    except NotFound:
        raise NotFound(
            f"Run {run_id} has no model at {path!r}.",
            hint=f"List the run's files with: shipyard artifacts list {run_id}.",
        ) from None
    files = set(meta.get("files", ()))

    def read(file_name: str) -> bytes:
        if file_name not in files:
            raise NotFound(f"The model at runs:/{run_id}/{path} has no file {file_name!r}.")
        return service.get_artifact(run_id, f"{path}/{file_name}")

    return open_package(read, meta, backend=backend, load_options=load_options)
