"""Shipyard: take a model from idea to production and keep it healthy there.

``import shipyard as sy`` is cheap: the public names load their modules on first use
(PEP 562), so the CLI and short scripts do not pay for what they do not call.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from shipyard._version import __version__

if TYPE_CHECKING:
    from shipyard.core.errors import (
        ArtifactCorrupted,
        ConfigError,
        Conflict,
        InvalidArtifactName,
        InvalidFilter,
        InvalidInput,
        NotFound,
        RunFailed,
        ShipyardError,
        StoreError,
    )
    from shipyard.data import (
        DatasetVersion,
        ValidationReport,
        get_dataset,
        list_datasets,
        load_dataset,
        log_dataset,
        validate,
    )
    from shipyard.evaluation import (
        Comparison,
        Evaluation,
        GateResult,
        compare,
        evaluate,
        gate,
        promote,
        rollback,
    )
    from shipyard.models import LoadedModel, ModelRef, PythonModel, Signature, log_model
    from shipyard.pipelines import PipelineRun, pipeline, step
    from shipyard.registry import (
        ModelVersion,
        delete_alias,
        get_model_version,
        list_model_versions,
        list_models,
        load_model,
        model_history,
        register_model,
        set_alias,
        update_model_version,
    )
    from shipyard.tracking import (
        Run,
        RunPage,
        RunRecord,
        RunStatus,
        active_run,
        get_run,
        list_experiments,
        log_artifact,
        log_figure,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        search_runs,
        set_tag,
        set_tags,
        start_run,
    )
    from shipyard.tuning import TuneResult, tune

__all__ = [
    "ArtifactCorrupted",
    "Comparison",
    "ConfigError",
    "Conflict",
    "DatasetVersion",
    "Evaluation",
    "GateResult",
    "InvalidArtifactName",
    "InvalidFilter",
    "InvalidInput",
    "LoadedModel",
    "ModelRef",
    "ModelVersion",
    "NotFound",
    "PipelineRun",
    "PythonModel",
    "Run",
    "RunFailed",
    "RunPage",
    "RunRecord",
    "RunStatus",
    "ShipyardError",
    "Signature",
    "StoreError",
    "TuneResult",
    "ValidationReport",
    "__version__",
    "active_run",
    "compare",
    "delete_alias",
    "evaluate",
    "gate",
    "get_dataset",
    "get_model_version",
    "get_run",
    "list_datasets",
    "list_experiments",
    "list_model_versions",
    "list_models",
    "load_dataset",
    "load_model",
    "log_artifact",
    "log_dataset",
    "log_figure",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "model_history",
    "pipeline",
    "promote",
    "register_model",
    "rollback",
    "search_runs",
    "set_alias",
    "set_tag",
    "set_tags",
    "start_run",
    "step",
    "tune",
    "update_model_version",
    "validate",
]

_HOMES = {
    "shipyard.core.errors": (
        "ArtifactCorrupted",
        "ConfigError",
        "Conflict",
        "InvalidArtifactName",
        "InvalidFilter",
        "InvalidInput",
        "NotFound",
        "RunFailed",
        "ShipyardError",
        "StoreError",
    ),
    "shipyard.data": (
        "DatasetVersion",
        "ValidationReport",
        "get_dataset",
        "list_datasets",
        "load_dataset",
        "log_dataset",
        "validate",
    ),
    "shipyard.evaluation": (
        "Comparison",
        "Evaluation",
        "GateResult",
        "compare",
        "evaluate",
        "gate",
        "promote",
        "rollback",
    ),
    "shipyard.models": ("LoadedModel", "ModelRef", "PythonModel", "Signature", "log_model"),
    "shipyard.pipelines": ("PipelineRun", "pipeline", "step"),
    "shipyard.registry": (
        "ModelVersion",
        "delete_alias",
        "get_model_version",
        "list_model_versions",
        "list_models",
        "load_model",
        "model_history",
        "register_model",
        "set_alias",
        "update_model_version",
    ),
    "shipyard.tuning": ("TuneResult", "tune"),
    "shipyard.tracking": (
        "Run",
        "RunPage",
        "RunRecord",
        "RunStatus",
        "active_run",
        "get_run",
        "list_experiments",
        "log_artifact",
        "log_figure",
        "log_metric",
        "log_metrics",
        "log_param",
        "log_params",
        "search_runs",
        "set_tag",
        "set_tags",
        "start_run",
    ),
}
_WHERE = {name: module for module, names in _HOMES.items() for name in names}
# Subpackages reachable as attributes (``sy.tuning.loguniform``) without an explicit import.
_SUBPACKAGES = {
    "data",
    "evaluation",
    "integrations",
    "models",
    "monitor",
    "pipelines",
    "registry",
    "serve",
    "tracking",
    "tuning",
}


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"shipyard.{name}")
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'shipyard' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
