"""``/runs``, ``/runs/{id}`` and ``/compare``: the run pages, drawn from the runs API.

The runs table keeps its whole state (experiment, filter, sort, page, columns) in the URL, so
every view can be bookmarked and the back button works; paging goes forward with the search's
page token and back with the tokens of the last pages before, carried in ``prev`` (a bounded
trail, so the URL stays short however far one pages).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request

from shipyard.core.errors import InvalidInput, NotFound
from shipyard.ui._api_runs import (
    MAX_PAGE,
    compare,
    experiments,
    run_charts,
    run_detail,
    search,
)
from shipyard.ui._templates import render

__all__ = ["router"]

router = APIRouter()
KINDS = ("metrics", "params", "tags")
DEFAULT_COLUMNS = 6  # per kind (metrics, params) when none are chosen
FIRST_PAGE = "-"  # stands for "no token" in the list of previous pages
MAX_TRAIL = 50  # previous-page tokens kept in the URL
_BARE_KEY = re.compile(r"[^\W\d]\w*")


def entity(kind: str, key: str) -> str:
    """A column as the filter syntax names it; keys with dots, dashes or spaces in backticks."""
    return f"{kind}.{key}" if _BARE_KEY.fullmatch(key) else f"{kind}.`{key}`"


@router.get("/runs")
def runs_page(
    request: Request,
    experiment: str = "",
    filter: str = "",
    order_by: str = "",
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    page_token: str = "",
    prev: str = "",
    page: Annotated[int, Query(ge=1)] = 1,
    col: Annotated[list[str] | None, Query()] = None,
) -> Any:
    state = {
        "experiment": experiment,
        "filter": filter,
        "order_by": order_by,
        "limit": limit,
        "page_token": page_token,
        "prev": prev,
        "page": page,
        "col": list(col or []),
    }
    error = None
    try:
        found = search([experiment] if experiment else None, filter, [order_by], limit, page_token)
    except (InvalidInput, NotFound) as exc:
        error = {"message": exc.message, "hint": exc.hint}
        found = {"runs": [], "next_page_token": None}
    runs = found["runs"]
    available = {kind: sorted({k for r in runs for k in r[kind]}) for kind in KINDS}
    columns = _columns(col or [], available)
    for c in columns:  # a chosen key missing from this page stays in the form
        if c["key"] not in available[c["kind"]]:
            available[c["kind"]] = sorted([*available[c["kind"]], c["key"]])
    pages = [t for t in prev.split(",") if t] if prev else []
    context = {
        "runs": runs,
        "state": state,
        "error": error,
        "experiments": experiments(),
        "available": available,
        "chosen": {f"{c['kind']}.{c['key']}" for c in columns},
        "base_columns": _base_columns(state, all_experiments=not experiment),
        "columns": [{**c, **_sort(state, entity(c["kind"], c["key"]))} for c in columns],
        "first_row": (page - 1) * limit + 1,
        "next_url": _next_url(state, found["next_page_token"], pages),
        "prev_url": _prev_url(state, pages),
        "first_url": url_for(state, page_token="", prev="", page=1) if page > 1 else None,
        "kinds": KINDS,
    }
    return render(request, "runs.html", context, 422 if error else 200)


def _columns(chosen: Sequence[str], available: dict[str, list[str]]) -> list[dict[str, str]]:
    """The columns asked for (``kind.key``), or the first few metrics and params of the page."""
    picked = []
    for item in chosen:
        kind, _, key = item.partition(".")
        if kind in KINDS and key:
            picked.append({"kind": kind, "key": key})
    if chosen:
        return picked
    return [
        {"kind": kind, "key": key}
        for kind in ("metrics", "params")
        for key in available[kind][:DEFAULT_COLUMNS]
    ]


def _base_columns(state: dict[str, Any], *, all_experiments: bool) -> list[dict[str, Any]]:
    columns = [
        {"label": "name", **_sort(state, "name")},
        {"label": "status", **_sort(state, "status")},
        {"label": "started", **_sort(state, "start_time", default_desc=True)},
        {"label": "duration", "url": None, "arrow": ""},
    ]
    if all_experiments:
        columns.insert(1, {"label": "experiment", "url": None, "arrow": ""})
    return columns


def _sort(state: dict[str, Any], key: str, *, default_desc: bool = False) -> dict[str, Any]:
    """The header link of a sortable column: ascending first, then it toggles."""
    current = state["order_by"].strip()
    if not current and default_desc:
        current = f"{key} desc"
    if current == f"{key} desc":
        arrow, following = "▼", f"{key} asc"
    elif current in (key, f"{key} asc"):
        arrow, following = "▲", f"{key} desc"
    else:
        arrow, following = "", f"{key} asc"
    return {
        "url": url_for(state, order_by=following, page_token="", prev="", page=1),
        "arrow": arrow,
    }


def url_for(state: dict[str, Any], **changes: Any) -> str:
    """``/runs`` with the current state and some changes; empty values are left out."""
    merged = {**state, **changes}
    for name, default in (("limit", 50), ("page", 1)):
        if merged.get(name) == default:
            merged[name] = ""
    query = [(k, v) for k, v in merged.items() if v not in ("", None, [])]
    return "/runs?" + urlencode(query, doseq=True) if query else "/runs"


def _next_url(state: dict[str, Any], token: str | None, pages: list[str]) -> str | None:
    if token is None:
        return None
    before = [*pages, state["page_token"] or FIRST_PAGE][-MAX_TRAIL:]
    return url_for(state, page_token=token, prev=",".join(before), page=state["page"] + 1)


def _prev_url(state: dict[str, Any], pages: list[str]) -> str | None:
    if not pages:
        return None
    token = "" if pages[-1] == FIRST_PAGE else pages[-1]
    return url_for(state, page_token=token, prev=",".join(pages[:-1]), page=state["page"] - 1)


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: str) -> Any:
    run = run_detail(run_id)
    charts, single = run_charts(run["id"], run["metrics"])
    artifacts = run["artifacts"]
    context = {
        "run": run,
        "charts": charts,
        "single_metrics": single,
        "images": [a for a in artifacts if a["kind"] == "image"],
        "artifacts": artifacts,
    }
    return render(request, "run.html", context)


@router.get("/compare")
def compare_page(request: Request, ids: Annotated[list[str] | None, Query()] = None) -> Any:
    return render(request, "compare.html", {"data": compare(ids or [])})
