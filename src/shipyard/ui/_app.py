"""The dashboard app: routers for the JSON API and the pages, static files, the Host/Origin
guard, the session cookie, and errors answered as JSON (API) or a page (browser)."""

from __future__ import annotations

import importlib
import os
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from shipyard import __version__
from shipyard.core.errors import ShipyardError
from shipyard.serve._predict import status_of
from shipyard.ui._guard import HostOriginGuard
from shipyard.ui._security import SESSION_COOKIE, new_session
from shipyard.ui._state import UiState
from shipyard.ui._templates import render

__all__ = ["API_ROUTERS", "PAGE_ROUTERS", "create_app"]

STATIC = Path(__file__).parent / "static"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
# Each module has a `router`; API routers are mounted under /api and documented in OpenAPI.
API_ROUTERS = (
    "shipyard.ui._api_overview",
    "shipyard.ui._api_runs",
    "shipyard.ui._api_data",
    "shipyard.ui._api_models",
    "shipyard.ui._api_monitor",
    "shipyard.ui._card",
)
PAGE_ROUTERS = (
    "shipyard.ui._pages_overview",
    "shipyard.ui._pages_auth",
    "shipyard.ui._pages_runs",
    "shipyard.ui._pages_data",
    "shipyard.ui._pages_models",
    "shipyard.ui._pages_card",
    "shipyard.ui._pages_monitor",
)


def create_app(
    *,
    token: str | None = None,
    allowed_hosts: Iterable[str] | None = None,
    allowed_origins: Iterable[str] = (),
    servers: Iterable[str] | None = None,
) -> FastAPI:
    """The dashboard. ``token`` defaults to ``SHIPYARD_API_TOKEN``; ``allowed_hosts`` to the
    local names (``["*"]``: any); ``allowed_origins`` lists browser origins allowed to post;
    ``servers`` (default: ``SHIPYARD_UI_SERVERS``, comma-separated) are the model servers whose
    live state the deployments pages show."""
    hosts = LOCAL_HOSTS if allowed_hosts is None else frozenset(h.lower() for h in allowed_hosts)
    state = UiState(
        token=token or os.environ.get("SHIPYARD_API_TOKEN") or None,
        allowed_hosts=None if "*" in hosts else hosts,
        allowed_origins=frozenset(allowed_origins),
        servers=_server_urls(servers),
    )
    app = FastAPI(
        title="Shipyard",
        version=__version__,
        description="The JSON API behind the Shipyard dashboard: runs, datasets, models, "
        "deployments and monitoring.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.ui = state
    for name in API_ROUTERS:
        app.include_router(importlib.import_module(name).router, prefix="/api")
    for name in PAGE_ROUTERS:
        app.include_router(importlib.import_module(name).router, include_in_schema=False)
    app.add_api_route("/static/plotly.min.js", _plotly_js, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(ShipyardError, _shipyard_error)  # type: ignore[arg-type]
    app.middleware("http")(_session_cookie)
    app.add_middleware(
        HostOriginGuard,
        allowed_hosts=state.allowed_hosts,
        allowed_origins=state.allowed_origins,
    )
    return app


def _server_urls(servers: Iterable[str] | None) -> tuple[str, ...]:
    from shipyard.core.errors import InvalidInput

    if servers is None:
        servers = [s for s in os.environ.get("SHIPYARD_UI_SERVERS", "").split(",") if s.strip()]
    urls = tuple(s.strip().rstrip("/") for s in servers)
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise InvalidInput(
                f"A model server is an http(s) URL, got {url!r}.",
                hint="For example --server http://127.0.0.1:8000.",
            )
    return urls


_PLOTLY: bytes | None = None


async def _plotly_js() -> Response:
    """plotly.js from the installed plotly package: the dashboard needs no CDN."""
    global _PLOTLY
    if _PLOTLY is None:
        from shipyard.monitor._report_html import plotly_js_bundle

        _PLOTLY = plotly_js_bundle()
    return Response(
        _PLOTLY,
        media_type="application/javascript",
        headers={"cache-control": "public, max-age=86400"},
    )


async def _session_cookie(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    request.state.new_session = None
    if SESSION_COOKIE not in request.cookies:
        request.state.new_session = new_session()
    response = await call_next(request)
    if request.state.new_session is not None:
        response.set_cookie(
            SESSION_COOKIE, request.state.new_session, httponly=True, samesite="strict"
        )
    response.headers.setdefault("x-content-type-options", "nosniff")
    response.headers.setdefault("x-frame-options", "DENY")
    return response


async def _shipyard_error(request: Request, exc: ShipyardError) -> Response:
    status = status_of(exc)
    if request.url.path.startswith("/api/"):
        content = {"error": exc.message, "code": exc.code}
        if exc.hint:
            content["hint"] = exc.hint
        return JSONResponse(content, status_code=status)
    page: Response = render(
        request, "error.html", {"status": status, "message": exc.message, "hint": exc.hint}, status
    )
    return page
