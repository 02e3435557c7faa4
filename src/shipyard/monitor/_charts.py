"""Chart pieces a monitor run's pages share — the HTML report and the dashboard: distribution
overlays (reference vs current), a small plotly layout, features ordered drifted first, and the
numbers as they are shown. Every label taken from data goes through :func:`plotly_text` (plotly.js
reads a few HTML tags in labels); floats are cut to 4 significant digits to keep pages small.
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "COLORWAY",
    "CURRENT_COLOR",
    "MAX_CATEGORIES",
    "REFERENCE_COLOR",
    "bar_trace",
    "category_traces",
    "chart_layout",
    "distribution_figure",
    "drifted_first",
    "finite",
    "metric_names",
    "number_text",
    "numeric_traces",
    "plotly_text",
    "round4",
    "threshold_text",
]

MAX_CATEGORIES = 30

_PVALUE_METHODS = frozenset({"ks", "chisquare"})
_COUNT_KEYS = frozenset({"n_labeled", "label_coverage", "n", "n_rows"})
REFERENCE_COLOR = "#9aa5b1"
CURRENT_COLOR = "#d9480f"
COLORWAY = ["#1c6dd0", "#d9480f", "#2b8a3e", "#862e9c", "#e67700", "#0b7285", "#c2255c"]


def plotly_text(value: Any) -> str:
    """A label from data as plotly.js shows it literally. plotly.js reads a few HTML tags in
    labels (``<a href>`` becomes a live link) and decodes ``&amp;``, ``&lt;`` and ``&gt;``, but not
    ``&quot;``: so only those three are escaped and quotes stay quotes."""
    return html.escape(str(value), quote=False)


def numeric_traces(dist: Mapping[str, Any]) -> tuple[list[Any], str]:
    """Step lines over the bin edges: shares when the bins are equally wide, else share per
    unit (a share alone would exaggerate the wide bins); bars per bin when edges are unusable."""
    import plotly.graph_objects as go

    edges = [float(e) if finite(e) else math.nan for e in dist.get("edges") or []]
    sides = {side: list(dist.get(side) or []) for side in ("reference", "current")}
    n = len(sides["reference"])
    widths = [b - a for a, b in itertools.pairwise(edges)]
    if len(edges) != n + 1 or not all(w > 0 for w in widths):  # NaN fails too
        labels = [f"bin {i + 1}" for i in range(n)]
        return [bar_trace(labels, sides[side], side) for side in sides], "share"
    equal = max(widths) <= min(widths) * 1.01
    traces = []
    for side, values in sides.items():
        heights = [
            round4(v if equal else v / w) if finite(v) else None
            for v, w in zip(values, widths, strict=False)
        ]
        reference = side == "reference"
        traces.append(
            go.Scatter(
                x=[round4(e) for e in edges],
                y=[*heights, heights[-1] if heights else None],
                name=side,
                mode="lines",
                line={"shape": "hv", "color": REFERENCE_COLOR if reference else CURRENT_COLOR},
                fill="tozeroy" if reference else None,
            )
        )
    return traces, "share" if equal else "share per unit"


def category_traces(dist: Mapping[str, Any]) -> list[Any]:
    """Grouped bars of the largest :data:`MAX_CATEGORIES` categories; the rest summed as one."""
    categories = [str(c) for c in dist.get("categories") or []]
    reference = [v if finite(v) else 0.0 for v in dist.get("reference") or []]
    current = [v if finite(v) else 0.0 for v in dist.get("current") or []]
    n = min(len(categories), len(reference), len(current))
    order = sorted(range(n), key=lambda i: -max(reference[i], current[i]))
    kept, dropped = order[:MAX_CATEGORIES], order[MAX_CATEGORIES:]
    labels = [plotly_text(categories[i]) for i in kept]
    ref = [reference[i] for i in kept]
    cur = [current[i] for i in kept]
    if dropped:
        labels.append(f"other ({len(dropped)})")
        ref.append(sum(reference[i] for i in dropped))
        cur.append(sum(current[i] for i in dropped))
    return [bar_trace(labels, ref, "reference"), bar_trace(labels, cur, "current")]


def bar_trace(labels: list[str], values: Sequence[Any], side: str) -> Any:
    import plotly.graph_objects as go

    color = REFERENCE_COLOR if side == "reference" else CURRENT_COLOR
    return go.Bar(x=labels, y=[round4(v) for v in values], name=side, marker={"color": color})


def chart_layout(
    title: str, height: int, *, y_title: str = "", y_format: str | None = None
) -> dict[str, Any]:
    """A small layout with its own template: plotly's default template adds ~10 kB per chart."""
    import plotly.graph_objects as go

    axis = {"gridcolor": "#eee", "linecolor": "#999", "zerolinecolor": "#ccc", "automargin": True}
    template = go.layout.Template(
        layout={
            "font": {"family": "system-ui, sans-serif", "size": 11, "color": "#222"},
            "colorway": COLORWAY,
            "paper_bgcolor": "white",
            "plot_bgcolor": "white",
            "hovermode": "x unified",
            "xaxis": axis,
            "yaxis": axis,
        }
    )
    yaxis: dict[str, Any] = {"title": {"text": y_title}}
    if y_format:
        yaxis["tickformat"] = y_format
    return {
        "template": template,
        "title": {"text": title, "font": {"size": 13}} if title else None,
        "height": height,
        "margin": {"l": 50, "r": 10, "t": 36 if title else 10, "b": 40},
        "legend": {"orientation": "h", "y": -0.2},
        "yaxis": yaxis,
    }


def distribution_figure(feature: Mapping[str, Any]) -> Any:
    """The reference (grey, filled) and current (orange) distribution of one feature as a
    ``plotly`` Figure: the same chart in the HTML report and on the dashboard."""
    import plotly.graph_objects as go

    dist = feature.get("distribution") or {}
    layout = chart_layout("", 240)
    if "categories" in dist:
        traces, y_title = category_traces(dist), "share"
        layout["barmode"] = "group"
        layout["yaxis"]["tickformat"] = ".0%"
    else:
        traces, y_title = numeric_traces(dist)
    layout["yaxis"]["title"] = {"text": y_title}
    return go.Figure(traces, layout=layout)


def drifted_first(result: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The drift verdicts per feature, drifted first (each group in the run's order)."""
    features = list((result.get("drift") or {}).get("features") or [])
    return sorted(features, key=lambda f: not f.get("drifted"))


def metric_names(sides: Iterable[Mapping[str, Any]]) -> list[str]:
    """The metrics named by any side, first seen first, without the label counts."""
    names: list[str] = []
    for side in sides:
        names += [k for k in side if k not in _COUNT_KEYS and k not in names]
    return names


def threshold_text(feature: Mapping[str, Any]) -> str:
    """The threshold with its direction: a p-value drifts below it, a distance above."""
    value = feature.get("threshold")
    if value is None:
        return "—"
    return f"{'p <' if feature.get('method') in _PVALUE_METHODS else '>'} {number_text(value)}"


def finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def round4(value: Any) -> float | None:
    """4 significant digits, ``None`` (a gap) for a missing or non-finite value."""
    return float(f"{value:.4g}") if finite(value) else None


def number_text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else "—"
    return str(value)
