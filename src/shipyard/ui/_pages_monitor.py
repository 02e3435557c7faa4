"""``/deployments``, ``/deployments/{name}``, ``/monitoring`` and ``/monitoring/{run_id}``: drawn
from the same functions as their JSON API. Charts are Plotly figures as JSON that the page draws;
the distribution overlays are built by the monitor report's own builders, so both look alike."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request

from shipyard.ui._api_monitor import (
    SERVERS_ENV,
    deployment,
    deployments,
    monitor_run,
    monitoring_summary,
    retrains,
)
from shipyard.ui._templates import render, when

__all__ = ["router"]

router = APIRouter()
MAX_TREND_FEATURES = 10
MAX_DISTRIBUTIONS = 30
_ALERT = "#cf222e"
_LINE = "#0969da"
_MUTED = "#8c959f"


@router.get("/deployments")
def deployments_page(request: Request) -> Any:
    return render(
        request, "deployments.html", {"data": deployments(request), "servers_env": SERVERS_ENV}
    )


@router.get("/deployments/{name}")
def deployment_page(name: str, request: Request) -> Any:
    return render(
        request, "deployment.html", {"data": deployment(name, request), "servers_env": SERVERS_ENV}
    )


@router.get("/monitoring")
def monitoring_page(request: Request, target: str | None = None) -> Any:
    """One target's monitoring (the newest run's target unless ``target`` names one)."""
    from shipyard.monitor import latest_monitor_runs
    from shipyard.monitor._store import TARGET_TAG

    newest = latest_monitor_runs()
    latest = sorted(newest, key=lambda run: -run.start_ms)
    targets = [run.tags.get(TARGET_TAG, "") for run in latest]
    target = target or (targets[0] if targets else None)
    data = monitoring_summary(target, 50, newest) if target else None
    chains = retrains(model=None, target=target, limit=20)["retrains"] if target else []
    for chain in chains:
        chain["steps"] = chain_steps(chain)
    context = {
        "target": target,
        "targets": targets,
        "data": data,
        "chains": chains,
        "charts": drift_charts(data["runs"], data["thresholds"]) if data else [],
    }
    return render(request, "monitoring.html", context)


@router.get("/monitoring/{run_id}")
def monitor_run_page(run_id: str, request: Request) -> Any:
    from shipyard.monitor._charts import drifted_first, threshold_text

    result = monitor_run(run_id)
    features = [dict(f) | {"threshold_text": threshold_text(f)} for f in drifted_first(result)]
    drawn = [f for f in features if f.get("distribution")][:MAX_DISTRIBUTIONS]
    charts = [{"id": f"dist-{i}", "figure": distribution_figure(f)} for i, f in enumerate(drawn)]
    outputs = []
    for key in ("prediction_drift", "target_drift"):
        feature = result.get(key)
        if feature:
            outputs.append(feature | {"key": key, "threshold_text": threshold_text(feature)})
            if feature.get("distribution"):
                charts.append({"id": key, "figure": distribution_figure(feature)})
    retrain = result.get("retrain")
    context = {
        "result": result,
        "features": features,
        "drawn": drawn,
        "outputs": outputs,
        "charts": charts,
        "performance": performance_rows(result.get("performance")),
        "chain": chain_steps(retrain) if retrain and retrain.get("steps") is not None else [],
    }
    return render(request, "monitor_run.html", context)


def chain_steps(chain: dict[str, Any]) -> list[dict[str, Any]]:
    """A retrain chain as steps, each with the page it links to: alert → pipeline run → gate →
    promotion → swap."""
    record = chain.get("record") or chain
    model = record.get("model") or chain.get("model")
    monitor = record.get("monitor_run_id") or chain.get("monitor_run_id")
    steps = [
        {
            "step": "alert",
            "status": "alert",
            "text": "; ".join(record.get("alerts") or ()) or "monitor run",
            "href": f"/monitoring/{monitor}" if monitor else None,
            "link": monitor,
        }
    ]
    for step in record.get("steps") or ():
        name, status = str(step.get("step", "")), str(step.get("status", ""))
        one: dict[str, Any] = {"step": name, "status": status, "text": "", "href": None}
        run = step.get("pipeline_run") or step.get("gate_run")
        if run:
            one |= {"href": f"/runs/{run}", "link": run}
        elif name == "promote" and model and step.get("version") is not None:
            one |= {
                "href": f"/models/{model}/versions/{step['version']}",
                "link": f"{model} v{step['version']}",
                "text": f"→ {step.get('alias') or 'alias'}",
            }
        elif name == "swap":
            swap = record.get("swap") or {}
            one["text"] = str(swap.get("detail") or swap.get("server") or "")
        steps.append(one)
    return steps


def performance_rows(performance: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each metric realized (from labels), estimated (before labels) and at training time."""
    from shipyard.monitor._charts import metric_names

    if not performance:
        return []
    sides = {s: performance.get(s) or {} for s in ("reference", "realized", "estimated")}
    drops = performance.get("drops") or {}
    return [
        {
            "metric": metric,
            **{side: values.get(metric) for side, values in sides.items()},
            "drop": drops.get(f"{metric}_drop"),
            "estimated_drop": drops.get(f"estimated_{metric}_drop"),
        }
        for metric in metric_names(sides.values())
        if metric != "label_coverage"
    ]


def distribution_figure(feature: dict[str, Any]) -> dict[str, Any]:
    """The reference (grey, filled) and current (orange) distribution of one feature, as the
    monitor report draws it, as Plotly JSON."""
    from shipyard.monitor._charts import distribution_figure as figure_of

    figure: dict[str, Any] = json.loads(figure_of(feature).to_json())
    return figure


def drift_charts(
    runs: list[dict[str, Any]], thresholds: dict[str, float | None]
) -> list[dict[str, Any]]:
    """Drift share per run (alerting runs marked) against the thresholds, and the statistic of
    the features that drifted most, oldest run first; a click opens the run."""
    from shipyard.monitor._charts import plotly_text

    points = [r for r in reversed(runs) if r.get("drift_share") is not None]
    if not points:
        return []
    times = [when(r["start_ms"]) for r in points]
    alerts = [r for r in points if r["status"] == "alert"]
    share: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "x": times,
            "y": [r["drift_share"] for r in points],
            "customdata": [r["id"] for r in points],
            "name": "drift share",
            "mode": "lines+markers",
            "line": {"color": _LINE},
        },
        {
            "type": "scatter",
            "x": [when(r["start_ms"]) for r in alerts],
            "y": [r["drift_share"] for r in alerts],
            "customdata": [r["id"] for r in alerts],
            "name": "alert",
            "mode": "markers",
            "marker": {"color": _ALERT, "size": 13, "symbol": "x"},
        },
    ]
    for key, label, color, dash in (
        ("alert", "alert rule: drift_share > {:g}", _ALERT, "dash"),
        ("dataset_drift", "dataset drift above {:g}", _MUTED, "dot"),
    ):
        value = thresholds.get(key)
        if value is not None:
            share.append(
                {
                    "type": "scatter",
                    "x": [times[0], times[-1]],
                    "y": [value, value],
                    "name": label.format(value),
                    "mode": "lines",
                    "line": {"color": color, "dash": dash},
                    "hoverinfo": "skip",
                }
            )
    charts = [{"id": "drift-share", "figure": {"data": share, "layout": _layout_of("drift share")}}]
    columns = _trend_columns(points)
    if columns:
        statistic = [
            {
                "type": "scatter",
                "x": times,
                "y": [r["drift"].get(column) for r in points],
                "customdata": [r["id"] for r in points],
                "name": plotly_text(column),  # plotly.js reads HTML in labels
                "mode": "lines+markers",
            }
            for column in columns
        ]
        charts.append(
            {"id": "drift-features", "figure": {"data": statistic, "layout": _layout_of("")}}
        )
    return charts


def _trend_columns(points: list[dict[str, Any]]) -> list[str]:
    """Features that ever drifted first, then the largest statistics; at most ten."""
    drifted = {c for r in points for c in r["drifted_features"]}
    largest: dict[str, float] = {}
    for run in points:
        for column, value in run["drift"].items():
            largest[column] = max(largest.get(column, value), value)
    ranked = sorted(largest, key=lambda c: (c not in drifted, -largest[c], c))
    return ranked[:MAX_TREND_FEATURES]


def _layout_of(y_title: str) -> dict[str, Any]:
    yaxis: dict[str, Any] = {"title": {"text": y_title or "drift statistic"}, "rangemode": "tozero"}
    if y_title == "drift share":
        yaxis["tickformat"] = ".0%"
    return {
        "height": 300,
        "margin": {"l": 60, "r": 10, "t": 10, "b": 40},
        "legend": {"orientation": "h", "y": -0.25},
        "hovermode": "closest",
        "yaxis": yaxis,
        "font": {"family": "system-ui, sans-serif", "size": 11},
    }
