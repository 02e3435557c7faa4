"""The module-level API: ``sy.start_run`` and shortcuts that act on the active run.

The tracking service of the current workspace is opened on first use and kept per resolved
settings, so a process pays the migration check once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shipyard.core.config import resolve_settings
from shipyard.core.errors import InvalidInput
from shipyard.store import Store
from shipyard.tracking._records import ArtifactRecord, ExperimentRecord, RunPage, RunRecord
from shipyard.tracking._run import Run, active_run
from shipyard.tracking._service import TrackingService
from shipyard.tracking._validation import check_name, check_text_values

__all__ = [
    "close_workspaces",
    "get_run",
    "list_experiments",
    "log_artifact",
    "log_figure",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "search_runs",
    "set_tag",
    "set_tags",
    "start_run",
    "tracking_service",
]

_services: dict[tuple[str, str], TrackingService] = {}
_services_lock = threading.Lock()


def tracking_service(workspace: str | os.PathLike[str] | None = None) -> TrackingService:
    """The tracking service of ``workspace`` (default: the one found from here)."""
    settings = resolve_settings(Path(workspace) if workspace else None)
    key = (settings.db_url, settings.artifacts)
    with _services_lock:
        if key not in _services:
            _services[key] = TrackingService(Store.open(settings))
        return _services[key]


def close_workspaces() -> None:
    """Flush pending metrics and close every workspace this process opened.

    Call it before forking, or in tests between workspaces; the next call reopens them.
    """
    with _services_lock:
        services = list(_services.values())
        _services.clear()
    for service in services:
        service.close()


def start_run(
    experiment: str | None = None,
    name: str | None = None,
    *,
    tags: Mapping[str, Any] | None = None,
    parent: Run | str | None = None,
) -> Run:
    """Start a run and make it active; use ``with`` so that it always ends.

    A run started while another is active is its child (nested run) and, unless told
    otherwise, lands in the same experiment.
    """
    if parent is None:
        parent = active_run()
    parent_id = parent.id if isinstance(parent, Run) else parent
    if experiment is None:
        experiment = (
            parent.experiment
            if isinstance(parent, Run)
            else os.environ.get("SHIPYARD_EXPERIMENT", "default")
        )
    experiment = check_name("experiment", experiment)
    run_name = None if name is None else check_name("run", name)
    service = tracking_service()
    initial_tags = check_text_values("tag", tags or {})
    record = service.create_run(
        experiment, run_name, parent_id=parent_id, initial_tags=initial_tags
    )
    run = Run(service, record)
    run._activate()
    return run


def _require_active() -> Run:
    run = active_run()
    if run is None:
        raise InvalidInput(
            "No active run.",
            hint="Start one first: with sy.start_run(experiment='name') as run: ...",
        )
    return run


def log_param(key: str, value: Any) -> None:
    _require_active().log_param(key, value)


def log_params(params: Mapping[str, Any]) -> None:
    _require_active().log_params(params)


def log_metric(key: str, value: float, step: int | None = None) -> None:
    _require_active().log_metric(key, value, step)


def log_metrics(metrics: Mapping[str, float], step: int | None = None) -> None:
    _require_active().log_metrics(metrics, step)


def set_tag(key: str, value: Any) -> None:
    _require_active().set_tag(key, value)


def set_tags(tags: Mapping[str, Any]) -> None:
    _require_active().set_tags(tags)


def log_artifact(
    source: str | os.PathLike[str] | bytes, name: str | None = None
) -> list[ArtifactRecord]:
    return _require_active().log_artifact(source, name)


def log_figure(figure: Any, name: str) -> ArtifactRecord:
    return _require_active().log_figure(figure, name)


def search_runs(
    experiment: str | Sequence[str] | None = None,
    filter: str | None = None,
    order_by: Sequence[str] | None = None,
    limit: int = 100,
    page_token: str | None = None,
) -> RunPage:
    """Search runs, e.g. ``filter="metrics.auc > 0.9 and params.model = 'lgbm'"``."""
    if isinstance(order_by, str):
        order_by = [order_by]
    return tracking_service().search_runs(experiment, filter, order_by, limit, page_token)


def get_run(run_id: str) -> RunRecord:
    return tracking_service().get_run(run_id)


def list_experiments() -> list[ExperimentRecord]:
    return tracking_service().list_experiments()
