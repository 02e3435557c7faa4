"""``shipyard ui``: the web dashboard on 127.0.0.1 (by default).

Reachable from other machines (a non-loopback ``--host`` or ``--allow-host``, or ``'*'``), its
actions — promote, roll back, notes — would be open to the network and, with any Host accepted,
to DNS rebinding; so it refuses to start that way without ``SHIPYARD_API_TOKEN``, unless
``--no-auth`` says that is meant.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from typing import Annotated

import typer

__all__ = ["check_exposure", "register"]


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
    no_auth: Annotated[
        bool,
        typer.Option(
            "--no-auth",
            help="Serve beyond this machine without SHIPYARD_API_TOKEN: anyone who can reach "
            "the dashboard can then promote, roll back and add notes.",
        ),
    ] = False,
) -> None:
    """Serve the dashboard: runs, datasets, models and model cards, deployments, monitoring.

    With SHIPYARD_API_TOKEN set, promoting, rolling back and notes need the token. Serving on a
    non-loopback address or for other Host names needs the token (or --no-auth).
    """
    token = os.environ.get("SHIPYARD_API_TOKEN") or None
    check_exposure(host, allow_host or (), token=token, no_auth=no_auth)
    if token is None and no_auth and _exposed(host, allow_host or ()):
        typer.echo("Warning: --no-auth: the dashboard's actions are open to the network.", err=True)

    import uvicorn

    from shipyard.ui import create_app

    hosts = None
    if allow_host or host not in ("127.0.0.1", "localhost", "::1"):
        hosts = ["127.0.0.1", "localhost", "[::1]", host, *(allow_host or ())]
    app = create_app(allowed_hosts=hosts, allowed_origins=allow_origin or (), servers=server)
    typer.echo(f"Shipyard dashboard on http://{host}:{port}/")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def check_exposure(
    host: str, allow_hosts: Iterable[str], *, token: str | None, no_auth: bool
) -> None:
    """Refuse (InvalidInput: exit 2) to serve beyond loopback without a token, unless
    ``no_auth`` says that is meant."""
    from shipyard.core.errors import InvalidInput

    if token is not None or no_auth:
        return
    allowed = list(allow_hosts)
    if "*" in allowed:
        reason = "--allow-host '*' accepts any Host name (DNS rebinding)"
    elif not _loopback(host):
        reason = f"--host {host} is reachable from other machines"
    else:
        names = [name for name in allowed if not _loopback(name)]
        if not names:
            return
        reason = f"--allow-host {names[0]} lets other machines' names in"
    raise InvalidInput(
        f"Refusing to start: {reason}, and without SHIPYARD_API_TOKEN anyone there could "
        "promote, roll back and add notes.",
        hint="Set SHIPYARD_API_TOKEN (actions then need it), serve on 127.0.0.1, or pass "
        "--no-auth if the network is trusted.",
    )


def _exposed(host: str, allow_hosts: Iterable[str]) -> bool:
    return not all(_loopback(name) for name in (host, *allow_hosts))


def _loopback(name: str) -> bool:
    """``localhost`` or a loopback address (``127.0.0.0/8``, ``::1``, ``[::1]``)."""
    name = name.strip().lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False
