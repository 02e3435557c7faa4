"""``/models/{name}/versions/{version}/card``: the model card page, drawn from
``GET /api/models/{name}/versions/{version}/card``, and the same card as one standalone HTML file
(``…/card.html``, ``shipyard models card URI -o card.html``): styles and plotly.js inlined, no
link to anywhere, so it can be mailed, printed or opened offline."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from shipyard.monitor._charts import plotly_text
from shipyard.ui._api_runs import content_disposition
from shipyard.ui._card import model_card
from shipyard.ui._pages_data import page_version
from shipyard.ui._templates import render

__all__ = ["card_charts", "router", "standalone_card"]

router = APIRouter()

SHARED_CSS = Path(__file__).parent / "static" / "shipyard.css"
_GOOD, _BAD, _MUTED, _WARN, _ACCENT = "#1a7f37", "#cf222e", "#afb8c1", "#bf8700", "#0969da"
_LEGEND = {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom", "traceorder": "normal"}
_FONT = {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 13}


@router.get("/models/{name}/versions/{version}/card")
def card_page(request: Request, name: str, version: str) -> Any:
    card = model_card(name, _path_version(version))
    context = {"card": card, "charts": card_charts(card), "standalone": False}
    return render(request, "card.html", context)


@router.get("/models/{name}/versions/{version}/card.html")
def card_download(name: str, version: str) -> HTMLResponse:
    """The standalone card as a file to save."""
    page = standalone_card(name, _path_version(version))
    disposition = content_disposition("attachment", f"{name}-v{version}-card.html")
    return HTMLResponse(page, headers={"content-disposition": disposition})


def _path_version(version: str) -> int:
    """The version in a page's path; a mistyped one answers with a page, not JSON."""
    return page_version(version) or 0


def standalone_card(name: str, version: int) -> str:
    """The card as one self-contained HTML document (about 5 MB: plotly.js is in it)."""
    from markupsafe import Markup

    from shipyard import __version__
    from shipyard.monitor._report_html import plotly_js_bundle
    from shipyard.ui._templates import templates

    card = model_card(name, version)
    # "</script" cannot occur in JavaScript outside strings and regexes, where "<\/" means "</".
    bundle = re.sub(r"</(script)", r"<\\/\1", plotly_js_bundle().decode(), flags=re.IGNORECASE)
    css = SHARED_CSS.read_text(encoding="utf-8").replace("</", "<\\/")
    page: str = templates.env.get_template("card.html").render(
        card=card,
        charts=card_charts(card),
        standalone=True,
        version=__version__,
        # Markup: our own stylesheet and the installed plotly.js, never user data.
        shared_css=Markup(css),
        plotly_js=Markup(bundle),
    )
    return page


# -- charts: plotly figures as JSON; plotly.js reads a few HTML tags in labels, so every label
# taken from the workspace goes through plotly_text (plotly decodes it back to the literal text).


def card_charts(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The figures the card draws, by the id of the element that holds each."""
    charts: dict[str, dict[str, Any]] = {}
    outcomes = _outcomes(card["performance"])
    if outcomes is not None:
        charts["chart-outcomes"] = outcomes
    drivers = card.get("drivers")
    if drivers and drivers["features"]:
        charts["chart-drivers"] = _drivers(drivers["features"])
    return charts


def _layout(height: int, xtitle: str, **extra: Any) -> dict[str, Any]:
    return {
        "height": height,
        "margin": {"l": 10, "r": 20, "t": 10, "b": 40},
        "font": _FONT,
        "xaxis": {"title": {"text": plotly_text(xtitle)}, "automargin": True},
        "yaxis": {"automargin": True},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        **extra,
    }


def _outcomes(performance: dict[str, Any]) -> dict[str, Any] | None:
    if performance.get("source") != "predictions":
        return None
    if performance["task"] == "binary":
        return _binary(performance)
    if performance["task"] == "multiclass":
        return _multiclass(performance["classes"])
    return _errors(performance["errors"])


def _binary(performance: dict[str, Any]) -> dict[str, Any]:
    """The test cases as two stacked bars: the real positives (caught, missed) and the rest
    (false alarms, left alone)."""
    counts, who = performance["counts"], performance["positives"]
    rows = [plotly_text(f"Real {who}"), "Other cases"]
    parts = (
        ("caught", "caught", _GOOD, 0),
        ("missed", "missed", _WARN, 0),
        ("false_alarms", "false alarms", _BAD, 1),
        ("left_alone", "rightly not flagged", _MUTED, 1),
    )
    data = []
    for key, label, color, row in parts:
        x: list[int | None] = [None, None]
        x[row] = counts[key]
        data.append(
            {
                "type": "bar",
                "orientation": "h",
                "name": label,
                "y": rows,
                "x": x,
                "marker": {"color": color},
                "text": [None if v is None else f"{v:,}" for v in x],
                "textposition": "inside",
                "hovertemplate": f"{label}: %{{x}}<extra></extra>",
            }
        )
    return _stacked(data, 230, "test cases")


def _multiclass(classes: list[dict[str, Any]]) -> dict[str, Any]:
    """One stacked bar per real class: how many of its test cases it got right."""
    labels = [plotly_text(c["label"]) for c in classes]
    parts = (
        ("right", [c["right"] for c in classes], _GOOD),
        ("wrong", [c["rows"] - c["right"] for c in classes], _BAD),
    )
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "name": name,
            "y": labels,
            "x": x,
            "marker": {"color": color},
        }
        for name, x, color in parts
    ]
    return _stacked(data, 100 + 28 * len(labels), "test cases, by their real class")


def _stacked(data: list[dict[str, Any]], height: int, xtitle: str) -> dict[str, Any]:
    """Horizontal bars stacked, the first row on top, the legend above the plot."""
    layout = _layout(height, xtitle, barmode="stack", legend=dict(_LEGEND))
    layout["margin"]["t"] = 30
    layout["yaxis"]["autorange"] = "reversed"
    return {"data": data, "layout": layout}


def _errors(errors: dict[str, Any]) -> dict[str, Any]:
    edges = errors["edges"]
    centers = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
    width = (edges[-1] - edges[0]) / max(len(centers), 1)
    data = [
        {
            "type": "bar",
            "x": centers,
            "y": errors["counts"],
            "width": width,
            "marker": {"color": _ACCENT},
            "hovertemplate": "%{y} cases<extra></extra>",
        }
    ]
    layout = _layout(260, "prediction minus the true value")
    layout["yaxis"]["title"] = {"text": "test cases"}
    return {"data": data, "layout": layout}


def _drivers(features: list[dict[str, Any]]) -> dict[str, Any]:
    labels = [plotly_text(f["label"]) for f in features]
    shares = [round(100 * f["share"], 1) for f in features]
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "y": labels,
            "x": shares,
            "text": [f"{s:.0f}%" for s in shares],
            "textposition": "outside",
            "cliponaxis": False,
            "marker": {"color": _ACCENT},
            "hovertemplate": "%{y}: %{x}%<extra></extra>",
        }
    ]
    layout = _layout(60 + 30 * len(labels), "share of the model's reasons (%)")
    layout["yaxis"]["autorange"] = "reversed"
    return {"data": data, "layout": layout}
