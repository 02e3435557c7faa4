"""Experiment tracking: runs with params, metrics, tags and artifacts, and run search."""

from shipyard.tracking._fluent import (
    close_workspaces,
    get_run,
    list_experiments,
    log_artifact,
    log_figure,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    search_runs,
    set_tag,
    set_tags,
    start_run,
    tracking_service,
)
from shipyard.tracking._records import (
    ArtifactRecord,
    ExperimentRecord,
    MetricPoint,
    RunPage,
    RunRecord,
    RunStatus,
)
from shipyard.tracking._run import Run, active_run
from shipyard.tracking._service import TrackingService

__all__ = [
    "ArtifactRecord",
    "ExperimentRecord",
    "MetricPoint",
    "Run",
    "RunPage",
    "RunRecord",
    "RunStatus",
    "TrackingService",
    "active_run",
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
