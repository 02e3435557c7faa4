"""The dashboard app: routers for the JSON API and the pages, static files, the Host/Origin
guard, the session cookie and security headers, and every error — Shipyard's, a bad parameter,
an unknown address — answered as ``{"error", "code", "hint"}`` JSON (API) or a page (browser)."""

from __future__ import annotations

import importlib
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from shipyard import __version__
from shipyard.core.errors import InvalidInput, ShipyardError, http_status
from shipyard.ui._api_monitor import SERVERS_ENV
from shipyard.ui._guard import HostOriginGuard
from shipyard.ui._security import SESSION_COOKIE, new_session
from shipyard.ui._state import UiState
from shipyard.ui._templates import render

__all__ = ["API_ROUTERS", "PAGE_ROUTERS", "create_app"]

STATIC = Path(__file__).parent / "static"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
# Only this origin's scripts, styles, images and forms; never framed. The templates still hold
# inline scripts and styles, hence 'unsafe-inline' (no other origin can load anything).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_HTTP_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}
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
        # No Swagger UI: it loads scripts from a CDN onto the dashboard's origin.
        docs_url=None,
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
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.middleware("http")(_session_cookie)
    app.add_middleware(
        HostOriginGuard,
        allowed_hosts=state.allowed_hosts,
        allowed_origins=state.allowed_origins,
    )
    return app


def _server_urls(servers: Iterable[str] | None) -> tuple[str, ...]:
    if servers is None:
        servers = [s for s in os.environ.get(SERVERS_ENV, "").split(",") if s.strip()]
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
    # An artifact keeps its own, stricter (sandbox) policy, and no resource policy: a logged
    # report opens in an opaque origin and loads its sibling files (plotly.min.js) from here.
    if "content-security-policy" not in response.headers:
        response.headers["content-security-policy"] = CONTENT_SECURITY_POLICY
        response.headers["cross-origin-resource-policy"] = "same-origin"
    return response


async def _shipyard_error(request: Request, exc: ShipyardError) -> Response:
    return _error(request, http_status(exc), exc.code, exc.message, exc.hint)


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    """A parameter FastAPI could not parse (``?limit=abc``): which one, and why."""
    problems = [_problem(error) for error in exc.errors()] or ["The request is malformed"]
    if len(problems) > 5:
        problems = [*problems[:5], f"and {len(problems) - 5} more"]
    hint = (
        "The parameters are described in /api/openapi.json."
        if _is_api(request)
        else "Fix the address, or start again from the overview."
    )
    return _error(request, 422, InvalidInput.code, "; ".join(problems) + ".", hint)


def _problem(error: Any) -> str:
    """One of pydantic's errors as words: ``Query parameter 'limit': Input should be a valid
    integer, … (got 'abc')``."""
    loc = [str(part) for part in error.get("loc") or ()]
    where, name = (loc[0], ".".join(loc[1:])) if loc else ("request", "")
    text = f"{where} parameter {name!r}" if name else f"the {where}"
    text += f": {error.get('msg') or 'invalid'}"
    given = error.get("input")
    if error.get("type") != "missing" and isinstance(given, str | int | float):
        shown = repr(given)
        text += f" (got {shown if len(shown) <= 60 else shown[:57] + '...'})"
    return text[:1].upper() + text[1:]


async def _http_error(request: Request, exc: HTTPException) -> Response:
    """Starlette's own errors (no such route, wrong method) in the dashboard's format."""
    status = exc.status_code
    if status == 404:
        message = f"There is nothing at {request.url.path}."
        hint: str | None = (
            "The API's paths are listed in /api/openapi.json."
            if _is_api(request)
            else "Start again from the overview."
        )
    elif status == 405:
        message, hint = f"{request.method} is not allowed on {request.url.path}.", None
    else:
        message, hint = str(exc.detail), None
    code = _HTTP_CODES.get(status, "http_error")
    return _error(request, status, code, message, hint, headers=exc.headers)


def _error(
    request: Request,
    status: int,
    code: str,
    message: str,
    hint: str | None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """``{"error", "code", "hint"?}`` for /api/*, the error page for everything else."""
    if _is_api(request):
        content = {"error": message, "code": code}
        if hint:
            content["hint"] = hint
        return JSONResponse(content, status_code=status, headers=headers)
    context = {"status": status, "message": message, "hint": hint}
    page: Response = render(request, "error.html", context, status)
    page.headers.update(headers or {})
    return page


def _is_api(request: Request) -> bool:
    return request.url.path == "/api" or request.url.path.startswith("/api/")
