"""The server's front door, as one pure ASGI app: request ids, Host and Origin checks,
bearer-token auth, the access log, and the dispatch of prediction requests to their raw route.

Host checking stops DNS rebinding (a web page whose name resolves to 127.0.0.1 reaching a local
server); the Origin check refuses cross-site browser requests, which could otherwise post to a
local model server from any page. Both answer 403 before the request reaches a route.
"""

from __future__ import annotations

import hmac
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import IO, Any
from urllib.parse import urlsplit

import orjson

from shipyard.core.errors import Forbidden, MalformedRequest, ShipyardError, Unauthorized
from shipyard.serve._predict import PredictRoutes, error_response

__all__ = ["REQUEST_ID", "AccessLog", "Guard", "bearer_matches", "check_host_and_origin"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID = "shipyard.request_id"
OPEN_PATHS = frozenset({"/v2/health/live", "/v2/health/ready"})
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


class AccessLog:
    """One JSON object per request on stdout, buffered and flushed at most once a second:
    a structured log that costs a request a few microseconds, not a logging call."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout
        self._flushed = time.monotonic()

    def write(self, entry: dict[str, Any]) -> None:
        self.stream.write(orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE).decode())
        now = time.monotonic()
        if now - self._flushed > 1.0:
            self.flush()
            self._flushed = now

    def flush(self) -> None:
        self.stream.flush()


class Guard:
    """Wraps the app: every HTTP request gets an id, is checked, timed and logged; prediction
    requests go straight to their raw route, everything else to ``app``."""

    def __init__(
        self,
        app: ASGIApp,
        predict: PredictRoutes,
        *,
        allowed_hosts: frozenset[str],
        allowed_origins: frozenset[str],
        token: str | None,
        access_log: AccessLog | None,
    ) -> None:
        self.app = app
        self.predict = predict
        self.any_host = "*" in allowed_hosts
        self.allowed_hosts = allowed_hosts
        self.allowed_origins = frozenset(o.rstrip("/").lower() for o in allowed_origins)
        self.token = token.encode() if token else None
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        raw_headers = scope["headers"]
        headers = dict(raw_headers)
        given = headers.get(b"x-request-id", b"")
        request_id = given.decode() if _REQUEST_ID.fullmatch(given) else os.urandom(16).hex()
        scope[REQUEST_ID] = request_id
        status = 500
        try:
            self._check(scope, headers, raw_headers)
        except ShipyardError as exc:
            status, extra, body = error_response(exc, request_id)
            if isinstance(exc, Unauthorized):
                extra.append((b"www-authenticate", b"Bearer"))
            await _respond(send, status, extra, body, request_id, started)
        else:
            route = self.predict.match(scope)
            if route is not None:
                status = await self.predict(
                    route, scope["method"], headers, receive, send, request_id
                )
            else:

                async def send_with_id(message: Message) -> None:
                    nonlocal status
                    if message["type"] == "http.response.start":
                        status = message["status"]
                        message["headers"] = [
                            *message.get("headers", ()),
                            (b"x-request-id", request_id.encode()),
                            _total_timing(started),
                        ]
                    await send(message)

                await self.app(scope, receive, send_with_id)
        finally:
            if self.access_log is not None:
                self.access_log.write(
                    {
                        "ts": time.time(),
                        "id": request_id,
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "ms": round((time.perf_counter() - started) * 1000, 3),
                        "client": (scope.get("client") or ("", 0))[0],
                    }
                )

    def _check(
        self, scope: Scope, headers: dict[bytes, bytes], raw: list[tuple[bytes, bytes]]
    ) -> None:
        check_host_and_origin(
            headers,
            raw,
            None if self.any_host else self.allowed_hosts,
            self.allowed_origins,
            host_hint="Call the server by a name in its allowed_hosts (set allowed_hosts in the "
            "[server] table to accept more names).",
            origin_hint="Add the origin to allowed_origins in the [server] table if a browser "
            "app really must call this server.",
        )
        needs_token = self.token is not None and scope["path"] not in OPEN_PATHS
        if needs_token and not bearer_matches(headers, self.token or b""):
            raise Unauthorized(
                "This server requires a bearer token.",
                hint="Send the header 'Authorization: Bearer <SHIPYARD_API_TOKEN>'.",
            )


def check_host_and_origin(
    headers: dict[bytes, bytes],
    raw: list[tuple[bytes, bytes]],
    allowed_hosts: frozenset[str] | None,
    allowed_origins: frozenset[str],
    *,
    host_hint: str,
    origin_hint: str,
) -> None:
    """Refuse a Host not in ``allowed_hosts`` (``None``: any) — DNS rebinding — and a
    cross-site Origin not in ``allowed_origins`` (lower case, no trailing slash)."""
    names = [name for name, _ in raw]
    if names.count(b"host") > 1 or names.count(b"origin") > 1:
        raise MalformedRequest(
            "The request has more than one Host or Origin header.",
            hint="Send each of them once.",
        )
    host = headers.get(b"host", b"").decode("latin-1").lower()
    if allowed_hosts is not None and _hostname(host) not in allowed_hosts:
        raise Forbidden(f"Host {host!r} is not allowed.", hint=host_hint)
    origin = headers.get(b"origin")
    if origin is not None:
        value = origin.decode("latin-1").rstrip("/").lower()
        same_site = urlsplit(value).netloc == host
        if not same_site and value not in allowed_origins:
            raise Forbidden(f"Cross-site requests from {value!r} are refused.", hint=origin_hint)


def bearer_matches(headers: dict[bytes, bytes], token: bytes) -> bool:
    """Whether the Authorization header carries ``token`` (compared in constant time)."""
    scheme, _, credentials = headers.get(b"authorization", b"").partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(credentials.strip(), token)


def _hostname(host: str) -> str:
    """The Host header without its port (IPv6 literals keep their brackets)."""
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _total_timing(started: float) -> tuple[bytes, bytes]:
    return b"server-timing", f"total;dur={(time.perf_counter() - started) * 1000:.3f}".encode()


async def _respond(
    send: Send,
    status: int,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    request_id: str,
    started: float,
) -> None:
    headers = [
        *headers,
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
        _total_timing(started),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
