"""``/``: the overview page, drawn from ``GET /api/overview``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from shipyard.ui._api_overview import overview
from shipyard.ui._templates import render

__all__ = ["router"]

router = APIRouter()


@router.get("/")
def overview_page(request: Request) -> Any:
    return render(request, "overview.html", {"data": overview()})
