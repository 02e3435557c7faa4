"""``GET /api/overview``: the workspace at a glance — experiments, recent runs, models with
their champion, deployments seen in the inference log, and the open alerts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

from shipyard.ui._api_runs import experiment_row

if TYPE_CHECKING:
    from shipyard.tracking import RunRecord

__all__ = ["overview", "router"]

router = APIRouter(tags=["overview"])
RECENT_RUNS = 10


@router.get("/overview", summary="The workspace at a glance")
def overview() -> dict[str, Any]:
    from shipyard.registry import registry_service
    from shipyard.tracking import tracking_service

    tracking = tracking_service()
    experiments = tracking.list_experiments()
    recent = tracking.search_runs(None, None, ["start_time desc"], RECENT_RUNS).runs
    models = registry_service().list_models()
    return {
        "experiments": [experiment_row(e) for e in experiments],
        "recent_runs": [
            {
                "id": r.id,
                "experiment": r.experiment,
                "name": r.name,
                "status": r.status,
                "start_ms": r.start_ms,
            }
            for r in recent
        ],
        "models": [
            {
                "name": m.name,
                "latest_version": m.latest_version,
                "champion": m.aliases.get("champion"),
                "aliases": m.aliases,
            }
            for m in models
        ],
        "deployments": deployments_seen(),
        "alerts": open_alerts(),
    }


def deployments_seen() -> list[dict[str, Any]]:
    """Deployments that wrote an inference log, with the newest day they logged."""
    from shipyard.core.config import resolve_settings
    from shipyard.serve import logged_deployments

    return logged_deployments(resolve_settings().artifacts)


def open_alerts(latest: list[RunRecord] | None = None) -> list[dict[str, Any]]:
    """The latest monitor run of each target, when it alerted; ``latest`` is
    :func:`shipyard.monitor.latest_monitor_runs` when the caller read it already."""
    from shipyard.monitor import alert_count, latest_monitor_runs
    from shipyard.monitor._store import STATUS_TAG, TARGET_TAG

    return [
        {
            "target": run.tags.get(TARGET_TAG, ""),
            "run_id": run.id,
            "start_ms": run.start_ms,
            "alerts": alert_count(run),
            "drift_share": run.metrics.get("drift_share"),
        }
        for run in (latest_monitor_runs() if latest is None else latest)
        if run.tags.get(STATUS_TAG) == "alert"
    ]
