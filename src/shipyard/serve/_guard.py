"""The server's front door, as one pure ASGI middleware: request ids, Host and Origin checks,
bearer-token auth, and the access log.

Host checking stops DNS rebinding (a web page whose name resolves to 127.0.0.1 reaching a local
server); the Origin check refuses cross-site browser requests, which could otherwise post to a
local model server from any page. Both answer 403 before the request reaches a route.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

import orjson

from shipyard.core.errors import Forbidden, ShipyardError, Unauthorized

__all__ = ["REQUEST_ID", "Guard", "error_body"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID = "shipyard.request_id"
OPEN_PATHS = frozenset({"/v2/health/live", "/v2/health/ready"})
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
access_log = logging.getLogger("shipyard.serve.access")


def error_body(exc: ShipyardError, request_id: str) -> bytes:
    content: dict[str, Any] = {"error": exc.message, "code": exc.code, "id": request_id}
    if exc.hint:
        content["hint"] = exc.hint
    return orjson.dumps(content)


class Guard:
    """Wraps the app: every HTTP request gets an id, is checked, timed and logged."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: frozenset[str],
        allowed_origins: frozenset[str],
        token: str | None,
        log_access: bool,
    ) -> None:
        self.app = app
        self.any_host = "*" in allowed_hosts
        self.allowed_hosts = allowed_hosts
        self.allowed_origins = frozenset(o.rstrip("/").lower() for o in allowed_origins)
        self.token = token.encode() if token else None
        self.log_access = log_access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"")
        request_id = given.decode() if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope[REQUEST_ID] = request_id
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            self._check(scope, headers)
        except ShipyardError as exc:
            status = 401 if isinstance(exc, Unauthorized) else 403
            extra = [(b"www-authenticate", b"Bearer")] if status == 401 else []
            await _respond(send_with_id, status, error_body(exc, request_id), extra)
        else:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.log_access and access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    orjson.dumps(
                        {
                            "ts": time.time(),
                            "id": request_id,
                            "method": scope["method"],
                            "path": scope["path"],
                            "status": status,
                            "ms": round((time.perf_counter() - started) * 1000, 3),
                            "client": (scope.get("client") or ("", 0))[0],
                        }
                    ).decode()
                )

    def _check(self, scope: Scope, headers: dict[bytes, bytes]) -> None:
        host = headers.get(b"host", b"").decode("latin-1").lower()
        if not self.any_host and _hostname(host) not in self.allowed_hosts:
            raise Forbidden(
                f"Host {host!r} is not allowed.",
                hint="Call the server by a name in its allowed_hosts (set allowed_hosts in the "
                "[server] table to accept more names).",
            )
        origin = headers.get(b"origin")
        if origin is not None:
            value = origin.decode("latin-1").rstrip("/").lower()
            same_site = urlsplit(value).netloc == host
            if not same_site and value not in self.allowed_origins:
                raise Forbidden(
                    f"Cross-site requests from {value!r} are refused.",
                    hint="Add the origin to allowed_origins in the [server] table if a browser "
                    "app really must call this server.",
                )
        if self.token is not None and scope["path"] not in OPEN_PATHS:
            given = headers.get(b"authorization", b"")
            scheme, _, credentials = given.partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(
                credentials.strip(), self.token
            ):
                raise Unauthorized(
                    "This server requires a bearer token.",
                    hint="Send the header 'Authorization: Bearer <SHIPYARD_API_TOKEN>'.",
                )


def _hostname(host: str) -> str:
    """The Host header without its port (IPv6 literals keep their brackets)."""
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def _respond(send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
