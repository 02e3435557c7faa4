"""``GET /api/overview``: the workspace at a glance — experiments, recent runs, models with
their champion, deployments seen in the inference log, and the open alerts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

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
        "experiments": [
            {"name": e.name, "runs": e.run_count, "created_ms": e.created_ms} for e in experiments
        ],
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
    import fsspec

    from shipyard.core.config import resolve_settings

    root = f"{resolve_settings().artifacts}/inference"
    fs, path = fsspec.core.url_to_fs(root)
    if not fs.exists(path):
        return []
    found = []
    for folder in sorted(fs.ls(path, detail=False)):
        name = folder.rstrip("/").rsplit("/", 1)[-1]
        days = sorted(p.rsplit("date=", 1)[-1] for p in fs.ls(folder, detail=False))
        found.append({"name": name, "last_day": days[-1] if days else None})
    return found


def open_alerts() -> list[dict[str, Any]]:
    """The latest monitor run of each target, when it alerted."""
    from shipyard.monitor._store import STATUS_TAG, list_monitor_runs

    latest: dict[str, Any] = {}
    for run in list_monitor_runs(limit=200):
        latest.setdefault(run.tags.get("monitor.target", ""), run)
    return [
        {
            "target": target,
            "run_id": run.id,
            "start_ms": run.start_ms,
            "alerts": int(run.tags.get("monitor.alerts", "0") or 0),
            "drift_share": run.metrics.get("drift_share"),
        }
        for target, run in latest.items()
        if run.tags.get(STATUS_TAG) == "alert"
    ]
