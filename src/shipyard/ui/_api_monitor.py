"""``/api/deployments`` and ``/api/monitoring``: production as the dashboard sees it.

A deployment's live state comes from the model servers the dashboard was told about (their
``/v1/deployments`` and Prometheus ``/metrics``, asked with a short timeout: a server that does
not answer is "unreachable", never an error page); what it did comes from the inference log and
the registry's audit trail, so the page says something even with no server running. Monitoring
reads the monitor runs, their stored ``monitor.json`` and the retrain chains they started.
"""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query, Request

from shipyard.core.errors import NotFound, ShipyardError
from shipyard.ui._api_overview import deployments_seen, open_alerts
from shipyard.ui._api_runs import finite
from shipyard.ui._state import state_of

if TYPE_CHECKING:
    from shipyard.tracking import RunRecord

__all__ = [
    "DAY_MS",
    "SERVERS_ENV",
    "day_start_ms",
    "deployment",
    "deployments",
    "histogram_quantile",
    "monitor_run",
    "monitoring_runs",
    "monitoring_summary",
    "retrains",
    "router",
    "server_metrics",
]

router = APIRouter()

#: Comma-separated model server URLs whose live state the deployment pages show.
SERVERS_ENV = "SHIPYARD_UI_SERVERS"
SERVER_TIMEOUT_S = 1.0
SWAPS_SHOWN = 20
DAY_MS = 86_400_000
LOG_DAYS = 7  # how much of the inference log a deployment page summarizes


# --- deployments -------------------------------------------------------------------------------


@router.get("/deployments", tags=["deployments"], summary="Deployments: live and logged")
def deployments(request: Request) -> dict[str, Any]:
    """Every deployment a configured model server serves or the inference log has seen, with
    what the servers serve now and their request, error and worst p95 latency figures; and each
    server's state (``ok``, ``unreachable``, ``error``)."""
    servers = query_servers(server_urls(request), state_of(request).token)
    logged = {d["name"]: d for d in deployments_seen()}
    live: dict[str, list[dict[str, Any]]] = {}
    for server in servers:
        for status in server["deployments"]:
            metrics = server["metrics"].get(status["name"]) or empty_metrics()
            live.setdefault(status["name"], []).append(
                {"server": server["url"], **status, "metrics": metrics}
            )
    rows = []
    for name in sorted(set(logged) | set(live)):
        served = live.get(name, [])
        variants = [v for s in served for v in s.get("variants", ()) if v.get("role") == "primary"]
        rows.append(
            {
                "name": name,
                "model": next((s.get("model") for s in served), None),
                "servers": [s["server"] for s in served],
                "ready": all(s.get("ready") for s in served) if served else None,
                "versions": sorted({v["version"] for v in variants if v.get("version")}),
                "traffic": {v["label"]: v.get("traffic_percent") for v in variants},
                **_totals([s["metrics"] for s in served]),
                "last_logged_day": (logged.get(name) or {}).get("last_day"),
            }
        )
    return {
        "servers": [
            {k: s[k] for k in ("url", "status", "error")}
            | {"deployments": [d["name"] for d in s["deployments"]]}
            for s in servers
        ],
        "deployments": rows,
    }


@router.get(
    "/deployments/{name}",
    tags=["deployments"],
    summary="One deployment: live state, metrics, logged traffic and alias moves",
)
def deployment(name: str, request: Request) -> dict[str, Any]:
    """What each configured server serves for ``name`` (variants, traffic split, queue, last
    error, its swaps) and how it answers (requests by status and route, errors, latency
    quantiles from the histogram); the inference log of the newest day it logged (rows,
    requests and latency per version); and the moves of the model's aliases in the registry."""
    servers = query_servers(server_urls(request), state_of(request).token)
    logged_day = next((d["last_day"] for d in deployments_seen() if d["name"] == name), None)
    live = []
    for server in servers:
        status = next((d for d in server["deployments"] if d["name"] == name), None)
        if status is not None:
            metrics = server["metrics"].get(name) or empty_metrics()
            live.append({"url": server["url"], **status, "metrics": metrics})
    if not live and logged_day is None:
        raise NotFound(
            f"No deployment named {name!r}: no configured server serves it and the inference "
            "log has no rows of it.",
            hint=f"GET /api/deployments lists the known ones; set {SERVERS_ENV} to the servers' "
            "URLs (shipyard ui --server URL).",
        )
    log = logged_versions(name, logged_day)
    model = next((s.get("model") for s in live), None) or log.get("model")
    return {
        "name": name,
        "model": model,
        "servers": [
            {k: s[k] for k in ("url", "status", "error")}
            for s in servers
            if s["status"] != "ok" or any(d["name"] == name for d in s["deployments"])
        ],
        "live": live,
        "log": log,
        "alias_moves": alias_moves(model) if model else [],
    }


def _totals(metrics: list[dict[str, Any]]) -> dict[str, Any]:
    """Requests and errors summed over the servers of one deployment; the worst p95."""
    p95 = [m["latency"]["p95_ms"] for m in metrics if m["latency"]["p95_ms"] is not None]
    return {
        "requests": sum(m["requests"] for m in metrics) if metrics else None,
        "errors_4xx": sum(m["errors_4xx"] for m in metrics) if metrics else None,
        "errors_5xx": sum(m["errors_5xx"] for m in metrics) if metrics else None,
        "latency_p95_ms": max(p95, default=None),
    }


def server_urls(request: Request) -> list[str]:
    """The model servers to ask: ``shipyard ui --server URL`` or $SHIPYARD_UI_SERVERS."""
    return list(state_of(request).servers)


def query_servers(urls: list[str], token: str | None) -> list[dict[str, Any]]:
    """Each server's deployments and metrics, asked concurrently (a slow one costs ~1 s)."""
    if not urls:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(urls))) as pool:
        return list(pool.map(lambda url: query_server(url, token), urls))


def query_server(url: str, token: str | None = None) -> dict[str, Any]:
    """``GET {url}/v1/deployments`` and ``{url}/metrics``; ``status`` says how it went. The
    dashboard's token (``SHIPYARD_API_TOKEN``) goes along, as a server with auth on needs it."""
    import httpx

    answer: dict[str, Any] = {
        "url": url,
        "status": "ok",
        "error": None,
        "deployments": [],
        "metrics": {},
    }
    if not url.startswith(("http://", "https://")):
        return answer | {"status": "error", "error": "not an http:// or https:// URL"}
    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        with httpx.Client(base_url=url, timeout=SERVER_TIMEOUT_S, headers=headers) as client:
            listed = client.get("/v1/deployments")
            listed.raise_for_status()
            answer["deployments"] = [
                d
                for d in listed.json().get("deployments", ())
                if isinstance(d, dict) and isinstance(d.get("name"), str)
            ]
            scraped = client.get("/metrics")
            scraped.raise_for_status()
            answer["metrics"] = server_metrics(scraped.text)
    except httpx.TransportError as exc:
        return answer | {"status": "unreachable", "error": f"{type(exc).__name__}: {exc}"}
    except httpx.HTTPStatusError as exc:
        return answer | {"status": "error", "error": f"HTTP {exc.response.status_code}"}
    except (httpx.HTTPError, ValueError, AttributeError, KeyError, TypeError) as exc:
        # Not the server we expect, or a malformed page (a histogram bucket without ``le``).
        return answer | {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    return answer


def empty_metrics() -> dict[str, Any]:
    return {
        "requests": 0,
        "by_code": {},
        "by_route": {},
        "errors_4xx": 0,
        "errors_5xx": 0,
        "swaps": 0,
        "requests_per_s": None,  # mean since the first request (the counters' creation time)
        "latency": {"count": 0, "mean_ms": None, "p50_ms": None, "p95_ms": None, "p99_ms": None},
    }


def server_metrics(text: str) -> dict[str, dict[str, Any]]:
    """Per deployment: requests by status code and route, 4xx/5xx counts, swaps, and the latency
    quantiles of the ``shipyard_request_seconds`` histogram, from Prometheus text."""
    from prometheus_client.parser import text_string_to_metric_families

    found: dict[str, dict[str, Any]] = {}
    buckets: dict[str, list[tuple[float, float]]] = {}
    sums: dict[str, float] = {}
    first: dict[str, list[float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = sample.labels.get("deployment")
            if name is None:
                continue
            into = found.setdefault(name, empty_metrics())
            if sample.name == "shipyard_requests_total":
                count, code = int(sample.value), sample.labels.get("code", "")
                route = sample.labels.get("route", "")
                into["requests"] += count
                into["by_code"][code] = into["by_code"].get(code, 0) + count
                into["by_route"][route] = into["by_route"].get(route, 0) + count
                if code.startswith("4"):
                    into["errors_4xx"] += count
                elif code.startswith("5"):
                    into["errors_5xx"] += count
            elif sample.name == "shipyard_requests_created":
                first.setdefault(name, []).append(sample.value)
            elif sample.name == "shipyard_model_swaps_total":
                into["swaps"] += int(sample.value)
            elif sample.name == "shipyard_request_seconds_bucket":
                bound = float(sample.labels["le"])
                buckets.setdefault(name, []).append((bound, sample.value))
            elif sample.name == "shipyard_request_seconds_sum":
                sums[name] = sample.value
    now = time.time()
    for name, created in first.items():
        elapsed = now - min(created)
        if elapsed > 0 and found[name]["requests"]:
            found[name]["requests_per_s"] = found[name]["requests"] / elapsed
    for name, cumulative in buckets.items():
        cumulative.sort()
        answered = cumulative[-1][1] if cumulative else 0.0
        latency = found[name]["latency"]
        latency["count"] = int(answered)
        if answered:
            total = sums.get(name)
            latency["mean_ms"] = None if total is None else 1000 * total / answered
            for q in (50, 95, 99):
                value = histogram_quantile(q / 100, cumulative)
                latency[f"p{q}_ms"] = None if value is None else 1000 * value
    return found


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The ``q`` quantile of a cumulative histogram (upper bound, count), sorted by bound,
    interpolated linearly inside its bucket as Prometheus' ``histogram_quantile`` does."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower  # above the highest finite bucket: its bound is all we know
            if count == below:
                return bound
            return lower + (bound - lower) * (rank - below) / (count - below)
        lower, below = bound, count
    return lower


def day_start_ms(day: str) -> int | None:
    """The epoch ms at which an inference log day (``YYYY-MM-DD``, UTC) starts; ``None`` for
    what is not a day."""
    from datetime import date

    try:
        return (date.fromisoformat(day) - date(1970, 1, 1)).days * DAY_MS
    except ValueError:
        return None


def logged_versions(name: str, day: str | None) -> dict[str, Any]:
    """Rows, requests and latency per model version over the last :data:`LOG_DAYS` days ``name``
    logged (up to its newest day ``day``), reading only the columns a summary needs."""
    if day is None:
        return {"day": None, "model": None, "rows": 0, "versions": []}
    start = day_start_ms(day)
    if start is None:  # not a day the log wrote: nothing to read
        return {"day": None, "model": None, "rows": 0, "versions": []}
    import pyarrow as pa
    import pyarrow.compute as pc

    from shipyard.core.config import resolve_settings
    from shipyard.serve import read_inference_log

    columns = ["row", "request_id", "model_name", "model_version", "variant", "latency_ms"]
    table = read_inference_log(
        resolve_settings().artifacts,
        name,
        since=start - (LOG_DAYS - 1) * DAY_MS,
        until=start + DAY_MS,
        columns=columns,
    )
    table = table.select(["ts", *columns])
    table = table.set_column(0, "ts", pc.cast(table["ts"], pa.int64()))
    keys = ["model_version", "variant"]
    counted = table.group_by(keys).aggregate(
        [("ts", "min"), ("ts", "max"), ("ts", "count"), ("request_id", "count_distinct")]
    )
    firsts = table.filter(pc.equal(table["row"], 0))  # one row per request
    quantiles = firsts.group_by(keys).aggregate(
        [("latency_ms", "tdigest", pc.TDigestOptions(q=[0.5, 0.95]))]
    )
    latency = {
        (r["model_version"], r["variant"]): r["latency_ms_tdigest"] for r in quantiles.to_pylist()
    }
    versions = [
        {
            "version": r["model_version"],
            "variant": r["variant"],
            "rows": r["ts_count"],
            "requests": r["request_id_count_distinct"],
            "first_ms": r["ts_min"],
            "last_ms": r["ts_max"],
            **_quantiles(latency.get((r["model_version"], r["variant"]))),
        }
        for r in counted.to_pylist()
    ]
    versions.sort(key=lambda v: v["last_ms"] or 0, reverse=True)
    models = table["model_name"].drop_null()
    return {
        "day": day,
        "model": models[-1].as_py() if len(models) else None,
        "rows": table.num_rows,
        "versions": versions,
    }


def _quantiles(values: list[float] | None) -> dict[str, float | None]:
    p50, p95 = values if values and len(values) == 2 else (math.nan, math.nan)
    return {
        "latency_p50_ms": p50 if math.isfinite(p50) else None,
        "latency_p95_ms": p95 if math.isfinite(p95) else None,
    }


def alias_moves(model: str) -> list[dict[str, Any]]:
    """The newest moves of ``model``'s aliases (what deployments following them swap to)."""
    from shipyard.registry import registry_service

    try:
        events = registry_service().history(model)
    except NotFound:
        return []
    moves = [
        {
            "at_ms": e.at_ms,
            "alias": e.detail.get("alias"),
            "from_version": e.detail.get("previous_version"),
            "to_version": e.version,
            "reason": e.reason,
            "user": e.user,
        }
        for e in events
        if e.action == "set_alias"
    ]
    return moves[::-1][:SWAPS_SHOWN]


# --- monitoring --------------------------------------------------------------------------------


@router.get("/monitoring/runs", tags=["monitoring"], summary="Monitor runs, newest first")
def monitoring_runs(
    target: str | None = Query(None, description="Only this target's runs (a deployment name)."),
    limit: int = Query(50, ge=1, le=500),
) -> dict[str, Any]:
    """Each monitor run's verdict and headline numbers (drift share, drifted features, the
    statistic of every feature, alerts), the thresholds drift is judged against, every target
    monitored with its latest run (however old), and the targets alerting now."""
    from shipyard.monitor import latest_monitor_runs

    return monitoring_summary(target, limit, latest_monitor_runs())


def monitoring_summary(target: str | None, limit: int, newest: list[RunRecord]) -> dict[str, Any]:
    """:func:`monitoring_runs` with the latest run of each target (``newest``:
    :func:`shipyard.monitor.latest_monitor_runs`) read by the caller already."""
    from shipyard.monitor import list_monitor_runs

    runs = [_run_row(run) for run in list_monitor_runs(target or None, limit)]
    latest = [_run_row(run) for run in newest]
    return {
        "target": target or None,
        "runs": runs,
        "thresholds": drift_thresholds(runs[0]["id"] if runs else None),
        "targets": [
            {k: row[k] for k in ("target", "status", "alerts", "start_ms")} | {"run_id": row["id"]}
            for row in latest
        ],
        "open_alerts": open_alerts(newest),
    }


def _run_row(run: Any) -> dict[str, Any]:
    from shipyard.monitor import alert_count

    metrics = run.metrics
    return {
        "id": run.id,
        "target": run.tags.get("monitor.target"),
        "model": run.tags.get("monitor.model"),
        "status": run.tags.get("monitor.status", "running"),
        "start_ms": run.start_ms,
        "end_ms": run.end_ms,
        "rows": metrics.get("rows"),
        "drift_share": metrics.get("drift_share"),
        "drifted_features": sorted(
            key.removeprefix("drifted.")
            for key, value in metrics.items()
            if key.startswith("drifted.") and value
        ),
        "drift": {
            key.removeprefix("drift."): value
            for key, value in metrics.items()
            if key.startswith("drift.")
        },
        "alerts": alert_count(run),
    }


def drift_thresholds(newest_run: str | None) -> dict[str, float | None]:
    """``alert``: the workspace's ``drift_share > x`` rule; ``dataset_drift``: the share above
    which the newest run called the whole data set drifted."""
    from shipyard.monitor import load_result
    from shipyard.monitor._config import workspace_monitor_config

    found: dict[str, float | None] = {"alert": None, "dataset_drift": None}
    try:
        rules = workspace_monitor_config().alerts
        found["alert"] = next(
            (r.threshold for r in rules if r.metric == "drift_share" and r.label is None), None
        )
    except ShipyardError:  # a broken [monitor] section must not take the page down
        pass
    if newest_run is not None:
        try:
            drift = load_result(newest_run).get("drift") or {}
            found["dataset_drift"] = drift.get("drift_share_threshold")
        except ShipyardError:
            pass
    return found


@router.get(
    "/monitoring/runs/{run_id}",
    tags=["monitoring"],
    summary="One monitor run's stored result (monitor.json)",
)
def monitor_run(run_id: str) -> dict[str, Any]:
    """The whole result: drift per feature with the distributions compared, data quality,
    performance (realized, estimated, reference), alerts and the retrain chain it started."""
    from shipyard.monitor import load_result

    result: dict[str, Any] = finite(load_result(run_id))
    return result


@router.get("/monitoring/retrains", tags=["monitoring"], summary="Retrain chains, newest first")
def retrains(
    model: str | None = Query(None, description="Only this registered model's chains."),
    target: str | None = Query(None, description="Only chains started by this target's runs."),
    limit: int = Query(20, ge=1, le=200),
) -> dict[str, Any]:
    """Each chain an alert started — monitor run → pipeline run → gate → promotion → swap —
    with its stored record (``retrain.json``)."""
    from shipyard.monitor._retrain import CHAIN_FILE
    from shipyard.monitor._store import TARGET_TAG, search_monitor_runs
    from shipyard.tracking import tracking_service

    tracking = tracking_service()
    tags = {"monitor.model_name": model or None, TARGET_TAG: target or None}
    chains = []
    for run in search_monitor_runs("retrain", tags, limit):
        try:
            record = finite(json.loads(tracking.get_artifact(run.id, CHAIN_FILE)))
        except NotFound:  # still running: only the tags so far
            record = None
        except ValueError:  # not JSON (nor UTF-8): shown as a chain without its record
            record = None
        if not isinstance(record, dict):
            record = None
        chains.append(
            {
                "id": run.id,
                "model": run.tags.get("monitor.model_name"),
                "target": run.tags.get(TARGET_TAG),
                "status": run.tags.get("chain.status", "running"),
                "start_ms": run.start_ms,
                "monitor_run_id": run.tags.get("chain.monitor_run") or None,
                "record": record,
            }
        )
    return {"retrains": chains}
