"""Monitor runs kept as tracking runs of the ``monitor`` experiment.

A monitor run is a run like any other: its numbers are metrics (``drift_share``,
``drift.<column>``, ``roc_auc`` …), so ``shipyard runs list -e monitor`` and the metric history
show drift over time; its verdict is in tags (``monitor.target``, ``monitor.status``); the whole
result is ``monitor.json`` and the report ``report.html`` beside ``plotly.min.js`` (stored once:
blobs are content-addressed). The run is opened before alerts are sent and retraining starts, so
both can link to it, and ends once the report is written.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInput, NotFound, StoreError

if TYPE_CHECKING:
    from shipyard.monitor._config import MonitorConfig
    from shipyard.monitor._result import MonitorResult
    from shipyard.tracking import Run, RunRecord

__all__ = [
    "EXPERIMENT",
    "RESULT_FILE",
    "alert_count",
    "history",
    "latest_monitor_runs",
    "list_monitor_runs",
    "load_result",
    "store_result",
]

EXPERIMENT = "monitor"
RESULT_FILE = "monitor.json"
REPORT_FILE = "report.html"
PLOTLY_FILE = "plotly.min.js"
TARGET_TAG = "monitor.target"
STATUS_TAG = "monitor.status"
KIND_TAG = "monitor.kind"
ALERTS_TAG = "monitor.alerts"
# The performance metrics a report's history and `shipyard monitor show` put side by side.
HEADLINE_METRICS = ("roc_auc", "accuracy", "f1", "rmse", "mae")
_HISTORY = 50
_METRIC_KEY = re.compile(r"[\w][\w\-. /:]{0,239}")
_log = logging.getLogger("shipyard.monitor")


def store_result(
    result: MonitorResult, config: MonitorConfig, *, notify: bool, retrain: bool
) -> None:
    """Record ``result``, deliver its alerts and start the retrain policy; sets ``result.id``."""
    from shipyard.tracking import Run, tracking_service

    service = tracking_service()
    tags = {KIND_TAG: "check", TARGET_TAG: result.target}
    if result.model is not None:
        tags["monitor.model"] = result.model["uri"]
    record = service.create_run(EXPERIMENT, name=f"monitor {result.target}", initial_tags=tags)
    result.id = record.id
    with Run(service, record) as run:
        run.log_params(
            {
                "window": result.window.get("spec") or "",
                "reference": result.reference.get("ref") or result.reference.get("kind") or "",
            }
        )
        run.log_metrics(_metrics(result))
        if result.alerts and notify:
            _notify(result, config)
        if result.alerts and retrain and config.retrain is not None:
            from shipyard.monitor._retrain import retrain_on_alert

            result.retrain = retrain_on_alert(result, config.retrain)
        run.set_tags({STATUS_TAG: result.status, ALERTS_TAG: str(len(result.alerts))})
        _write_files(run, result)


def _metrics(result: MonitorResult) -> dict[str, float]:
    """The result's numbers under metric keys: ``drift{age}`` is stored as ``drift.age``."""
    metrics = {}
    for key, value in result.values().items():
        name = key.replace("{", ".").rstrip("}")
        if _METRIC_KEY.fullmatch(name) and math.isfinite(value):
            metrics[name] = value
    metrics["duration_s"] = result.duration_s
    return metrics


def _notify(result: MonitorResult, config: MonitorConfig) -> None:
    from shipyard.monitor._sinks import alert_payload, build_sinks, deliver

    payload = alert_payload(
        result.alerts,
        target=result.target,
        monitor_run_id=result.id,
        drifted_columns=result.drifted_columns,
    )
    payload.update(model=result.model, window=result.window)
    sinks = build_sinks(config, record_event=_event_recorder(result))
    for delivery in deliver(sinks, payload):
        if not delivery.delivered:
            _log.warning("Alert delivery failed: %s", delivery.to_dict())


def _event_recorder(result: MonitorResult) -> Any:
    """Record an alert in the model's audit trail (``shipyard models history``)."""
    from shipyard.registry import registry_service

    def record(payload: dict[str, Any]) -> None:
        if result.model is None:
            return
        rules = "; ".join(alert["rule"] for alert in payload.get("alerts", ()))
        registry_service().record_event(
            result.model["name"],
            result.model["version"],
            "monitor_alert",
            payload,
            reason=f"monitor run {result.id}: {rules}"[:1000],
        )

    return record


def _write_files(run: Run, result: MonitorResult) -> None:
    from shipyard.monitor._report_html import plotly_js_bundle, render_report

    document = result.to_dict()
    run.log_artifact(json.dumps(document, indent=1).encode(), RESULT_FILE)
    page = render_report(document, history(result.target), plotly_js="sibling")
    run.log_artifact(page.encode(), REPORT_FILE)
    run.log_artifact(plotly_js_bundle(), PLOTLY_FILE)


def list_monitor_runs(target: str | None = None, limit: int = 50) -> list[RunRecord]:
    """Stored monitor runs, newest first; only ``target``'s when given."""
    return search_monitor_runs("check", {TARGET_TAG: target}, limit)


def latest_monitor_runs() -> list[RunRecord]:
    """The newest monitor run of every target, newest first: what "which targets are watched,
    and are they alerting now" needs, however many runs older checks left behind (one query,
    :meth:`~shipyard.tracking.TrackingService.latest_runs_by_tag`)."""
    from shipyard.tracking import tracking_service

    try:
        return tracking_service().latest_runs_by_tag(EXPERIMENT, TARGET_TAG, {KIND_TAG: "check"})
    except NotFound:  # no monitor run yet: no experiment either
        return []


def alert_count(run: RunRecord) -> int:
    """How many alerts monitor run ``run`` raised (0 while it runs); a tag edited into something
    that is not a count reads as 0 rather than breaking whoever shows it."""
    text = run.tags.get(ALERTS_TAG) or "0"
    try:
        return max(int(text.strip()), 0)
    except ValueError:
        return 0


def search_monitor_runs(kind: str, tags: Mapping[str, str | None], limit: int) -> list[RunRecord]:
    """Runs of the ``monitor`` experiment of one ``kind`` (check, retrain) whose ``tags`` have
    the given values (``None``: any), newest first."""
    from shipyard.tracking import tracking_service

    query = f"tags.`{KIND_TAG}` = '{kind}'"
    for key, value in tags.items():
        if value is None:
            continue
        if "'" in value:
            raise InvalidInput(f"{key} cannot contain a quote, got {value!r}.")
        query += f" and tags.`{key}` = '{value}'"
    try:
        page = tracking_service().search_runs(
            EXPERIMENT, query, order_by=["start_time desc"], limit=limit
        )
    except NotFound:  # no monitor run yet: no experiment either
        return []
    return list(page.runs)


def load_result(run_id: str) -> dict[str, Any]:
    """The stored result of monitor run ``run_id`` (a prefix of it is enough)."""
    from shipyard.tracking import tracking_service

    service = tracking_service()
    run_id = service.resolve_run_id(run_id)
    try:
        data = service.get_artifact(run_id, RESULT_FILE)
    except NotFound:
        raise NotFound(
            f"Run {run_id} is not a monitor run (it has no {RESULT_FILE}).",
            hint="List monitor runs with: shipyard monitor list.",
        ) from None
    try:
        document = json.loads(data)
    except ValueError:  # not JSON, or not UTF-8
        document = None
    if not isinstance(document, dict):
        raise StoreError(
            f"The {RESULT_FILE} of monitor run {run_id} is not a JSON object.",
            hint=f"Run the check again; the run's files: shipyard artifacts list {run_id}.",
        )
    document["id"] = run_id
    return document


def history(target: str, limit: int = _HISTORY) -> list[dict[str, Any]]:
    """Earlier runs of ``target``, oldest first, as the report's drift-over-time points."""
    from datetime import UTC, datetime

    points = []
    for run in reversed(list_monitor_runs(target, limit)):
        features = {
            key[len("drift.") :]: value
            for key, value in run.metrics.items()
            if key.startswith("drift.")
        }
        performance = {
            key: value
            for key, value in run.metrics.items()
            if key.removeprefix("estimated_") in HEADLINE_METRICS
        }
        points.append(
            {
                "id": run.id,
                "started_at": datetime.fromtimestamp(run.start_ms / 1000, UTC).isoformat(
                    timespec="seconds"
                ),
                "drift_share": run.metrics.get("drift_share"),
                "status": run.tags.get(STATUS_TAG, "running"),
                "features": features,
                "drifted_columns": [
                    key[len("drifted.") :]
                    for key, value in run.metrics.items()
                    if key.startswith("drifted.") and value
                ],
                "performance": performance,
            }
        )
    return points
