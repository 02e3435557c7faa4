"""The web dashboard: ``shipyard ui``.

Server-rendered pages (Jinja2) over the same JSON API (``/api/...``, in the OpenAPI schema at
``/api/openapi.json``) that scripts use; charts with plotly.js served from the installed plotly
package, so the dashboard works with no internet. It reads and acts only through the services
(tracking, data, registry, evaluation, monitor), never through SQL.

Importing this package is cheap; :func:`create_app` imports FastAPI and the services.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["create_app"]


def create_app(**options: Any) -> FastAPI:
    """The dashboard as an ASGI app; see :func:`shipyard.ui._app.create_app`."""
    from shipyard.ui._app import create_app as build

    return build(**options)
