"""``shipyard ui``: the web dashboard on 127.0.0.1 (by default)."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("ui")(ui)


def ui(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port.")] = 8080,
    allow_host: Annotated[
        list[str] | None,
        typer.Option("--allow-host", help="Accepted Host header name (repeatable; '*': any)."),
    ] = None,
    allow_origin: Annotated[
        list[str] | None,
        typer.Option("--allow-origin", help="Browser origin allowed to post (repeatable)."),
    ] = None,
    server: Annotated[
        list[str] | None,
        typer.Option("--server", help="Model server URL whose live state to show (repeatable)."),
    ] = None,
) -> None:
    """Serve the dashboard: runs, datasets, models and model cards, deployments, monitoring.

    With SHIPYARD_API_TOKEN set, promoting, rolling back and notes need the token.
    """
    import uvicorn

    from shipyard.ui import create_app

    hosts = None
    if allow_host or host not in ("127.0.0.1", "localhost", "::1"):
        hosts = ["127.0.0.1", "localhost", "[::1]", host, *(allow_host or ())]
    app = create_app(allowed_hosts=hosts, allowed_origins=allow_origin or (), servers=server)
    typer.echo(f"Shipyard dashboard on http://{host}:{port}/")
    uvicorn.run(app, host=host, port=port, log_level="warning")
