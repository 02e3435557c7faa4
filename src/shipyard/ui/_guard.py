"""The dashboard's front door, as a pure ASGI middleware: the model server's Host and Origin
checks (DNS rebinding, cross-site requests), answered with a JSON 403 before any route runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from shipyard.core.errors import ShipyardError, http_status
from shipyard.serve._guard import check_host_and_origin

__all__ = ["HostOriginGuard"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class HostOriginGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: frozenset[str] | None,
        allowed_origins: frozenset[str],
    ) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts
        self.allowed_origins = frozenset(o.rstrip("/").lower() for o in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = list(scope["headers"])
            try:
                check_host_and_origin(
                    dict(raw),
                    raw,
                    self.allowed_hosts,
                    self.allowed_origins,
                    host_hint="Open the dashboard by a name it accepts, or start it with "
                    "--allow-host NAME.",
                    origin_hint="Start the dashboard with --allow-origin ORIGIN if another site "
                    "really must call it.",
                )
            except ShipyardError as exc:
                body = orjson.dumps({"error": exc.message, "hint": exc.hint, "code": exc.code})
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ]
                await send(
                    {"type": "http.response.start", "status": http_status(exc), "headers": headers}
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
