"""``/models``, ``/models/{name}`` and ``/models/{name}/versions/{v}``, drawn from the same
functions as ``/api/models``; and the forms behind promote, roll back and add a note.

A form posts here with its CSRF token; the action runs through the same function as the JSON
API. Success redirects (303) back to the model page with a signed flash message; a refusal
(no sign-in, a gate that did not pass, an unknown version) shows the model page again with the
refusal and the matching status.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from shipyard.core.errors import ShipyardError, http_status
from shipyard.ui._api_models import (
    MAX_NOTE,
    MAX_REASON,
    add_note,
    model_detail,
    model_version_detail,
    models,
    promote_version,
    roll_back,
)
from shipyard.ui._pages_data import page_version
from shipyard.ui._security import check_csrf, require_action_auth, same_text
from shipyard.ui._state import state_of
from shipyard.ui._templates import render

__all__ = ["lineage_layout", "router"]

router = APIRouter()
METRIC_COLUMNS = 6  # metrics shown in the versions table; the version page shows them all
_KINDS = ("dataset", "run", "version", "alias", "deployment")
_NODE_W, _NODE_H, _COL_GAP, _ROW_GAP, _PAD = 170, 34, 60, 16, 10
_LABEL_CHARS = 24
FormText = Annotated[str | None, Form()]


@router.get("/models")
def models_page(request: Request) -> Any:
    return render(request, "models.html", {"models": models()})


@router.get("/models/{name}")
def model_page(
    request: Request, name: str, flash: str | None = None, sig: str | None = None
) -> Any:
    shown = flash if flash and sig and same_text(sig, _sign(request, flash)) else None
    return _model_page(request, name, flash=shown)


@router.get("/models/{name}/versions/{version}")
def model_version_page(request: Request, name: str, version: str) -> Any:
    number = page_version(version) or 0
    data = model_version_detail(name, number)
    return render(
        request,
        "model_version.html",
        {"v": data, "max_note": MAX_NOTE, "max_reason": MAX_REASON},
    )


@router.post("/models/{name}/promote")
def promote_form(
    request: Request,
    name: str,
    csrf: FormText = None,
    version: FormText = None,
    alias: FormText = None,
    reason: FormText = None,
    force: FormText = None,
) -> Any:
    check_csrf(request, csrf)
    forced = force in ("on", "true", "1")
    return _act(
        request,
        name,
        lambda: promote_version(
            name, page_version(version) or 0, alias or "", reason, force=forced
        ),
    )


@router.post("/models/{name}/rollback")
def rollback_form(
    request: Request,
    name: str,
    csrf: FormText = None,
    alias: FormText = None,
    reason: FormText = None,
) -> Any:
    check_csrf(request, csrf)
    return _act(request, name, lambda: roll_back(name, alias or "", reason))


@router.post("/models/{name}/notes")
def note_form(
    request: Request,
    name: str,
    csrf: FormText = None,
    version: FormText = None,
    text: FormText = None,
) -> Any:
    check_csrf(request, csrf)
    return _act(request, name, lambda: add_note(name, page_version(version), text or ""))


def _act(request: Request, name: str, action: Callable[[], dict[str, Any]]) -> Any:
    try:
        require_action_auth(request)
        done = action()
    except ShipyardError as exc:
        refusal = {"message": exc.message, "hint": exc.hint}
        return _model_page(request, name, refusal=refusal, status=http_status(exc))
    query = urlencode({"flash": done["message"], "sig": _sign(request, done["message"])})
    return RedirectResponse(f"/models/{quote(name)}?{query}#actions", status_code=303)


def _sign(request: Request, message: str) -> str:
    """Only messages this server wrote are shown: a crafted link cannot put words on the page."""
    return state_of(request).sign("flash", message)


def _model_page(
    request: Request,
    name: str,
    *,
    flash: str | None = None,
    refusal: dict[str, Any] | None = None,
    status: int = 200,
) -> Any:
    data = model_detail(name)
    keys = sorted({k for v in data["versions"] for k in v["metrics"]})
    context = {
        "data": data,
        "m": data["model"],
        "metric_keys": keys[:METRIC_COLUMNS],
        "more_metrics": max(0, len(keys) - METRIC_COLUMNS),
        "graph": lineage_layout(data["lineage"]),
        "flash": flash,
        "refusal": refusal,
        "max_note": MAX_NOTE,
        "max_reason": MAX_REASON,
    }
    return render(request, "model.html", context, status)


def lineage_layout(lineage: dict[str, Any]) -> dict[str, Any]:
    """Positions for a left-to-right SVG drawing: one column per kind of node (data, run,
    version, alias, deployment), edges as curves from the right of one box to the left of
    the next. The template escapes every label."""
    columns: dict[str, list[dict[str, Any]]] = {kind: [] for kind in _KINDS}
    for node in lineage["nodes"]:
        columns.setdefault(node["kind"], []).append(node)
    used = [kind for kind in columns if columns[kind]]
    placed: dict[str, dict[str, Any]] = {}
    for col, kind in enumerate(used):
        for row, node in enumerate(columns[kind]):
            label = node["label"]
            short = label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "…"
            placed[node["id"]] = {
                **node,
                "short": short,
                "x": _PAD + col * (_NODE_W + _COL_GAP),
                "y": _PAD + 18 + row * (_NODE_H + _ROW_GAP),
            }
    edges = []
    for edge in lineage["edges"]:
        a, b = placed.get(edge["from"]), placed.get(edge["to"])
        if a is None or b is None:
            continue
        x1, y1 = a["x"] + _NODE_W, a["y"] + _NODE_H / 2
        x2, y2 = b["x"], b["y"] + _NODE_H / 2
        mid = (x1 + x2) / 2
        edges.append({"d": f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"})
    rows = max((len(columns[k]) for k in used), default=0)
    return {
        "nodes": list(placed.values()),
        "edges": edges,
        "headers": [
            {"kind": kind, "x": _PAD + col * (_NODE_W + _COL_GAP) + _NODE_W / 2}
            for col, kind in enumerate(used)
        ],
        "node_w": _NODE_W,
        "node_h": _NODE_H,
        "width": _PAD * 2 + len(used) * _NODE_W + max(0, len(used) - 1) * _COL_GAP,
        "height": _PAD * 2 + 18 + rows * (_NODE_H + _ROW_GAP),
    }
