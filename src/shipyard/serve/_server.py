"""Running the server with uvicorn: one process, or several workers sharing the port.

uvicorn owns the shutdown: on SIGTERM or SIGINT it stops accepting connections, lets in-flight
requests finish (up to ``drain_seconds``), then runs the app's lifespan shutdown, where batches
drain and the inference log is flushed. The process then exits 0.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from types import FrameType
from typing import Any

from shipyard.core.errors import ConfigError
from shipyard.serve._config import DeploymentSpec, ServeConfig, ServerSettings

__all__ = ["CONFIG_ENV", "app_from_environment", "check_config", "run_server", "single_model"]

CONFIG_ENV = "SHIPYARD_SERVE_CONFIG"


def single_model(uri: str, *, name: str | None = None, **options: Any) -> ServeConfig:
    """The config of ``shipyard serve URI``: one deployment named after the model."""
    from shipyard.serve._deployment import model_uri

    server_options = {k: v for k, v in options.items() if k in ServerSettings.model_fields}
    deployment_options = {k: v for k, v in options.items() if k in DeploymentSpec.model_fields}
    model_name = model_uri(uri, what="The model to serve").name
    return ServeConfig.parse(
        {
            "server": server_options,
            "deployments": [{"name": name or model_name, "model": uri, **deployment_options}],
        },
        source="the command line",
    )


def check_config(config: ServeConfig) -> None:
    """Resolve every target now, so that a typo fails the command instead of the first request."""
    from shipyard.registry import resolve_model
    from shipyard.serve._deployment import targets_of

    for spec in config.deployments:
        _, targets, shadow = targets_of(spec)
        for target in [*targets, *([shadow] if shadow else [])]:
            resolve_model(target.uri)


def run_server(config: ServeConfig) -> None:
    """Serve until SIGTERM/SIGINT; blocks. Several workers re-read the config from the env."""
    import uvicorn

    server = config.server
    options: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "lifespan": "on",
        "access_log": False,  # Shipyard writes its own structured access log
        "server_header": False,
        "proxy_headers": False,  # X-Forwarded-* are not trusted: a proxy may not be there
        "timeout_graceful_shutdown": int(server.drain_seconds),
        "log_config": None,
    }
    _configure_logging()
    # uvicorn drains, then re-raises the signal it caught; with this handler in place that
    # ends the process with status 0, which is what orchestrators expect of a clean SIGTERM.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    if server.workers > 1:
        os.environ[CONFIG_ENV] = config.to_env()
        uvicorn.run(
            "shipyard.serve._server:app_from_environment",
            factory=True,
            workers=server.workers,
            **options,
        )
    else:
        from shipyard.serve._app import build_app

        uvicorn.run(build_app(config), **options)


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def app_from_environment() -> Any:
    """The app of one worker process, from the config its parent put in the environment."""
    from shipyard.serve._app import build_app

    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise ConfigError(f"{CONFIG_ENV} is not set; start workers with `shipyard serve`.")
    _configure_logging()
    return build_app(ServeConfig.model_validate_json(text))


def _configure_logging() -> None:
    """Server messages to stderr; the access log (one JSON object per line) to stdout."""
    if getattr(_configure_logging, "done", False):
        return
    server = logging.getLogger("shipyard.serve")
    if not server.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        server.addHandler(handler)
        server.setLevel(logging.INFO)
    access = logging.getLogger("shipyard.serve.access")
    if not access.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(handler)
        access.setLevel(logging.INFO)
        access.propagate = False
    for name in ("uvicorn",):
        uv = logging.getLogger(name)
        if not uv.handlers:
            uv.addHandler(server.handlers[0])
            uv.setLevel(logging.INFO)
    _configure_logging.done = True  # type: ignore[attr-defined]
