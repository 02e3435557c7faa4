"""``/datasets`` and ``/datasets/{name}``: versions, schema and profile charts, drawn from the
same functions as ``GET /api/datasets``."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from fastapi import APIRouter, Request

from shipyard.core.errors import InvalidInput
from shipyard.monitor._charts import plotly_text
from shipyard.ui._api_data import dataset_detail, datasets
from shipyard.ui._templates import render

__all__ = ["router"]

router = APIRouter()
# Past this many charts a page gets heavy; the tables still show every column.
MAX_CHARTS = 40
SHOWN_CATEGORIES = 12
_NUMERIC = ("integer", "float")


@router.get("/datasets")
def datasets_page(request: Request) -> Any:
    return render(request, "datasets.html", {"datasets": datasets()})


@router.get("/datasets/{name}")
def dataset_page(request: Request, name: str, version: str | None = None) -> Any:
    data = dataset_detail(name, page_version(version))
    chosen = data["version"]
    columns = columns_view(chosen["schema"], chosen["profile"])
    charts = charts_of(columns)
    return render(
        request,
        "dataset.html",
        {
            "data": data,
            "chosen": chosen,
            "columns": columns,
            "numeric": [c for c in columns if c["kind"] in _NUMERIC],
            "counted": [c for c in columns if c["profile"].get("top_values") is not None],
            "charts": charts,
            "uncharted": max(0, sum(1 for c in columns if c["chartable"]) - len(charts)),
            "shown_categories": SHOWN_CATEGORIES,
        },
    )


def page_version(text: str | None) -> int | None:
    """The ``?version=`` of a page: a positive number, or none (the newest)."""
    if text is None or text == "":
        return None
    if text.isascii() and text.isdigit() and int(text) > 0:
        return int(text)
    raise InvalidInput(
        f"A version is a positive whole number, got {text!r}.",
        hint="Pick a version from the table.",
    )


def columns_view(schema: dict[str, Any], profile: dict[str, Any]) -> list[dict[str, Any]]:
    """Each column's schema beside its profile, in the schema's order."""
    stats = profile.get("columns") or {}
    view = []
    for column in schema.get("columns", []):
        prof = stats.get(column["name"]) or {}
        view.append(
            {
                **column,
                "profile": prof,
                "chartable": bool(prof.get("histogram") or prof.get("top_values")),
            }
        )
    return view


def charts_of(columns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Plotly bar data for the first ``MAX_CHARTS`` columns: a histogram from the stored bin
    edges and counts for numbers, the commonest values for categories (as :func:`plotly_text`:
    plotly.js would draw a value's HTML tags as markup)."""
    charts: list[dict[str, Any]] = []
    for column in columns:
        if len(charts) >= MAX_CHARTS:
            break
        prof = column["profile"]
        histogram, top = prof.get("histogram"), prof.get("top_values")
        chart: dict[str, Any] = {"id": f"chart-{len(charts)}", "column": column["name"]}
        if histogram and len(histogram.get("edges", ())) >= 2:
            bins = list(pairwise(histogram["edges"]))
            chart.update(
                kind="histogram",
                x=[(lo + hi) / 2 for lo, hi in bins],
                width=[hi - lo for lo, hi in bins],
                y=list(histogram["counts"]),
            )
        elif top:
            chart.update(
                kind="top values", x=[plotly_text(v) for v, _ in top], y=[n for _, n in top]
            )
        else:
            continue
        charts.append(chart)
    return charts
