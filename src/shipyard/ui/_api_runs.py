"""The runs API: experiments, run search, one run with its lineage, metric histories,
artifacts (listed, viewed and downloaded) and a side-by-side comparison of several runs.

Everything goes through the tracking, data and registry services; a search reads one page
(server-side paging), so the runs page costs the same at 100 runs as at 100,000.
"""

from __future__ import annotations

import math
import mimetypes
import re
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import Response

from shipyard.core.errors import InvalidInput, NotFound
from shipyard.models._ref import MODEL_META_FILE

if TYPE_CHECKING:
    from shipyard.data import DatasetVersion
    from shipyard.tracking import (
        ArtifactRecord,
        ExperimentRecord,
        MetricPoint,
        RunRecord,
        TrackingService,
    )

__all__ = [
    "artifact",
    "compare",
    "content_disposition",
    "dataset_input",
    "experiment_row",
    "experiments",
    "finite",
    "metric_history",
    "router",
    "run_artifacts",
    "run_charts",
    "run_detail",
    "search",
]

router = APIRouter(tags=["runs"])
MAX_PAGE = 1000
MAX_CHILDREN = 200
MAX_COMPARE = 10
MAX_CHARTS = 50  # metric charts on one page; the other metrics are listed with their last value
_IMAGES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".bmp"})
_TEXT = frozenset(
    {".txt", ".csv", ".tsv", ".json", ".jsonl", ".log", ".md", ".yaml", ".yml", ".toml", ".py"}
    | {".ini", ".cfg", ".xml", ".sql"}
)
_HTML = frozenset({".html", ".htm"})
# Artifacts are whatever a run logged: never let one run script on the dashboard's origin.
_SANDBOX = "sandbox"
# A logged HTML page (a monitor or gate report) may run its own scripts, but sandboxed in an
# opaque origin: it cannot read the dashboard's cookies or pages, nor load anything but the
# run's own artifacts (plotly.min.js beside a report).
_HTML_POLICY = (
    "sandbox allow-scripts; default-src 'none'; script-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; style-src 'unsafe-inline'"
)

FILTER_HELP = (
    "Tracking filter, e.g. metrics.loss < 0.5 and params.model = 'mlp' "
    "(entities: metrics.KEY, params.KEY, tags.KEY, name, status, start_time, end_time)."
)
IDS_HELP = f"Run ids or prefixes, repeated or comma-separated (2 to {MAX_COMPARE})."
ORDER_HELP = "Sort key with optional asc/desc, e.g. 'metrics.auc desc'; repeat for ties."


def finite(value: Any) -> Any:
    """``value`` with NaN and infinities as ``None``, in dicts and lists too: stored numbers
    may hold them (an undefined metric), strict JSON may not."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite(item) for item in value]
    return value


def run_summary(run: RunRecord) -> dict[str, Any]:
    """One row of the runs table: the run's attributes, params, latest metrics and tags."""
    return {
        "id": run.id,
        "experiment": run.experiment,
        "name": run.name,
        "status": run.status,
        "start_ms": run.start_ms,
        "end_ms": run.end_ms,
        "duration": run.duration_s,
        "parent_id": run.parent_id,
        "params": run.params,
        "metrics": finite(run.metrics),
        "tags": run.tags,
    }


@router.get("/experiments", summary="Experiments and how many runs each holds")
def experiments() -> list[dict[str, Any]]:
    from shipyard.tracking import tracking_service

    return [experiment_row(e) for e in tracking_service().list_experiments()]


def experiment_row(experiment: ExperimentRecord) -> dict[str, Any]:
    return {
        "name": experiment.name,
        "runs": experiment.run_count,
        "created_ms": experiment.created_ms,
    }


@router.get("/runs", summary="Search runs: filter, sort and page through them")
def search(
    experiment: Annotated[
        list[str] | None, Query(description="Experiment name; repeat for several; all if absent.")
    ] = None,
    filter: Annotated[str | None, Query(description=FILTER_HELP)] = None,
    order_by: Annotated[list[str] | None, Query(description=ORDER_HELP)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Runs per page.")] = 50,
    page_token: Annotated[
        str | None, Query(description="next_page_token of the previous page.")
    ] = None,
) -> dict[str, Any]:
    """One page of runs; a filter that does not parse is a 422 that says what to write."""
    from shipyard.tracking import tracking_service

    names = [e for e in experiment or [] if e] or None
    orders = [o for o in order_by or [] if o.strip()] or None
    page = tracking_service().search_runs(
        names, (filter or "").strip() or None, orders, limit, page_token or None
    )
    return {
        "runs": [run_summary(run) for run in page.runs],
        "next_page_token": page.next_page_token,
    }


@router.get(
    "/runs/{run_id}",
    summary="One run: params, metrics, tags, environment, parent and children, artifacts, lineage",
)
def run_detail(run_id: str) -> dict[str, Any]:
    """A run by its id or a unique prefix of at least 6 characters."""
    from shipyard.tracking import tracking_service

    tracking = tracking_service()
    run = tracking.get_run(run_id)
    logged = tracking.list_artifacts(run.id)
    parent = None
    if run.parent_id is not None:
        found = tracking.get_run(run.parent_id)
        parent = {"id": found.id, "name": found.name, "status": found.status}
    children = tracking.search_runs(
        None, f"parent_id = '{run.id}'", ["start_time asc"], MAX_CHILDREN
    )
    names = [a.name for a in logged]
    return {
        **run_summary(run),
        "error": run.error,
        "environment": run.environment,
        "parent": parent,
        "children": [
            {"id": c.id, "name": c.name, "status": c.status, "start_ms": c.start_ms}
            for c in children.runs
        ],
        "more_children": children.next_page_token is not None,
        "artifacts": [_artifact_entry(run.id, a) for a in logged],
        "lineage": {"datasets": _datasets_in(run.id), "models": _models_out(run.id, names)},
    }


def _datasets_in(run_id: str) -> list[dict[str, Any]]:
    from shipyard.data import dataset_service

    return [
        dataset_input(version, context) for version, context in dataset_service().run_inputs(run_id)
    ]


def dataset_input(version: DatasetVersion, context: str) -> dict[str, Any]:
    """A dataset version a run read, as its lineage shows it."""
    return {
        "name": version.name,
        "version": version.version,
        "ref": version.ref,
        "context": context,
        "rows": version.num_rows,
    }


def _models_out(run_id: str, artifact_names: list[str]) -> list[dict[str, Any]]:
    """Registered versions made from this run. Only a run that logged a model can have one,
    so other runs skip the registry; the others cost one lookup on the versions' run."""
    if not any(n.rsplit("/", 1)[-1] == MODEL_META_FILE for n in artifact_names):
        return []
    from shipyard.registry import registry_service

    return [
        {
            "name": version.name,
            "version": version.version,
            "aliases": list(version.aliases),
            "status": version.status,
        }
        for version in registry_service().versions_of_run(run_id)
    ]


@router.get("/runs/{run_id}/metrics/{key:path}", summary="Every value a run logged for a metric")
def metric_history(run_id: str, key: str) -> dict[str, Any]:
    from shipyard.tracking import tracking_service

    tracking = tracking_service()
    run_id = tracking.resolve_run_id(run_id)
    points = tracking.metric_history(run_id, key)
    if not points:
        raise NotFound(
            f"Run {run_id} has no metric named {key!r}.",
            hint=f"GET /api/runs/{run_id} lists its metrics.",
        )
    return {
        "run_id": run_id,
        "key": key,
        "history": [
            {"step": p.step, "value": finite(p.value), "timestamp_ms": p.timestamp_ms}
            for p in points
        ],
    }


def _line(points: list[MetricPoint]) -> dict[str, list[Any]]:
    """A metric's history as two columns, the shape a chart wants."""
    return {"steps": [p.step for p in points], "values": [finite(p.value) for p in points]}


def run_charts(
    run_id: str, latest: dict[str, float | None]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The run page's metrics: a chart for each metric logged at more than one step (the first
    :data:`MAX_CHARTS` by name), and the others listed with their last value. Two reads however
    many metrics: the value counts, then the charted histories together."""
    from shipyard.tracking import tracking_service

    tracking = tracking_service()
    counts = tracking.metric_counts([run_id])
    drawn = sorted(k for k in latest if counts.get((run_id, k), 0) > 1)[:MAX_CHARTS]
    histories = tracking.metric_histories([run_id], drawn) if drawn else {}
    charts = [
        {"key": key, "lines": [{"name": key, **_line(histories.get((run_id, key), []))}]}
        for key in drawn
    ]
    charted = set(drawn)
    listed = [{"key": k, "value": latest[k]} for k in sorted(latest) if k not in charted]
    return charts, listed


@router.get("/runs/{run_id}/artifacts", summary="The files a run logged")
def run_artifacts(run_id: str) -> list[dict[str, Any]]:
    from shipyard.tracking import tracking_service

    tracking = tracking_service()
    run_id = tracking.resolve_run_id(run_id)
    return [_artifact_entry(run_id, a) for a in tracking.list_artifacts(run_id)]


def _artifact_entry(run_id: str, record: ArtifactRecord) -> dict[str, Any]:
    url = f"/api/runs/{run_id}/artifacts/{quote(record.name, safe='/')}"
    kind = _kind(record.name)
    return {
        "name": record.name,
        "size": record.size,
        "digest": record.digest,
        "created_ms": record.created_ms,
        "kind": kind,
        "url": url,
        "inline_url": None if kind == "binary" else url + "?inline=1",
    }


def _kind(name: str) -> str:
    """How the dashboard may show a file: image, text, html, or only as a download."""
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name.rsplit("/", 1)[-1] else ""
    if suffix in _IMAGES:
        return "image"
    if suffix in _TEXT:
        return "text"
    return "html" if suffix in _HTML else "binary"


@router.get(
    "/runs/{run_id}/artifacts/{path:path}",
    summary="One artifact's bytes: a download, or with inline=1 a view of an image, text or HTML",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def artifact(
    run_id: str,
    path: str,
    inline: Annotated[
        bool, Query(description="Show images, text and HTML in the browser instead.")
    ] = False,
) -> Response:
    from shipyard.tracking import tracking_service

    data = tracking_service().get_artifact(run_id, path)
    kind = _kind(path)
    content_type = mimetypes.guess_type(path.rsplit("/", 1)[-1])[0] or "application/octet-stream"
    show = inline and kind != "binary"
    if show and kind == "text":
        content_type = "text/plain"  # never let .xml or .svg-like text become a document
    if content_type.startswith("text/"):
        content_type += "; charset=utf-8"
    headers = {
        "content-disposition": content_disposition("inline" if show else "attachment", path),
        "content-security-policy": _HTML_POLICY if kind == "html" else _SANDBOX,
        "x-content-type-options": "nosniff",
        "cache-control": "private, max-age=3600",
    }
    return Response(data, media_type=content_type, headers=headers)


def content_disposition(how: str, path: str) -> str:
    """A Content-Disposition with an ASCII fallback and the exact UTF-8 file name."""
    name = path.rsplit("/", 1)[-1]
    plain = re.sub(r"[^A-Za-z0-9._-]", "_", name) or "artifact"
    return f"{how}; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.get(
    "/compare",
    summary="Several runs side by side: params diff, latest metrics and metric histories",
)
def compare(
    ids: Annotated[list[str], Query(description=IDS_HELP)],
) -> dict[str, Any]:
    from shipyard.tracking import tracking_service

    wanted = list(dict.fromkeys(i.strip() for raw in ids for i in raw.split(",") if i.strip()))
    if not 2 <= len(wanted) <= MAX_COMPARE:
        raise _compare_count(len(wanted))
    tracking = tracking_service()
    found: dict[str, RunRecord] = {}
    for given in wanted:  # an id and a prefix of it are one run
        run = tracking.get_run(given)
        found.setdefault(run.id, run)
    runs = list(found.values())
    if len(runs) < 2:
        raise _compare_count(len(runs))
    charts, uncharted = _histories(tracking, runs)
    return {
        "runs": [run_summary(run) for run in runs],
        "params": _rows([run.params for run in runs]),
        "metrics": _rows([finite(run.metrics) for run in runs]),
        "histories": charts,
        "uncharted": uncharted,
    }


def _compare_count(count: int) -> InvalidInput:
    return InvalidInput(
        f"Compare needs 2 to {MAX_COMPARE} different runs, got {count}.",
        hint="Pick runs with the checkboxes on /runs, or pass ids=ID1,ID2.",
    )


def _rows(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per key across runs, marking rows whose values are not all the same."""
    keys = sorted({key for run in values for key in run})
    rows = []
    for key in keys:
        row = [run.get(key) for run in values]
        rows.append({"key": key, "values": row, "differs": len({repr(v) for v in row}) > 1})
    return rows


def _histories(
    tracking: TrackingService, runs: list[RunRecord]
) -> tuple[list[dict[str, Any]], list[str]]:
    """For each metric at least two runs logged, every run's curve (the first
    :data:`MAX_CHARTS` by name; the names of the others second); single points are left to the
    latest-metrics table. Two reads: the value counts, then the charted histories together."""
    shared: dict[str, int] = {}
    for run in runs:
        for key in run.metrics:
            shared[key] = shared.get(key, 0) + 1
    keys = sorted(k for k, n in shared.items() if n >= 2)
    ids = [run.id for run in runs]
    counts = tracking.metric_counts(ids, keys) if keys else {}
    stepped = [k for k in keys if any(counts.get((i, k), 0) > 1 for i in ids)]
    drawn = stepped[:MAX_CHARTS]
    histories = tracking.metric_histories(ids, drawn) if drawn else {}
    charts = [
        {
            "key": key,
            "lines": [
                {"run_id": run.id, "name": run.name, **_line(histories.get((run.id, key), []))}
                for run in runs
                if key in run.metrics
            ],
        }
        for key in drawn
    ]
    return charts, stepped[MAX_CHARTS:]
