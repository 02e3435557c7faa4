"""Promotion and rollback: moving an alias, only on the evidence of a passed gate.

``promote`` reads the verdict the gate left on the version (``shipyard.gate.*`` tags) and keeps
it, with a link to the report, in the audit event of the move. ``rollback`` reads the audit
trail to find where the alias pointed before; rollbacks are marked in their own events, so
rolling back twice walks further back instead of undoing the first rollback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.core.errors import Conflict, InvalidInput, NotFound

if TYPE_CHECKING:
    from shipyard.registry import AuditEvent, ModelVersion

__all__ = ["gate_evidence", "promote", "rollback", "rollback_target"]


def gate_evidence(version: ModelVersion) -> dict[str, Any]:
    """What the version's latest gate said, as kept in a promotion's audit event."""
    from shipyard.evaluation._gates import REPORT_MD

    run_id = version.tags.get("shipyard.gate.run_id")
    return {
        "gate_status": version.tags.get("shipyard.gate.status", "none"),
        "gate_run_id": run_id,
        "gate_against": version.tags.get("shipyard.gate.against"),
        "gate_report": f"runs:/{run_id}/{REPORT_MD}" if run_id else None,
    }


def promote(
    name: str,
    version: int,
    alias: str = "champion",
    *,
    force: bool = False,
    reason: str | None = None,
) -> ModelVersion:
    """Point ``name@alias`` at ``version`` if its latest gate passed against the version the
    alias points at now (or none, when it points nowhere).

    ``force=True`` promotes anyway, and then needs a ``reason`` (kept in the audit trail).
    """
    from shipyard.registry import registry_service

    if force and not (reason and reason.strip()):
        raise InvalidInput(
            "Forcing a promotion needs a reason.",
            hint='Say why with --reason "..." (reason= in Python); it is kept in the history.',
        )
    registry = registry_service()
    found = registry.get_version(name, version)
    evidence = gate_evidence(found)
    if not force:
        holder = registry.get_model(name).aliases.get(alias)
        _check_gate(found, alias, evidence, holder)
    if reason is None:
        reason = f"gate passed (run {evidence['gate_run_id']})"
    return registry.set_alias(
        name, alias, found.version, reason=reason, evidence={**evidence, "forced": force}
    )


def _check_gate(
    found: ModelVersion, alias: str, evidence: dict[str, Any], holder: int | None
) -> None:
    """Refuse unless the latest gate passed against what ``alias`` points at now: a gate won
    against a champion that has since been replaced says nothing about the new one."""
    status = evidence["gate_status"]
    if status == "passed":
        beaten = evidence["gate_against"]
        now = "none" if holder is None else f"models:/{found.name}/{holder}"
        if beaten == now or holder == found.version:
            return
        verdict = f"its gate compared it with {beaten}, but {alias} is now {now}"
    elif status == "none":
        verdict = "it has never been gated"
    else:
        verdict = f"it failed its latest gate (see {evidence['gate_report']})"
    raise Conflict(
        f"Refusing to promote {found.uri} to {alias!r}: {verdict}.",
        hint=f"Gate it: shipyard gate {found.uri} --against {alias} --data DATASET; "
        'or override with --force --reason "why".',
    )


def rollback_target(events: list[AuditEvent], alias: str) -> tuple[int | None, int | None]:
    """``(current, previous)`` versions of ``alias`` from the audit trail, oldest event first.

    The history is replayed as a stack: a move pushes the new version, a rollback pops the one
    it left, and deleting the alias starts over.
    """
    held: list[int] = []
    for event in events:
        if event.detail.get("alias") != alias:
            continue
        if event.action == "delete_alias":
            held = []
        elif event.action == "set_alias" and event.version is not None:
            if event.detail.get("rollback") and len(held) >= 2 and held[-2] == event.version:
                held.pop()
            elif not held or held[-1] != event.version:
                held.append(event.version)
    current = held[-1] if held else None
    previous = next((v for v in reversed(held[:-1]) if v != current), None)
    return current, previous


def rollback(name: str, alias: str = "champion", *, reason: str | None = None) -> ModelVersion:
    """Move ``name@alias`` back to the version it pointed at before its last move."""
    from shipyard.registry import registry_service

    registry = registry_service()
    current, previous = rollback_target(registry.history(name), alias)
    if current is None:
        raise NotFound(
            f"Model {name!r} has no alias {alias!r} to roll back.",
            hint=f"See its history with: shipyard models history {name}.",
        )
    if previous is None:
        raise Conflict(
            f"models:/{name}@{alias} has pointed only at version {current}; there is nothing "
            "to roll back to.",
            hint=f"Point it elsewhere with: shipyard promote {name} VERSION --to {alias}.",
        )
    return registry.set_alias(
        name,
        alias,
        previous,
        reason=reason or f"rollback from version {current}",
        evidence={"rollback": True, "rolled_back_from": current},
    )
