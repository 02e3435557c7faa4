"""``/api/models``: registered models, their versions with gate verdicts, the audit history, a
lineage from data to deployment, and the actions — promote, roll back, add a note.

Actions go through :func:`shipyard.evaluation.promote` and :func:`~shipyard.evaluation.rollback`,
so the dashboard can never move an alias that the command line would refuse to move.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from shipyard.core.errors import InvalidInput, NotFound
from shipyard.ui._api_monitor import DAY_MS, day_start_ms
from shipyard.ui._security import require_action_auth

if TYPE_CHECKING:
    from shipyard.registry import AuditEvent, ModelVersion

__all__ = [
    "MAX_NOTE",
    "MAX_REASON",
    "NoteBody",
    "PromoteBody",
    "RollbackBody",
    "add_note",
    "model_detail",
    "model_version_detail",
    "models",
    "promote_version",
    "roll_back",
    "router",
]

router = APIRouter(tags=["models"])
MAX_NOTE = 2_000
MAX_REASON = 1_000
LINEAGE_VERSIONS = 10  # the newest versions drawn, besides those an alias points at
_SUMMARY_CHARS = 300
Version = Annotated[int, Path(ge=1)]


# -- reading -------------------------------------------------------------------------------
@router.get("/models", summary="Registered models with their aliases")
def models() -> list[dict[str, Any]]:
    from shipyard.registry import registry_service

    return [m.to_dict() for m in registry_service().list_models()]


@router.get("/models/{name}", summary="A model: versions, gate verdicts, history and lineage")
def model_detail(name: str) -> dict[str, Any]:
    from shipyard.registry import registry_service

    registry = registry_service()
    model = registry.get_model(name)
    versions = registry.list_versions(model.name)
    deployments = deployments_of(model.name)
    return {
        "model": model.to_dict(),
        "versions": [{**v.to_dict(), "gate": gate_of(v)} for v in versions],
        "history": [event_view(e) for e in registry.history(model.name)],
        "deployments": deployments,
        "lineage": lineage(versions, model.aliases, deployments),
    }


@router.get(
    "/models/{name}/versions/{version}",
    summary="A model version: metrics, its run's params, datasets, tags and gate verdict",
)
def model_version_detail(name: str, version: Version) -> dict[str, Any]:
    from shipyard.registry import registry_service

    registry = registry_service()
    found = registry.get_version(name, version)
    history = [e for e in registry.history(found.name) if e.version == found.version]
    return {
        **found.to_dict(),
        "gate": {**gate_of(found), "checks": _gate_checks(found)},
        "run": _run_of(found.run_id),
        "history": [event_view(e) for e in history],
    }


def gate_of(version: ModelVersion) -> dict[str, Any]:
    """The version's latest gate verdict and where its reports are served."""
    from shipyard.evaluation import gate_evidence

    evidence = gate_evidence(version)
    run = evidence["gate_run_id"]
    return {
        "status": evidence["gate_status"],
        "run_id": run,
        "against": evidence["gate_against"],
        "report": evidence["gate_report"],
        "report_html_url": gate_report_url(run, "html") if run else None,
        "report_md_url": gate_report_url(run, "md") if run else None,
    }


def gate_report_url(run_id: str, kind: str) -> str:
    """Where the dashboard serves a gate run's report (``gate/gate-report.html`` or ``.md``)."""
    from shipyard.evaluation._gates import REPORT_MD

    path = REPORT_MD.removesuffix(".md") + f".{kind}"
    return f"/api/runs/{quote(run_id, safe='')}/artifacts/{quote(path)}?inline=1"


def _gate_checks(version: ModelVersion) -> list[dict[str, Any]] | None:
    """The checks of the version's latest gate, from the ``result.json`` its run keeps."""
    from shipyard.evaluation._gates import REPORT_FOLDER
    from shipyard.tracking import tracking_service

    run = version.tags.get("shipyard.gate.run_id")
    if not run:
        return None
    try:
        result = json.loads(tracking_service().get_artifact(run, f"{REPORT_FOLDER}/result.json"))
    except (NotFound, ValueError):
        return None
    checks = result.get("checks") if isinstance(result, dict) else None
    return checks if isinstance(checks, list) else None


def _run_of(run_id: str) -> dict[str, Any] | None:
    from shipyard.tracking import tracking_service

    try:
        run = tracking_service().get_run(run_id)
    except NotFound:
        return None
    return {
        "id": run.id,
        "name": run.name,
        "experiment": run.experiment,
        "status": run.status,
        "start_ms": run.start_ms,
        "params": run.params,
    }


def event_view(event: AuditEvent) -> dict[str, Any]:
    """An audit event with a one-line summary of its detail and a link to what it rests on."""
    detail = event.detail or {}
    link = None
    if event.action == "monitor_alert" and detail.get("monitor_run_id"):
        link = {
            "href": f"/monitoring/{quote(str(detail['monitor_run_id']))}",
            "label": "monitor run",
        }
    elif detail.get("gate_run_id"):
        link = {"href": gate_report_url(str(detail["gate_run_id"]), "html"), "label": "gate report"}
    return {**event.to_dict(), "summary": summarize(event), "link": link}


def summarize(event: AuditEvent) -> str:
    detail, version = event.detail or {}, event.version
    action = event.action
    if action == "set_alias":
        text = f"{detail.get('alias')} → v{version}"
        if detail.get("previous_version") is not None:
            text += f" (was v{detail['previous_version']})"
        if detail.get("rollback"):
            text += "; rollback"
        if detail.get("forced"):
            text += "; forced past the gate"
        elif detail.get("gate_status"):
            text += f"; gate {detail['gate_status']} against {detail.get('gate_against')}"
    elif action == "delete_alias":
        text = f"{detail.get('alias')} removed"
    elif action == "register":
        text = f"registered from {detail.get('source')}"
    elif action == "note":
        text = str(detail.get("note", ""))
    elif action == "monitor_alert":
        text = str(detail.get("summary") or "monitoring alert")
    elif action == "retrain":
        text = f"retrain {detail.get('status')}"
        if detail.get("new_version") is not None:
            text += f": new version v{detail['new_version']}"
    elif action == "set_tags":
        tags = detail.get("tags") or {}
        text = ", ".join(f"{k}={v}" for k, v in tags.items())
    else:
        text = json.dumps(detail, default=str, sort_keys=True) if detail else ""
    return text if len(text) <= _SUMMARY_CHARS else text[: _SUMMARY_CHARS - 1] + "…"


# -- deployments and lineage ---------------------------------------------------------------
def deployments_of(name: str) -> list[dict[str, Any]]:
    """Deployments whose inference log, on its newest day, has predictions of model ``name``:
    the versions seen and the one that answered last (only a few columns are read)."""
    from shipyard.ui._api_overview import deployments_seen

    found = []
    for deployment in deployments_seen():
        if deployment["last_day"] is None:
            continue
        rows = _logged_models(deployment["name"], deployment["last_day"])
        rows = [r for r in rows if r["model_name"] == name and r["role"] != "shadow"]
        if rows:
            last = max(rows, key=lambda r: r["ts"])
            found.append(
                {
                    "name": deployment["name"],
                    "last_day": deployment["last_day"],
                    "version": last["model_version"],
                    "variant": last["variant"],
                    "versions": sorted({r["model_version"] for r in rows}),
                }
            )
    return found


def _logged_models(deployment: str, day: str) -> list[dict[str, Any]]:
    """Each (model, version, variant, role) of one day of the log, with its newest ``ts``."""
    from shipyard.core.config import resolve_settings
    from shipyard.serve import read_inference_log

    start = day_start_ms(day)
    if start is None:  # not a day the log wrote
        return []
    keys = ["model_name", "model_version", "variant", "role"]
    table = read_inference_log(
        resolve_settings().artifacts,
        deployment,
        since=start,
        until=start + DAY_MS,
        columns=keys,
    )
    if not table.num_rows:
        return []
    grouped = table.group_by(keys).aggregate([("ts", "max")])
    return [
        {("ts" if k == "ts_max" else k): v for k, v in row.items()} for row in grouped.to_pylist()
    ]


def lineage(
    versions: list[ModelVersion], aliases: dict[str, int], deployments: list[dict[str, Any]]
) -> dict[str, Any]:
    """Nodes and edges from dataset versions through training runs and model versions to
    aliases and deployments. Only the newest versions and those with an alias are drawn."""
    held = set(aliases.values()) | {d["version"] for d in deployments}
    newest = {v.version for v in versions[-LINEAGE_VERSIONS:]}
    shown = [v for v in versions if v.version in newest or v.version in held]
    nodes: dict[str, dict[str, Any]] = {}
    edges: list[dict[str, str]] = []
    name = shown[0].name if shown else ""

    def node(key: str, kind: str, label: str, href: str | None) -> str:
        nodes.setdefault(key, {"id": key, "kind": kind, "label": label, "href": href})
        return key

    for v in shown:
        run = node(f"run:{v.run_id}", "run", f"run {v.run_id[:10]}", f"/runs/{quote(v.run_id)}")
        for ref in v.datasets:
            dataset, _, number = ref.rpartition(":")
            href = f"/datasets/{quote(dataset)}?version={quote(number)}"
            edges.append({"from": node(f"dataset:{ref}", "dataset", ref, href), "to": run})
        href = f"/models/{quote(name)}/versions/{v.version}"
        edges.append(
            {"from": run, "to": node(f"version:{v.version}", "version", f"v{v.version}", href)}
        )
    for alias, held_by in sorted(aliases.items()):
        if f"version:{held_by}" in nodes:
            key = node(f"alias:{alias}", "alias", f"@{alias}", None)
            edges.append({"from": f"version:{held_by}", "to": key})
    for d in deployments:
        key = node(
            f"deployment:{d['name']}",
            "deployment",
            f"{d['name']} (serves v{d['version']})",
            f"/deployments/{quote(d['name'])}",
        )
        via = f"alias:{d['variant']}"
        if aliases.get(d["variant"]) == d["version"] and via in nodes:
            edges.append({"from": via, "to": key})
        elif f"version:{d['version']}" in nodes:
            edges.append({"from": f"version:{d['version']}", "to": key})
    return {"nodes": list(nodes.values()), "edges": edges}


# -- actions -------------------------------------------------------------------------------
class PromoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, description="the version the alias will point at")
    alias: str = Field(min_length=1, max_length=64, examples=["champion"])
    reason: str | None = Field(default=None, max_length=MAX_REASON)
    force: bool = Field(default=False, description="promote past a failed gate (needs a reason)")


class RollbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alias: str = Field(min_length=1, max_length=64, examples=["champion"])
    reason: str | None = Field(default=None, max_length=MAX_REASON)


class NoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, ge=1, description="default: the whole model")
    text: str = Field(min_length=1, max_length=MAX_NOTE)


_REFUSED: dict[int | str, dict[str, Any]] = {
    409: {"description": "refused: the gate did not pass, or nothing to roll back"}
}


@router.post(
    "/models/{name}/promote",
    summary="Point an alias at a version, behind its gate",
    responses=_REFUSED,
)
def promote_api(name: str, body: PromoteBody, request: Request) -> Any:
    require_action_auth(request)
    return promote_version(name, body.version, body.alias, body.reason, force=body.force)


@router.post(
    "/models/{name}/rollback",
    summary="Move an alias back to where it pointed before",
    responses=_REFUSED,
)
def rollback_api(name: str, body: RollbackBody, request: Request) -> Any:
    require_action_auth(request)
    return roll_back(name, body.alias, body.reason)


@router.post("/models/{name}/notes", summary="Add a note to the model's history")
def note_api(name: str, body: NoteBody, request: Request) -> Any:
    require_action_auth(request)
    return add_note(name, body.version, body.text)


def promote_version(
    name: str, version: int, alias: str, reason: str | None, *, force: bool = False
) -> dict[str, Any]:
    from shipyard.evaluation import promote
    from shipyard.registry import check_alias

    alias, reason = check_alias(alias), _reason(reason)
    moved = promote(name, version, alias, force=force, reason=reason)
    return _alias_moved(moved, alias, "now points at version")


def roll_back(name: str, alias: str, reason: str | None) -> dict[str, Any]:
    from shipyard.evaluation import rollback
    from shipyard.registry import check_alias

    alias = check_alias(alias)
    moved = rollback(name, alias, reason=_reason(reason))
    return _alias_moved(moved, alias, "rolled back to version")


def _alias_moved(moved: ModelVersion, alias: str, how: str) -> dict[str, Any]:
    message = f"{moved.name}@{alias} {how} {moved.version}."
    return {"model": moved.name, "alias": alias, "version": moved.version, "message": message}


def add_note(name: str, version: int | None, text: str) -> dict[str, Any]:
    from shipyard.registry import registry_service

    note = text.strip()
    if not note or len(note) > MAX_NOTE:
        raise InvalidInput(
            f"A note is 1 to {MAX_NOTE:,} characters of text, got {len(note):,}.",
            hint="Write something, and keep it short.",
        )
    registry_service().record_event(name, version, "note", {"note": note}, reason=note)
    where = name if version is None else f"{name} v{version}"
    return {"model": name, "version": version, "note": note, "message": f"Note added to {where}."}


def _reason(reason: str | None) -> str | None:
    text = (reason or "").strip()
    if len(text) > MAX_REASON:
        raise InvalidInput(
            f"A reason is at most {MAX_REASON:,} characters, got {len(text):,}.",
            hint="Say why in a sentence or two.",
        )
    return text or None
