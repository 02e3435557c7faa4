"""The module-level registry API: ``sy.register_model``, ``sy.set_alias``, ``sy.load_model`` …"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shipyard.models._log import open_logged_model
from shipyard.models._ref import ModelRef
from shipyard.registry._records import AuditEvent, ModelVersion, RegisteredModel
from shipyard.registry._service import RegistryService
from shipyard.registry._uris import RunModelUri, parse_model_uri
from shipyard.tracking import tracking_service

if TYPE_CHECKING:
    from shipyard.models._package import LoadedModel

__all__ = [
    "delete_alias",
    "get_model_version",
    "list_model_versions",
    "list_models",
    "load_model",
    "model_history",
    "register_model",
    "registry_service",
    "resolve_model",
    "set_alias",
    "set_model_version_tags",
    "update_model_version",
]


def registry_service(workspace: str | os.PathLike[str] | None = None) -> RegistryService:
    return RegistryService(tracking_service(workspace))


def register_model(
    model: ModelRef | str,
    name: str,
    *,
    description: str | None = None,
    tags: Mapping[str, Any] | None = None,
    reason: str | None = None,
) -> ModelVersion:
    """Register a logged model (``ModelRef``, ``runs:/RUN/PATH`` or ``models:/…``) under ``name``.

    Returns version N+1, linked to its run, the run's metrics and its input dataset versions.
    """
    return registry_service().register(
        model, name, description=description, tags=tags, reason=reason
    )


def set_alias(
    name: str,
    alias: str,
    version: int,
    *,
    reason: str | None = None,
    evidence: Mapping[str, Any] | None = None,
) -> ModelVersion:
    """Point ``models:/name@alias`` at ``version`` (creating or moving the alias).

    ``evidence`` is kept with the move in the audit trail (e.g. the gate report's location).
    """
    return registry_service().set_alias(name, alias, version, reason=reason, evidence=evidence)


def delete_alias(name: str, alias: str, *, reason: str | None = None) -> None:
    registry_service().delete_alias(name, alias, reason=reason)


def update_model_version(
    name: str,
    version: int,
    *,
    description: str | None = None,
    status: str | None = None,
    reason: str | None = None,
) -> ModelVersion:
    return registry_service().update_version(
        name, version, description=description, status=status, reason=reason
    )


def set_model_version_tags(
    name: str, version: int, tags: Mapping[str, Any], *, reason: str | None = None
) -> ModelVersion:
    return registry_service().set_version_tags(name, version, tags, reason=reason)


def get_model_version(name: str, version: int) -> ModelVersion:
    return registry_service().get_version(name, version)


def list_models() -> list[RegisteredModel]:
    return registry_service().list_models()


def list_model_versions(name: str) -> list[ModelVersion]:
    return registry_service().list_versions(name)


def model_history(name: str) -> list[AuditEvent]:
    """Every change to ``name``, oldest first: who, when, what and why."""
    return registry_service().history(name)


def resolve_model(uri: str) -> ModelVersion:
    """The registered version a ``models:/`` URI names now."""
    return registry_service().resolve(uri)


def load_model(
    uri: str | ModelRef | ModelVersion,
    *,
    backend: str = "native",
    load_options: Mapping[str, Any] | None = None,
) -> LoadedModel:
    """Open a model by URI (``models:/churn/3``, ``models:/churn@champion``, ``runs:/RUN/PATH``).

    ``backend="onnx"`` runs the verified ONNX form with ONNX Runtime when one was stored. The
    returned model's ``predict`` checks its input against the signature.
    """
    service = registry_service()
    if isinstance(uri, (ModelRef, ModelVersion)):
        run_id, path = uri.run_id, uri.artifact_path
    else:
        parsed = parse_model_uri(uri)
        if isinstance(parsed, RunModelUri):
            run_id, path = parsed.run_id, parsed.artifact_path
        else:
            found = service.resolve(parsed)
            run_id, path = found.run_id, found.artifact_path
    return open_logged_model(
        service.tracking, run_id, path, backend=backend, load_options=load_options
    )
