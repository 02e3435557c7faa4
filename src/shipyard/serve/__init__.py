"""Serving: the model server (Open Inference Protocol v2 and a JSON route), its inference log,
and batch inference over files.

Names load on first use (PEP 562): ``import shipyard.serve`` stays cheap, and the server's
parts (Starlette, uvicorn, onnxruntime) load only when a server is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.core.lazy import lazy_exports

if TYPE_CHECKING:
    from shipyard.serve._app import build_app
    from shipyard.serve._batch import BatchSummary, predict_file
    from shipyard.serve._config import (
        DeploymentSpec,
        ServeConfig,
        ServerSettings,
        load_deployment_file,
    )
    from shipyard.serve._log_readers import (
        logged_deployments,
        read_feedback,
        read_inference_log,
    )
    from shipyard.serve._server import run_server, single_model

__all__ = [
    "BatchSummary",
    "DeploymentSpec",
    "ServeConfig",
    "ServerSettings",
    "build_app",
    "load_deployment_file",
    "logged_deployments",
    "predict_file",
    "read_feedback",
    "read_inference_log",
    "run_server",
    "single_model",
]

_HOMES = {
    "shipyard.serve._app": ("build_app",),
    "shipyard.serve._batch": ("BatchSummary", "predict_file"),
    "shipyard.serve._config": (
        "DeploymentSpec",
        "ServeConfig",
        "ServerSettings",
        "load_deployment_file",
    ),
    "shipyard.serve._log_readers": (
        "logged_deployments",
        "read_feedback",
        "read_inference_log",
    ),
    "shipyard.serve._server": ("run_server", "single_model"),
}
__getattr__, __dir__ = lazy_exports(__name__, _HOMES, __all__)
