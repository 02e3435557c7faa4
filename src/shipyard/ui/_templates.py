"""The Jinja2 environment: autoescaping on for every template, and the filters pages share."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

__all__ = ["render", "templates", "when"]

TEMPLATES = Path(__file__).parent / "templates"


def when(ms: int | float | None) -> str:
    """Epoch ms as a UTC time, ``-`` for none (also how plotly.js reads a date)."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    return f"{value:.{digits}g}"


def _percent(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.0f}%"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=when, number=_number, percent=_percent)
    return env


templates = Jinja2Templates(env=_environment())


def render(
    request: Any, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> Any:
    """A page with what every page shows: the version, the workspace, the CSRF token and
    whether actions need a sign-in."""
    from shipyard import __version__
    from shipyard.core.config import resolve_settings
    from shipyard.ui._security import csrf_token, signed_in
    from shipyard.ui._state import state_of

    base = {
        "version": __version__,
        "workspace": str(resolve_settings().root),
        "csrf": csrf_token(request),
        "auth_required": state_of(request).auth_required,
        "signed_in": signed_in(request),
    }
    return templates.TemplateResponse(
        request, name, {**base, **(context or {})}, status_code=status_code
    )
