"""Running one step, wherever an executor puts it: a local thread or a Ray worker.

A step run is a tracked child run of the pipeline run. Its inputs come from the artifact store
and its outputs go there, so a step needs nothing from the process that scheduled it but a
:class:`StepTask`.
"""

from __future__ import annotations

import contextvars
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from shipyard.core.errors import InvalidInput
from shipyard.pipelines._cache import StepCache, cache_key
from shipyard.pipelines._graph import Node
from shipyard.pipelines._outputs import StoredOutput, store_output
from shipyard.tracking import RunStatus, start_run, tracking_service

__all__ = ["StepResult", "StepStatus", "StepTask", "execute_step"]


class StepStatus:
    COMPLETED = "completed"
    CACHED = "cached"
    FAILED = "failed"
    SKIPPED = "skipped"
    OK = (COMPLETED, CACHED)


@dataclass(frozen=True)
class StepTask:
    """Everything a worker needs to run one node."""

    node: Node
    inputs: dict[str, StoredOutput]  # argument name -> the upstream output it receives
    parent_run_id: str
    experiment: str
    use_cache: bool


@dataclass(frozen=True)
class StepResult:
    node: str
    status: str
    run_id: str | None = None
    duration_s: float = 0.0
    error: str | None = None
    cache_key: str | None = None
    cached_from: str | None = None
    attempts: int = 0
    outputs: dict[str, StoredOutput] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in self.__dict__.items() if k != "outputs"},
            "outputs": {name: out.to_dict() for name, out in self.outputs.items()},
        }


def execute_step(task: StepTask) -> StepResult:
    """Run (or reuse from the cache) one step inside its own tracked run."""
    node, started = task.node, time.perf_counter()
    service = tracking_service()
    key = cache_key(node, {arg: out.content_hash for arg, out in task.inputs.items()})
    cache = StepCache(service.store.db)
    hit = cache.get(key) if task.use_cache and node.step.options.cache else None
    tags = {
        "shipyard.kind": "step",
        "shipyard.step": node.step.name,
        "shipyard.cache_key": key,
        "shipyard.cache": "miss" if hit is None else "hit",
        **({} if hit is None else {"shipyard.cached_from": hit[0]}),
    }
    with start_run(task.experiment, node.id, tags=tags, parent=task.parent_run_id) as run:
        if hit is not None:
            return StepResult(
                node.id,
                StepStatus.CACHED,
                run.id,
                time.perf_counter() - started,
                cache_key=key,
                cached_from=hit[0],
                outputs=hit[1],
            )
        # Lineage: which upstream output (and which content) each input was.
        inputs = {
            f"input.{arg}": f"{ref.node}.{ref.name}@{task.inputs[arg].content_hash[:16]}"
            for arg, ref in node.inputs.items()
        }
        if node.params or inputs:
            run.log_params({**{k: _param_text(v) for k, v in node.params.items()}, **inputs})
        attempts, error, details = 0, None, None
        while attempts <= node.step.options.retries:
            attempts += 1
            try:
                arguments = {
                    **node.params,
                    **{arg: out.load(service.store.blobs) for arg, out in task.inputs.items()},
                }
                value = _call(node, arguments)
                outputs = _store_outputs(service, run.id, node, value)
                break
            except Exception as exc:  # the step's own code may raise anything
                error = f"{type(exc).__name__}: {exc}"
                details = traceback.format_exc(limit=8)[-4000:]
                run.set_tag("shipyard.last_error", error[:4000])
        else:
            run.set_tags({"shipyard.attempts": attempts})
            run.end(RunStatus.FAILED, error=details)
            return StepResult(
                node.id,
                StepStatus.FAILED,
                run.id,
                time.perf_counter() - started,
                error=error,
                cache_key=key,
                attempts=attempts,
            )
        if attempts > 1:
            run.set_tags({"shipyard.attempts": attempts})
        if node.step.options.cache:
            cache.put(key, node.step.name, run.id, outputs)
        return StepResult(
            node.id,
            StepStatus.COMPLETED,
            run.id,
            time.perf_counter() - started,
            cache_key=key,
            attempts=attempts,
            outputs=outputs,
        )


def _call(node: Node, arguments: dict[str, Any]) -> Any:
    """Call the step, failing it when it runs past its timeout.

    A Python thread cannot be stopped: a timed-out step is reported failed while its thread
    finishes in the background; its outputs are then discarded.
    """
    timeout = node.step.options.timeout_s
    if timeout is None:
        return node.step.fn(**arguments)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = node.step.fn(**arguments)
        except BaseException as exc:  # handed back to the caller's thread
            box["error"] = exc

    context = contextvars.copy_context()  # the step's run stays the active one in its thread
    worker = threading.Thread(
        target=context.run, args=(target,), name=f"step-{node.id}", daemon=True
    )
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"step {node.id!r} ran longer than its timeout of {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _store_outputs(service: Any, run_id: str, node: Node, value: Any) -> dict[str, StoredOutput]:
    names = node.step.options.outputs
    if names is None:
        return {"output": store_output(service, run_id, "output", value, node.id)}
    if not isinstance(value, tuple | list) or len(value) != len(names):
        raise InvalidInput(
            f"Step {node.id!r} declares outputs {list(names)} but returned "
            f"{type(value).__name__}{'' if not isinstance(value, tuple | list) else len(value)}.",
            hint=f"Return a tuple of {len(names)} values, in that order.",
        )
    return {
        name: store_output(service, run_id, name, item, node.id)
        for name, item in zip(names, value, strict=True)
    }


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 500 else text[:497] + "..."
