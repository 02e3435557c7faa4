"""The retrain policy: an alert starts the model's pipeline, the gate judges the new version
against the champion, a pass promotes it, and deployments following the alias swap it in.

A pipeline with a ``since`` parameter gets the start of the window that alerted (unless the
policy's ``params`` set it), so it can train on the data that drifted — e.g. with
:func:`~shipyard.monitor.labeled_window`.

Every chain is one tracking run of the ``monitor`` experiment (``monitor.kind = retrain``) whose
tags link each step — the monitor run that alerted, the pipeline run, the new version, the gate
run, the promotion, the swap — and whose ``retrain.json`` holds the whole record; the model's
audit trail gets a ``retrain`` event too. A cooldown and a daily maximum, counted from those
runs, keep a flapping metric from retraining in a loop.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import ShipyardError

if TYPE_CHECKING:
    from shipyard.monitor._config import RetrainPolicy
    from shipyard.monitor._result import MonitorResult
    from shipyard.registry import RegistryService
    from shipyard.tracking import Run, RunRecord

__all__ = ["CHAIN_FILE", "list_retrains", "retrain_on_alert"]

CHAIN_FILE = "retrain.json"
_DAY_MS = 86_400_000
_log = logging.getLogger("shipyard.monitor")


def retrain_on_alert(result: MonitorResult, policy: RetrainPolicy) -> dict[str, Any]:
    """Run the policy for ``result``'s alerts and return the chain record (also stored)."""
    from shipyard.monitor._store import EXPERIMENT, KIND_TAG, TARGET_TAG
    from shipyard.registry import registry_service
    from shipyard.tracking import Run, tracking_service

    assert result.model is not None
    name = result.model["name"]
    fired = [alert.rule for alert in result.alerts]
    matching = policy.triggered_by(fired)
    if not matching:
        return {"status": "skipped", "reason": "no alert matches the policy's 'on' rules"}
    held = _held_back(name, policy)
    if held is not None:
        _log.info("Retraining %s skipped: %s", name, held)
        return {"status": "skipped", "reason": held}

    service = tracking_service()
    tags = {
        KIND_TAG: "retrain",
        TARGET_TAG: result.target,
        "monitor.model_name": name,
        "chain.monitor_run": result.id or "",
        "chain.alerts": "; ".join(matching)[:5000],
    }
    record = service.create_run(EXPERIMENT, name=f"retrain {name}", initial_tags=tags)
    chain: dict[str, Any] = {
        "id": record.id,
        "status": "running",
        "model": name,
        "alias": policy.alias,
        "monitor_run_id": result.id,
        "alerts": matching,
        "champion_version": result.model["version"],
        "started_at": _now(),
        "steps": [],
    }
    registry = registry_service()
    with Run(service, record) as run:
        try:
            _run_chain(chain, policy, registry, run, result.window.get("since"))
        except Exception as exc:  # a user's pipeline may raise anything: record, never crash
            chain["status"], chain["reason"] = "failed", f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, ShipyardError):
                _log.exception("Retraining %s failed", name)
        chain["ended_at"] = _now()
        run.set_tags({"chain.status": chain["status"]})
        run.log_artifact(json.dumps(chain, indent=1).encode(), CHAIN_FILE)
    registry.record_event(
        name,
        chain.get("new_version"),
        "retrain",
        chain,
        reason=f"{chain['status']}: {chain.get('reason', '')}"[:1000],
    )
    return chain


def _run_chain(
    chain: dict[str, Any],
    policy: RetrainPolicy,
    registry: RegistryService,
    run: Run,
    window_since: str | None,
) -> None:
    from shipyard.evaluation import gate, promote
    from shipyard.pipelines._loader import load_pipeline

    name = chain["model"]
    before = max((v.version for v in registry.list_versions(name)), default=0)
    pipeline = load_pipeline(_pipeline_spec(policy.pipeline))
    params = dict(policy.params)
    # A pipeline that takes `since` trains on the data of the window that alerted.
    if "since" in inspect.signature(pipeline.fn).parameters and "since" not in params:
        params["since"] = window_since or ""
    chain["params"] = params
    outcome = pipeline.run(raise_on_failure=False, progress=False, **params)
    _step(chain, run, "pipeline", outcome.status, pipeline_run=outcome.run_id)
    if outcome.status != "completed":
        chain["status"] = "failed"
        chain["reason"] = f"pipeline step(s) failed: {', '.join(outcome.failed)}"
        return
    newer = [v for v in registry.list_versions(name) if v.version > before]
    if not newer:
        chain["status"] = "failed"
        chain["reason"] = f"the pipeline registered no new version of {name!r}"
        return
    new = max(newer, key=lambda v: v.version)
    chain["new_version"] = new.version
    run.set_tags({"chain.new_version": str(new.version)})

    data = policy.gate_data or policy.params.get("data")
    if data is None:
        chain["status"], chain["reason"] = "failed", "no gate_data to judge the new version on"
        return
    verdict = gate(new.uri, data, against=policy.alias, n_resamples=policy.gate_resamples)
    _step(chain, run, "gate", verdict.status, gate_run=verdict.run_id)
    if not verdict.passed:
        failed = "; ".join(check.rule for check in verdict.failed_checks)
        chain["status"], chain["reason"] = "gate_failed", f"gate failed: {failed}"
        return
    promote(
        name,
        new.version,
        policy.alias,
        reason=f"retrained after monitor run {chain['monitor_run_id']}; gate run {verdict.run_id}",
    )
    _step(chain, run, "promote", "done", version=new.version, alias=policy.alias)
    chain["status"] = "promoted"
    chain["swap"] = _swap(policy, name, new.version)
    _step(chain, run, "swap", chain["swap"]["status"])


def _step(chain: dict[str, Any], run: Run, step: str, status: str, **links: Any) -> None:
    chain["steps"].append({"step": step, "status": status, "at": _now(), **links})
    run.set_tags({f"chain.{step}": status, **{f"chain.{k}": str(v) for k, v in links.items()}})


def _swap(policy: RetrainPolicy, name: str, version: int) -> dict[str, Any]:
    """Deployments follow their alias on their own; with ``server_url`` the chain waits until
    the server answers with the new version, so the record says the swap happened."""
    if not policy.server_url:
        return {
            "status": "pending",
            "detail": f"deployments following {name}@{policy.alias} load v{version} "
            "at their next poll",
        }
    import httpx

    deadline = time.monotonic() + policy.swap_timeout_s
    url = policy.server_url.rstrip("/") + "/v1/deployments"
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(url, timeout=5.0).json()
            served = _served_versions(answer, name)
            if version in served:
                return {"status": "swapped", "server": policy.server_url, "at": _now()}
            last = f"serving {sorted(served) or 'nothing'}"
        except (httpx.HTTPError, ValueError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.5)
    return {"status": "not_confirmed", "server": policy.server_url, "detail": last}


def _served_versions(answer: Any, name: str) -> set[int]:
    versions = set()
    for deployment in answer.get("deployments", ()) if isinstance(answer, dict) else ():
        if deployment.get("model") != name:
            continue
        for variant in deployment.get("variants", ()):
            if variant.get("role") != "shadow":
                version = variant.get("version")
                if isinstance(version, int):
                    versions.add(version)
    return versions


def _held_back(name: str, policy: RetrainPolicy) -> str | None:
    """Why retraining must wait (cooldown, daily maximum), or None."""
    now = int(time.time() * 1000)
    chains = list_retrains(name)
    if chains and policy.cooldown is not None:  # newest first; a cooldown may exceed a day
        last = chains[0].start_ms
        if last + policy.cooldown.total_seconds() * 1000 > now:
            return f"cooldown: the last retraining started {(now - last) / 1000:.0f}s ago"
    recent = [run for run in chains if run.start_ms > now - _DAY_MS]
    if len(recent) >= policy.max_per_day:
        return f"at most {policy.max_per_day} retraining(s) a day, {len(recent)} in the last 24h"
    return None


def list_retrains(model: str | None = None, limit: int = 100) -> list[RunRecord]:
    """Retrain chains, newest first; only ``model``'s when given."""
    from shipyard.monitor._store import search_monitor_runs

    return search_monitor_runs("retrain", {"monitor.model_name": model}, limit)


def _pipeline_spec(spec: str) -> str:
    """A ``path/file.py:fn`` spec relative to the workspace root, so cron's cwd does not matter."""
    from shipyard.core.config import resolve_settings

    module, sep, function = spec.rpartition(":")
    if module.endswith(".py") and not Path(module).is_absolute():
        module = str(resolve_settings().root / module)
    return f"{module}{sep}{function}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
