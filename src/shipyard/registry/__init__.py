"""The model registry: numbered versions, aliases, URIs and an audit trail of every change."""

from shipyard.registry._api import (
    delete_alias,
    get_model_version,
    list_model_versions,
    list_models,
    load_model,
    model_history,
    register_model,
    registry_service,
    resolve_model,
    set_alias,
    set_model_version_tags,
    update_model_version,
)
from shipyard.registry._records import (
    AuditEvent,
    ModelVersion,
    ModelVersionStatus,
    RegisteredModel,
)
from shipyard.registry._service import RegistryService
from shipyard.registry._uris import ModelUri, RunModelUri, check_alias, parse_model_uri

__all__ = [
    "AuditEvent",
    "ModelUri",
    "ModelVersion",
    "ModelVersionStatus",
    "RegisteredModel",
    "RegistryService",
    "RunModelUri",
    "check_alias",
    "delete_alias",
    "get_model_version",
    "list_model_versions",
    "list_models",
    "load_model",
    "model_history",
    "parse_model_uri",
    "register_model",
    "registry_service",
    "resolve_model",
    "set_alias",
    "set_model_version_tags",
    "update_model_version",
]
