"""``shipyard serve``: run the model server for one model URI or a deployment file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the root ``shipyard`` command."""
    app.command("serve")(serve)


def serve(
    uri: Annotated[
        str | None,
        typer.Argument(help="models:/NAME@ALIAS or models:/NAME/VERSION (or use -f)."),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="Deployment TOML file: [server], [[deployments]]."),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Deployment (route) name; default: the model's name.")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Address to bind [default: 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [default: 8000].")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes [default: 1].")] = None,
    backend: Annotated[
        str | None, typer.Option(help="auto (ONNX when verified), native or onnx.")
    ] = None,
    max_batch_size: Annotated[int | None, typer.Option(help="Rows per batch [64].")] = None,
    max_wait_ms: Annotated[
        float | None, typer.Option(help="Longest wait for a batch to fill [2].")
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Refuse unknown input fields with 422.")
    ] = False,
    allow_host: Annotated[
        list[str] | None,
        typer.Option("--allow-host", help="Accepted Host header name (repeatable; '*': any)."),
    ] = None,
    no_access_log: Annotated[
        bool, typer.Option("--no-access-log", help="Do not write the JSON access log.")
    ] = False,
    no_inference_log: Annotated[
        bool, typer.Option("--no-inference-log", help="Do not log predictions to Parquet.")
    ] = False,
) -> None:
    """Serve models over HTTP: Open Inference Protocol v2 and POST /v1/models/NAME:predict.

    The server follows the alias: when it moves, the new version is loaded, warmed and swapped
    in without dropping requests. Set SHIPYARD_API_TOKEN to require a bearer token.
    """
    from shipyard.core.errors import InvalidInput
    from shipyard.serve._config import ServeConfig, load_deployment_file
    from shipyard.serve._server import check_config, run_server, single_model

    server: dict[str, Any] = _given(
        host=host,
        port=port,
        workers=workers,
        allowed_hosts=allow_host or None,
        access_log=False if no_access_log else None,
        inference_log=False if no_inference_log else None,
    )
    deployment: dict[str, Any] = _given(
        backend=backend, max_batch_size=max_batch_size, max_wait_ms=max_wait_ms
    )
    if strict:
        deployment["strict"] = True
    if (uri is None) == (file is None):
        raise InvalidInput(
            "Give either a model URI or a deployment file (-f), not both or neither.",
            hint="e.g. shipyard serve models:/churn@champion, or shipyard serve -f deploy.toml.",
        )
    if file is not None:
        loaded = load_deployment_file(file)
        data = loaded.model_dump()
        data["server"].update(server)
        for spec in data["deployments"]:
            spec.update(deployment)
        config = ServeConfig.parse(data, source=str(file))
    else:
        assert uri is not None
        config = single_model(uri, name=name, **server, **deployment)
    check_config(config)
    settings = config.server
    names = ", ".join(d.name for d in config.deployments)
    typer.echo(
        f"Serving {names} on http://{settings.host}:{settings.port} "
        f"({settings.workers} worker{'s' if settings.workers > 1 else ''}); Ctrl+C stops.",
        err=True,
    )
    run_server(config)


def _given(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}
