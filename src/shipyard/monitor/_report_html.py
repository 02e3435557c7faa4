"""The report of one monitor run as one self-contained HTML page: what drifted, by how much, since
when, and what was done about it — readable offline, mailed, attached to an incident or opened
from the artifact store.

Charts are plotly figures built in Python and drawn by plotly.js, which comes from the installed
plotly package, never from a CDN: embedded once in the page (``"inline"``) or loaded from a
``plotly.min.js`` next to it (``"sibling"``, see :func:`plotly_js_bundle`). Every string taken from
the run (column names, categories, targets, messages) is escaped, in the HTML and in the charts
(plotly.js reads a few HTML tags in its labels, and decodes entities back to the literal text).
Floats in the figures are cut to 4 significant digits: the page stays small with 30 charts.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from shipyard.monitor._charts import (
    COLORWAY,
    CURRENT_COLOR,
    chart_layout,
    distribution_figure,
    drifted_first,
    finite,
    metric_names,
    number_text,
    plotly_text,
    round4,
    threshold_text,
)

__all__ = ["plotly_js_bundle", "render_report"]

PlotlyJs = Literal["inline", "sibling"]

PLOTLY_SIBLING_NAME = "plotly.min.js"
MAX_DISTRIBUTION_CHARTS = 30
MAX_TREND_FEATURES = 10
MAX_PERFORMANCE_METRICS = 3

_CONFIG = '{"displaylogo":false,"responsive":true,"modeBarButtonsToRemove":["lasso2d","select2d"]}'

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:left;font-size:.9rem}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.fail td{background:#fdecea}.passed{color:#17723a}.failed{color:#b3261e}
h1{margin-bottom:.3rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:3px;font-size:.8em;color:#fff;
vertical-align:middle;background:#666}.badge.alert,.badge.failed,.badge.gate_failed{background:#b3261e}
.badge.ok,.badge.promoted{background:#17723a}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:.5rem 0}
dl.facts dt{color:#555}dl.facts dd{margin:0}
.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1rem 0}
.card{border:1px solid #ccc;border-radius:4px;padding:.6rem .9rem;min-width:11rem}
.card h3{margin:0;font-size:.85rem;color:#555;font-weight:normal}
.card .value{font-size:1.6rem;margin:.2rem 0}.card p{margin:0;font-size:.85rem;color:#555}
.card table{margin:.3rem 0 0}.muted{color:#777}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:.6rem}
figure{margin:0;border:1px solid #eee;padding:.3rem}
figcaption{font-size:.9rem}.chart{width:100%}
ol.chain{display:flex;flex-wrap:wrap;gap:.4rem;list-style:none;padding:0}
ol.chain li{border:1px solid #ccc;border-radius:4px;padding:.3rem .6rem}
ol.chain li+li::before{content:"\\2192";margin:0 .5rem 0 -.3rem;color:#777}
@media print{
body{margin:0;max-width:none;font-size:10pt}
.modebar-container{display:none!important}
h2{break-after:avoid}figure,table,.card,.chart{break-inside:avoid}
.grid{grid-template-columns:1fr 1fr}
.badge,tr.fail td{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
"""
# Charts size themselves to their container; printing changes the container, not the window.
_RESIZE_ON_PRINT = (
    "window.addEventListener('beforeprint',function(){"
    "document.querySelectorAll('.js-plotly-plot').forEach(function(d){Plotly.Plots.resize(d)})})"
)


def render_report(
    result: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]] = (),
    *,
    plotly_js: PlotlyJs = "inline",
) -> str:
    """The page for one monitor run; ``history`` holds earlier runs of the same target, oldest
    first (the run itself may be among them).

    With ``plotly_js="sibling"`` the page loads ``plotly.min.js`` from its own folder: the caller
    stores :func:`plotly_js_bundle` there. A page without charts carries no plotly.js at all.
    """
    if plotly_js not in ("inline", "sibling"):
        raise ValueError(f"plotly_js must be 'inline' or 'sibling', got {plotly_js!r}.")
    target = str(result.get("target") or "unknown target")
    status = str(result.get("status") or "ok").lower()
    parts = [
        _header(result, target, status),
        _alerts(result.get("alerts") or []),
        _notes(result.get("notes") or [], result.get("not_measured") or []),
        _cards(result),
        _drift_over_time(result, history),
        _features_table(drifted_first(result)),
        _distributions(drifted_first(result)),
        _output_drift(result),
        _quality(result.get("quality")),
        _performance_over_time(result.get("performance")),
        _retrain(result.get("retrain")),
    ]
    body = "\n".join(part for part in parts if part)
    has_charts = "class='chart'" in body
    title = html.escape(f"Monitor {target}: {status.upper()}")
    return (
        f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<style>{_STYLE}</style>{_plotly_script(plotly_js) if has_charts else ''}</head>"
        f"<body>\n<main>\n{body}\n</main>\n"
        + (f"<script>{_RESIZE_ON_PRINT}</script>\n" if has_charts else "")
        + "</body></html>\n"
    )


def plotly_js_bundle() -> bytes:
    """The plotly.js bundle of the installed plotly package, to store as ``plotly.min.js`` next
    to a page rendered with ``plotly_js="sibling"``."""
    return _plotly_js_text().encode("utf-8")


def _plotly_js_text() -> str:
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs())


def _plotly_script(mode: PlotlyJs) -> str:
    if mode == "sibling":
        return f"<script src='{PLOTLY_SIBLING_NAME}'></script>"
    # "</script" cannot occur in JavaScript outside strings and regexes, where "<\/" means "</".
    bundle = re.sub(r"</(script)", r"<\\/\1", _plotly_js_text(), flags=re.IGNORECASE)
    return f"<script>{bundle}</script>"


# --- sections ----------------------------------------------------------------------------------


def _header(result: Mapping[str, Any], target: str, status: str) -> str:
    facts: list[tuple[str, str]] = []
    model = result.get("model") or {}
    if model:
        name = f"{model.get('name', '')} v{model.get('version', '?')}"
        facts.append(("model", _join(name, model.get("uri"))))
    if result.get("target_kind"):
        facts.append(("target kind", str(result["target_kind"])))
    window = result.get("window") or {}
    if window:
        span = " → ".join(_when(window.get(key)) for key in ("since", "until") if window.get(key))
        facts.append(("window", _join(window.get("spec"), span, _rows(window.get("rows")))))
    reference = result.get("reference") or {}
    if reference:
        facts.append(
            (
                "reference",
                _join(reference.get("kind"), reference.get("ref"), _rows(reference.get("rows"))),
            )
        )
    if result.get("started_at"):
        took = result.get("duration_s")
        facts.append(
            (
                "run",
                _join(_when(result["started_at"]), f"took {number_text(took)} s" if took else None),
            )
        )
    if result.get("id"):
        facts.append(("run id", str(result["id"])))
    rows = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in facts)
    return (
        f"<header><h1>Monitor report: {html.escape(target)} {_badge(status)}</h1>"
        f"<dl class='facts'>{rows}</dl></header>"
    )


def _alerts(alerts: Sequence[Mapping[str, Any]]) -> str:
    if not alerts:
        return ""
    rows = [
        (
            str(alert.get("rule") or alert.get("metric") or ""),
            number_text(alert.get("value")),
            f"{alert.get('op') or ''} {number_text(alert.get('threshold'))}".strip(),
            str(alert.get("message") or ""),
        )
        for alert in alerts
    ]
    table = _table(("rule", "value", "threshold", "message"), rows, [True] * len(rows), {1})
    return f"<section id='alerts'><h2>Alerts</h2>{table}</section>"


def _notes(notes: Sequence[Any], not_measured: Sequence[Any]) -> str:
    """What the run could not do: rules with nothing to judge, checks it skipped and why."""
    items = [str(note) for note in notes]
    if not_measured:
        items.append("not measured: " + ", ".join(str(rule) for rule in not_measured))
    if not items:
        return ""
    rows = "".join(f"<li>{html.escape(item)}</li>" for item in items)
    return f"<section id='notes'><h2>Notes</h2><ul>{rows}</ul></section>"


def _cards(result: Mapping[str, Any]) -> str:
    cards = []
    drift = result.get("drift") or {}
    if drift:
        share, limit = drift.get("drift_share"), drift.get("drift_share_threshold")
        verdict = "dataset drift" if drift.get("dataset_drift") else "no dataset drift"
        cards.append(_card("drift share", _pct(share), _join(f"threshold {_pct(limit)}", verdict)))
        drifted = [str(c) for c in drift.get("drifted_columns") or []]
        shown = ", ".join(drifted[:5]) + (f" +{len(drifted) - 5} more" if len(drifted) > 5 else "")
        total = drift.get("n_features", len(drift.get("features") or []))
        cards.append(_card("drifted features", f"{len(drifted)} / {total}", shown or "none"))
    window = result.get("window") or {}
    if window.get("rows") is not None:
        reference_rows = (result.get("reference") or {}).get("rows")
        note = f"reference {_rows(reference_rows)}" if reference_rows is not None else ""
        cards.append(_card("rows in window", number_text(window["rows"]), note))
    quality = result.get("quality")
    if quality:
        problems = quality.get("problems") or []
        errors = sum(1 for p in problems if p.get("severity") == "error")
        value = "ok" if quality.get("ok", not problems) else f"{len(problems)} problems"
        note = f"{errors} error{'s' if errors != 1 else ''}" if problems else ""
        cards.append(_card("data quality", value, note))
    performance = result.get("performance")
    if performance:
        cards.append(_performance_card(performance))
    return f"<section id='summary' class='cards'>{''.join(cards)}</section>" if cards else ""


def _performance_card(performance: Mapping[str, Any]) -> str:
    """The headline metric realized (from labels) against estimated (without) and reference."""
    sides = {side: performance.get(side) or {} for side in ("reference", "realized", "estimated")}
    metrics = metric_names(sides.values())
    if not metrics:
        return _card("performance", "—", "no metrics")
    main = metrics[0]
    value = sides["realized"].get(main, sides["estimated"].get(main))
    rows = [(m, *(number_text(sides[side].get(m)) for side in sides)) for m in metrics]
    notes = []
    realized = sides["realized"]
    if realized.get("label_coverage") is not None:
        labeled = realized.get("n_labeled")
        notes.append(
            f"labels for {_pct(realized['label_coverage'])} of rows"
            + (f" ({number_text(labeled)})" if labeled is not None else "")
        )
    drops = performance.get("drops") or {}
    notes += [
        f"{key.replace('_', ' ')}: {number_text(v)}" for key, v in drops.items() if v is not None
    ]
    table = _table(("metric", "reference", "realized", "estimated"), rows, numeric={1, 2, 3})
    heading = f"{main} ({performance.get('task') or 'performance'})"
    return (
        f"<div class='card'><h3>{html.escape(heading)}</h3>"
        f"<div class='value'>{html.escape(number_text(value))}</div>{table}"
        f"<p>{html.escape('; '.join(notes))}</p></div>"
    )


def _drift_over_time(result: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> str:
    """Drift share per run against its threshold, and the statistic of each drifted feature."""
    runs = _runs(result, history)
    if len(runs) < 2:
        return ""
    import plotly.graph_objects as go

    times = [_axis_time(run.get("started_at")) for run in runs]
    drift = result.get("drift") or {}
    share = go.Figure(
        [
            go.Scatter(
                x=times,
                y=[round4(run.get("drift_share")) for run in runs],
                name="drift share",
                mode="lines+markers",
                marker={
                    "color": [
                        CURRENT_COLOR if run.get("status") == "alert" else COLORWAY[0]
                        for run in runs
                    ],
                    "size": 8,
                },
                line={"color": COLORWAY[0]},
                text=[plotly_text(run.get("status") or "") for run in runs],
            )
        ],
        layout=chart_layout("Drift share per run", 300, y_title="drift share", y_format=".0%"),
    )
    threshold = drift.get("drift_share_threshold")
    if finite(threshold):
        share.add_trace(
            go.Scatter(
                x=[times[0], times[-1]],
                y=[round4(threshold)] * 2,
                name="threshold",
                mode="lines",
                line={"dash": "dash", "color": "#b3261e"},
            )
        )
    parts = [_chart(share, "drift-share")]
    columns = [str(c) for c in drift.get("drifted_columns") or []][:MAX_TREND_FEATURES]
    if columns:
        statistic = go.Figure(
            [
                go.Scatter(
                    x=times,
                    y=[round4((run.get("features") or {}).get(column)) for run in runs],
                    name=plotly_text(column),
                    mode="lines+markers",
                )
                for column in columns
            ],
            layout=chart_layout(
                "Drift statistic of the drifted features", 320, y_title="statistic"
            ),
        )
        parts.append(_chart(statistic, "drift-features"))
    return f"<section id='drift-over-time'><h2>Drift over time</h2>{''.join(parts)}</section>"


def _features_table(features: Sequence[Mapping[str, Any]]) -> str:
    if not features:
        return ""
    rows = [
        (
            str(f.get("column", "")),
            str(f.get("kind") or ""),
            str(f.get("method") or ""),
            number_text(f.get("statistic")),
            threshold_text(f),
            "DRIFT" if f.get("drifted") else "ok",
            number_text(f.get("n_reference")),
            number_text(f.get("n_current")),
        )
        for f in features
    ]
    columns = ("column", "kind", "method", "statistic", "threshold", "verdict", "n ref", "n cur")
    flagged = [bool(f.get("drifted")) for f in features]
    table = _table(columns, rows, flagged, {3, 6, 7})
    return f"<section id='features'><h2>Features</h2>{table}</section>"


def _distributions(features: Sequence[Mapping[str, Any]]) -> str:
    """Reference and current distribution of each feature, drifted ones first, at most
    :data:`MAX_DISTRIBUTION_CHARTS` charts; the remaining columns are listed by name."""
    drawable = [f for f in features if f.get("distribution")]
    if not drawable:
        return ""
    charted = drawable[:MAX_DISTRIBUTION_CHARTS]
    figures = [_distribution_figure(f, f"dist-{i}") for i, f in enumerate(charted)]
    left = [str(f.get("column", "")) for f in features if f not in charted]
    rest = f"<p class='muted'>Not charted: {html.escape(', '.join(left))}</p>" if left else ""
    return (
        "<section id='distributions'><h2>Distributions</h2>"
        f"<div class='grid'>{''.join(figures)}</div>{rest}</section>"
    )


def _output_drift(result: Mapping[str, Any]) -> str:
    parts = []
    for key, title in (("prediction_drift", "Prediction drift"), ("target_drift", "Target drift")):
        feature = result.get(key)
        if not feature:
            continue
        verdict = "drifted" if feature.get("drifted") else "not drifted"
        line = (
            f"<p>{html.escape(verdict)}: {html.escape(str(feature.get('method') or ''))} "
            f"{html.escape(number_text(feature.get('statistic')))} "
            f"(threshold {html.escape(threshold_text(feature))})</p>"
        )
        chart = (
            _distribution_figure(feature, key.replace("_", "-"))
            if feature.get("distribution")
            else ""
        )
        parts.append(
            f"<section id='{key.replace('_', '-')}'><h2>{title}</h2>{line}{chart}</section>"
        )
    return "\n".join(parts)


def _quality(quality: Mapping[str, Any] | None) -> str:
    problems = list((quality or {}).get("problems") or [])
    if not problems:
        return ""
    problems.sort(key=lambda p: p.get("severity") != "error")
    rows = [
        (
            str(p.get("severity") or ""),
            "—" if p.get("column") is None else str(p["column"]),
            str(p.get("kind") or ""),
            str(p.get("message") or ""),
        )
        for p in problems
    ]
    flagged = [p.get("severity") == "error" for p in problems]
    table = _table(("severity", "column", "problem", "message"), rows, flagged)
    return f"<section id='quality'><h2>Data quality</h2>{table}</section>"


def _performance_over_time(performance: Mapping[str, Any] | None) -> str:
    """Realized (solid) and estimated (dashed) metrics per window, reference dotted."""
    windows = list((performance or {}).get("windows") or [])
    if not performance or not windows:
        return ""
    import plotly.graph_objects as go

    sides = [w.get(side) or {} for w in windows for side in ("realized", "estimated")]
    metrics = metric_names([performance.get("reference") or {}, *sides])
    metrics = [m for m in metrics if any(finite(side.get(m)) for side in sides)][
        :MAX_PERFORMANCE_METRICS
    ]
    if not metrics:
        return ""
    times = [_axis_time(w.get("start")) for w in windows]
    figure = go.Figure(layout=chart_layout("Performance per window", 320, y_title="metric"))
    reference = performance.get("reference") or {}
    for color, metric in zip(COLORWAY, metrics, strict=False):
        for side, dash in (("realized", "solid"), ("estimated", "dash")):
            figure.add_trace(
                go.Scatter(
                    x=times,
                    y=[round4((w.get(side) or {}).get(metric)) for w in windows],
                    name=plotly_text(f"{metric} {side}"),
                    mode="lines+markers",
                    line={"color": color, "dash": dash},
                )
            )
        if finite(reference.get(metric)):
            figure.add_trace(
                go.Scatter(
                    x=[times[0], times[-1]],
                    y=[round4(reference[metric])] * 2,
                    name=plotly_text(f"{metric} reference"),
                    mode="lines",
                    line={"color": color, "dash": "dot", "width": 1},
                )
            )
    chart = _chart(figure, "performance")
    return f"<section id='performance'><h2>Performance over time</h2>{chart}</section>"


def _retrain(retrain: Mapping[str, Any] | None) -> str:
    """The loop closed: the pipeline run this alert started, its gate and the version it made."""
    if not retrain:
        return ""
    status = str(retrain.get("status") or "unknown")
    steps = ["monitor alert"]
    if retrain.get("pipeline_run_id"):
        steps.append(f"pipeline run {retrain['pipeline_run_id']}")
    if retrain.get("gate"):
        steps.append(f"gate {retrain['gate']}")
    if retrain.get("new_version") is not None:
        steps.append(f"model version {retrain['new_version']}")
    chain = "".join(f"<li>{html.escape(step)}</li>" for step in steps)
    reason = retrain.get("reason")
    return (
        f"<section id='retrain'><h2>Retrain {_badge(status)}</h2><ol class='chain'>{chain}</ol>"
        + (f"<p>{html.escape(str(reason))}</p>" if reason else "")
        + "</section>"
    )


# --- figures -----------------------------------------------------------------------------------


def _distribution_figure(feature: Mapping[str, Any], key: str) -> str:
    """A ``<figure>`` with the reference (grey, filled) and current (orange) distribution."""
    column = str(feature.get("column", ""))
    verdict = "DRIFT" if feature.get("drifted") else "ok"
    figure = distribution_figure(feature)
    css = "failed" if feature.get("drifted") else "passed"
    method = _join(feature.get("method"), number_text(feature.get("statistic")))
    return (
        f"<figure class='distribution' data-column='{html.escape(column)}'>"
        f"<figcaption><strong>{html.escape(column)}</strong> {html.escape(method)} "
        f"({html.escape(threshold_text(feature))}) "
        f"<span class='{css}'>{verdict}</span></figcaption>"
        f"{_chart(figure, key)}</figure>"
    )


def _chart(figure: Any, key: str) -> str:
    """The figure's div and the script drawing it; plotly's JSON escapes ``<``, ``>`` and ``/``."""
    spec = figure.to_json(validate=False)
    return (
        f"<div class='chart' id='chart-{key}'></div><script>(function(f){{"
        f"Plotly.newPlot('chart-{key}',f.data,f.layout,{_CONFIG})}})({spec});</script>"
    )


# --- data --------------------------------------------------------------------------------------


def _runs(
    result: Mapping[str, Any], history: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The runs to plot over time: ``history`` plus this run at the end, unless already in it."""
    runs = list(history)
    if result.get("id") is None or all(run.get("id") != result["id"] for run in runs):
        drift = result.get("drift") or {}
        if drift:
            runs.append(
                {
                    "id": result.get("id"),
                    "started_at": result.get("started_at"),
                    "drift_share": drift.get("drift_share"),
                    "status": result.get("status"),
                    "features": {
                        f.get("column"): f.get("statistic") for f in drift.get("features") or []
                    },
                }
            )
    return runs


# --- formatting --------------------------------------------------------------------------------


def _table(
    columns: tuple[str, ...],
    rows: Sequence[tuple[str, ...]],
    failing: Sequence[bool] | None = None,
    numeric: set[int] | frozenset[int] = frozenset(),
) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        f"<tr{' class=fail' if failing and failing[i] else ''}>"
        + "".join(
            f"<td{' class=num' if j in numeric else ''}>{html.escape(str(cell))}</td>"
            for j, cell in enumerate(row)
        )
        + "</tr>"
        for i, row in enumerate(rows)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _card(title: str, value: str, note: str) -> str:
    return (
        f"<div class='card'><h3>{html.escape(title)}</h3>"
        f"<div class='value'>{html.escape(value)}</div><p>{html.escape(note)}</p></div>"
    )


def _badge(status: str) -> str:
    css = "".join(c if c.isalnum() or c == "_" else "-" for c in status.lower())
    return f"<span class='badge {css}'>{html.escape(status.upper().replace('_', ' '))}</span>"


def _pct(value: Any) -> str:
    return f"{value * 100:.3g}%" if finite(value) else "—"


def _rows(value: Any) -> str | None:
    return None if value is None else f"{number_text(value)} rows"


def _join(*parts: Any) -> str:
    return ", ".join(str(p) for p in parts if p not in (None, ""))


def _parse_time(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed


def _when(value: Any) -> str:
    parsed = _parse_time(value)
    if parsed is None:
        return str(value)
    return parsed.strftime("%Y-%m-%d %H:%M") + (" UTC" if parsed.tzinfo else "")


def _axis_time(value: Any) -> str | None:
    """A time plotly.js reads as a date (it rejects UTC offsets); UTC, like the header."""
    parsed = _parse_time(value) if value is not None else None
    if parsed is None:
        return None if value is None else html.escape(str(value))
    return parsed.strftime("%Y-%m-%d %H:%M:%S")
