"""``GET /api/models/{name}/versions/{version}/card``: a model version explained to someone who
does not build models — what it predicts, how well (in words), against the version before, what
drives it, what it learned from, where it is weaker, and how it does in production.

The card is a pure function of the services: the registry (the version, its run, the one before),
the run's stored evaluation (held-out predictions, see :mod:`shipyard.ui._card_scores`;
``importance.json``; ``slices.json``), the dataset versions of its lineage and the monitor runs.
Numbers are computed here; pages and the standalone export only draw them. Every string is
returned raw: whoever renders it escapes it.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Path

from shipyard.core.errors import NotFound
from shipyard.ui._api_runs import dataset_input
from shipyard.ui._card_scores import (
    date,
    number,
    pct,
    performance,
    plain,
    read_predictions,
    task_of,
)

if TYPE_CHECKING:
    from shipyard.data import DatasetVersion
    from shipyard.registry import ModelVersion, RegistryService
    from shipyard.tracking import RunRecord, TrackingService

__all__ = ["model_card", "router", "weak_slices"]

router = APIRouter(tags=["models"])

IMPORTANCE = "evaluation/importance.json"
SLICES = "evaluation/slices.json"
TOP_DRIVERS = 10
WORST_SLICES = 3
MIN_SLICE_ROWS = 10
_TASK_WORDS = {
    "binary": "a yes-or-no answer",
    "multiclass": "one of several classes",
    "regression": "a number",
}
_SAME = 0.005  # differences below this read as "about the same"


@router.get(
    "/models/{name}/versions/{version}/card",
    summary="The model card of one version: its numbers and the plain-words sentences",
)
def model_card(name: str, version: Annotated[int, Path(ge=1)]) -> dict[str, Any]:
    from shipyard.data import dataset_service
    from shipyard.registry import registry_service

    registry = registry_service()
    found = registry.get_version(name, version)
    tracking = registry.tracking
    run = tracking.get_run(found.run_id)
    frame = read_predictions(tracking, found.run_id)
    task = found.tags.get("task") or run.params.get("task") or task_of(frame)
    target = run.params.get("target")
    scores = performance(frame, found.metrics, task, target)
    inputs = dataset_service().run_inputs(found.run_id)
    features = _features(tracking, found, target, inputs)
    datasets = [_dataset(version, context) for version, context in inputs]
    champion = registry.get_model(name).aliases.get("champion")
    return {
        "model": {
            "name": found.name,
            "version": found.version,
            "uri": found.uri,
            "run_id": found.run_id,
            "description": found.description,
            "aliases": list(found.aliases),
            "champion": champion,
            "created_ms": found.created_ms,
            "created_by": found.created_by,
            "status": found.status,
            "task": task,
            "task_words": _TASK_WORDS.get(task or ""),
            "target": target,
            "summary": _summary(found, task, target, features, champion),
            "features": features,
        },
        "performance": scores,
        "comparison": _comparison(registry, found, scores, task, target),
        "drivers": _drivers(tracking, found.run_id),
        "data": datasets,
        "limits": _limits(tracking, found.run_id, scores, task, datasets, features),
        "health": _health(found),
    }


def _summary(
    found: ModelVersion,
    task: str | None,
    target: str | None,
    features: list[dict[str, Any]],
    champion: int | None,
) -> list[str]:
    what = _TASK_WORDS.get(task or "", "a prediction")
    about = f" of “{plain(target)}”" if target else ""
    lines = [f"It gives {what}{about} for each case it is shown, from {len(features)} inputs."]
    if champion == found.version:
        lines.append(f"Version {found.version} is the champion: the version production uses.")
    elif champion is not None:
        lines.append(
            f"Version {found.version} is not in production use: the champion is version {champion}."
        )
    else:
        lines.append("No version of this model is the champion yet.")
    return lines


# -- what it sees ---------------------------------------------------------------------------


def _features(
    tracking: TrackingService,
    found: ModelVersion,
    target: str | None,
    inputs: list[tuple[DatasetVersion, str]],
) -> list[dict[str, Any]]:
    """The inputs from the model's signature, else from its training data's columns."""
    from shipyard.models._ref import MODEL_META_FILE

    try:
        meta = json.loads(
            tracking.get_artifact(found.run_id, f"{found.artifact_path}/{MODEL_META_FILE}")
        )
        columns = meta["signature"]["inputs"]["columns"]
    except (NotFound, KeyError, TypeError, ValueError):
        columns = None
    if columns:
        return [_feature(c["name"], c.get("dtype", ""), c.get("categories")) for c in columns]
    if not inputs:
        return []
    columns = inputs[0][0].schema.columns
    return [_feature(c.name, c.kind, c.categories) for c in columns if c.name != target]


def _feature(name: str, kind: str, categories: Any) -> dict[str, Any]:
    if categories:
        values = [str(v) for v in categories]
        shown = ", ".join(values[:5]) + (f" and {len(values) - 5} more" if len(values) > 5 else "")
        words = f"one of {len(values)} values ({shown})"
    elif any(k in kind for k in ("int", "float", "decimal", "number")):
        words = "a number"
    elif "bool" in kind:
        words = "yes or no"
    elif "date" in kind or "time" in kind:
        words = "a date or time"
    else:
        words = "text"
    return {"name": name, "label": plain(name), "kind": words}


def _dataset(version: DatasetVersion, context: str) -> dict[str, Any]:
    return {
        **dataset_input(version, context),
        "columns": version.num_columns,
        "created_ms": version.created_ms,
        "description": version.description,
    }


# -- against the version before -------------------------------------------------------------


def _comparison(
    registry: RegistryService,
    found: ModelVersion,
    scores: dict[str, Any],
    task: str | None,
    target: str | None,
) -> dict[str, Any] | None:
    if found.version == 1:
        return None
    before = registry.get_version(found.name, found.version - 1)  # numbers are never reused
    tracking = registry.tracking
    frame = read_predictions(tracking, before.run_id)
    theirs = performance(frame, before.metrics, task, target)
    old = {h["key"]: h["value"] for h in theirs["headline"]}
    rows = []
    for mine in scores["headline"]:
        previous = old.get(mine["key"])
        rows.append({**mine, "previous": previous, "verdict": _verdict(mine, previous)})
    gate = found.tags.get("shipyard.gate.status")
    against = found.tags.get("shipyard.gate.against")
    gate_words = None
    if gate and against == before.uri:
        gate_words = (
            f"Before release it was checked against version {before.version} on the same data "
            f"and {'passed' if gate == 'passed' else 'did not pass'} the release gate."
        )
    return {
        "version": before.version,
        "uri": before.uri,
        "rows": rows,
        "gate": gate_words,
        "gate_run_id": found.tags.get("shipyard.gate.run_id") if gate_words else None,
        "note": "Each version was scored on its own held-out test data, so small differences "
        "may come from the data rather than the model.",
    }


def _verdict(mine: dict[str, Any], previous: float | None) -> str | None:
    if mine["value"] is None or previous is None:
        return None
    change = mine["value"] - previous
    if mine["key"] == "mae":  # in the target's units: judged relative to its size
        change /= max(abs(previous), 1e-12)
    if abs(change) < _SAME:
        return "about the same"
    improved = change > 0 if mine["better"] == "higher" else change < 0
    return "better" if improved else "worse"


# -- what drives it -------------------------------------------------------------------------


def _drivers(tracking: TrackingService, run_id: str) -> dict[str, Any] | None:
    try:
        report = json.loads(tracking.get_artifact(run_id, IMPORTANCE))
    except NotFound:
        return None
    except ValueError:  # not JSON, or not UTF-8
        return _unreadable_drivers()
    try:
        return _drivers_of(report)
    except (AttributeError, KeyError, TypeError, ValueError):  # not the shape it is written in
        return _unreadable_drivers()


def _unreadable_drivers() -> dict[str, Any]:
    """What the card says when the stored importance report cannot be read: the rest of the
    card still stands."""
    return {
        "method": None,
        "unit": None,
        "note": f"The stored {IMPORTANCE} could not be read.",
        "rows": None,
        "features": [],
        "sentences": ["What drives its predictions is unknown: the stored report is unreadable."],
    }


def _drivers_of(report: dict[str, Any]) -> dict[str, Any]:
    features = [
        f
        for f in report.get("features", [])
        if f.get("importance") is not None and math.isfinite(float(f["importance"]))
    ]
    total = sum(float(f["importance"]) for f in features) or 1.0
    method = report.get("method")
    how = (
        "how much each input moves the model's score on average (SHAP values)"
        if method in ("lightgbm_tree_shap", "shap")
        else "how much the model's test score drops when each input is scrambled "
        "(permutation importance)"
    )
    top: list[dict[str, Any]] = [
        {
            "feature": str(f["feature"]),
            "label": plain(str(f["feature"])),
            "importance": float(f["importance"]),
            "share": float(f["importance"]) / total,
        }
        for f in features[:TOP_DRIVERS]
    ]
    lines = [f"The bars show {how}, as a share of all inputs together."]
    if top:
        lines.insert(
            0,
            f"The input that matters most is {top[0]['label']}: {pct(top[0]['share'])} of the "
            "model's reasons.",
        )
    return {
        "method": method,
        "unit": report.get("unit"),
        "note": report.get("note"),
        "rows": report.get("rows"),
        "features": top,
        "sentences": lines,
    }


# -- limits ---------------------------------------------------------------------------------


def _limits(
    tracking: TrackingService,
    run_id: str,
    scores: dict[str, Any],
    task: str | None,
    datasets: list[dict[str, Any]],
    features: list[dict[str, Any]],
) -> dict[str, Any]:
    try:
        slices = json.loads(tracking.get_artifact(run_id, SLICES))
    except (NotFound, ValueError):  # none stored, or not JSON
        slices = None
    overall = {h["key"]: h["value"] for h in scores["headline"]}
    try:
        weak = weak_slices(slices, task, overall) if isinstance(slices, dict) else []
    except (AttributeError, KeyError, TypeError, ValueError, IndexError):  # malformed: skipped
        weak = []
    lines = []
    for d in datasets[:1]:
        lines.append(
            f"It learned from {d['ref']} ({d['rows']:,} rows), recorded on "
            f"{date(d['created_ms'])}. Cases unlike those, or behaviour that changed since, "
            "may be predicted less well."
        )
    lines.append(
        f"It only sees the {len(features)} inputs listed above; anything else that matters is "
        "invisible to it."
    )
    rows, accuracy = scores.get("rows"), overall.get("accuracy")
    if rows and accuracy is not None:
        margin = 1.96 * math.sqrt(accuracy * (1 - accuracy) / rows)
        lines.append(
            f"Its scores come from {rows:,} test cases, so they could be off by about "
            f"{100 * margin:.0f} percentage points either way."
        )
    lines.append(
        "When production data drifts away from the training data, accuracy can drop: the health "
        "section below says whether that has been seen."
    )
    lines.append("It finds patterns, not causes: it says who is likely, not why.")
    return {"slices": weak, "sentences": lines}


def weak_slices(
    report: dict[str, Any], task: str | None, overall: dict[str, float | None]
) -> list[dict[str, Any]]:
    """The slices (column values) where the model does worst against its overall score, from
    the tabular solution's ``slices.json``; only those clearly worse, the worst first."""
    metric, higher = ("mae", False) if task == "regression" else ("accuracy", True)
    base = overall.get(metric)
    if base is None:
        return []
    found = []
    for column, entries in report.items():
        for entry in entries:
            value = (entry.get("metrics") or {}).get(metric)
            if value is None or entry.get("rows", 0) < MIN_SLICE_ROWS:
                continue
            gap = (base - value) if higher else (value - base) / max(abs(base), 1e-12)
            if gap <= 0.02:
                continue
            found.append({**_slice_words(column, entry, metric, value, base), "gap": gap})
    found.sort(key=lambda s: -s["gap"])
    return found[:WORST_SLICES]


def _slice_words(
    column: str, entry: dict[str, Any], metric: str, value: float, base: float
) -> dict[str, Any]:
    bounds = entry.get("range")
    where = (
        f"{plain(column)} between {bounds[0]:.4g} and {bounds[1]:.4g}"
        if bounds
        else f"{plain(column)} = {entry['value']}"
    )
    if metric == "accuracy":
        score = f"right for {pct(value)} against {pct(base)} overall"
    else:
        score = f"typically off by {number(value)} against {number(base)} overall"
    return {
        "column": column,
        "value": entry["value"],
        "rows": entry["rows"],
        "metric": metric,
        "score": value,
        "overall": base,
        "sentence": f"Weaker where {where}: {score} ({entry['rows']:,} test cases).",
    }


# -- health ---------------------------------------------------------------------------------


def _health(found: ModelVersion) -> dict[str, Any]:
    """The latest monitor run of this version; else the latest one of a target named like the
    model (a deployment), saying which version it looked at."""
    from shipyard.monitor import alert_count, list_monitor_runs
    from shipyard.monitor._store import STATUS_TAG, search_monitor_runs

    runs = search_monitor_runs("check", {"monitor.model": found.uri}, 1)
    if not runs:
        runs = list_monitor_runs(found.name, 1)
    if not runs:
        return {
            "monitored": False,
            "sentences": ["Not monitored yet: no monitor run has checked this model."],
        }
    run = runs[0]
    checked = run.tags.get("monitor.model")
    status = run.tags.get(STATUS_TAG, "running")
    return {
        "monitored": True,
        "run_id": run.id,
        "target": run.tags.get("monitor.target"),
        "model_uri": checked,
        "same_version": checked == found.uri,
        "status": status,
        "start_ms": run.start_ms,
        "alerts": alert_count(run),
        "rows": run.metrics.get("rows"),
        "drift_share": run.metrics.get("drift_share"),
        "drifted": _drifted(run),
        "realized": _numbers(run, ""),
        "estimated": _numbers(run, "estimated_"),
        "sentences": _health_words(found, run, checked, status),
    }


def _drifted(run: RunRecord) -> list[str]:
    return sorted(
        key[len("drifted.") :]
        for key, value in run.metrics.items()
        if key.startswith("drifted.") and value
    )


def _numbers(run: RunRecord, prefix: str) -> dict[str, float]:
    keys = ("accuracy", "roc_auc", "precision", "recall", "mae")
    return {k: run.metrics[prefix + k] for k in keys if prefix + k in run.metrics}


def _health_words(
    found: ModelVersion, run: RunRecord, checked: str | None, status: str
) -> list[str]:
    from shipyard.monitor import alert_count

    alerts = alert_count(run)
    rows = run.metrics.get("rows")
    seen = f", {int(rows):,} predictions" if rows else ""
    verdict = {
        "alert": f"raised {alerts} alert{'s' if alerts != 1 else ''}",
        "ok": "found nothing wrong",
    }.get(status, f"is {status}")
    target = run.tags.get("monitor.target", "?")
    lines = [
        f"Status {status.upper()}: the latest check of “{target}” "
        f"({date(run.start_ms, '%Y-%m-%d %H:%M')} UTC{seen}) {verdict}."
    ]
    subject = "it"
    if checked and checked != found.uri:
        subject = f"the version in use then ({checked})"
        lines.append(
            f"That check looked at {checked}, which was in use then; version {found.version} has "
            "not been checked on its own yet."
        )
    drifted = _drifted(run)
    if drifted:
        lines.append(
            "Inputs that no longer look like the training data: "
            + ", ".join(plain(c) for c in drifted)
            + "."
        )
    elif "drift_share" in run.metrics:
        lines.append("The inputs still look like the training data.")
    accuracy, estimated = run.metrics.get("accuracy"), run.metrics.get("estimated_accuracy")
    if accuracy is not None:
        lines.append(
            f"On the cases whose real outcome came back, {subject} was right {pct(accuracy)} "
            "of the time."
        )
    if estimated is not None:
        lines.append(
            f"Judged from its own confidence, {subject} should be right about {pct(estimated)} "
            "of the time."
        )
    return lines
