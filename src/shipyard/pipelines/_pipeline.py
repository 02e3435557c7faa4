"""``@sy.pipeline``: a function whose body calls steps; running it traces the DAG, then runs the
steps in dependency order on an executor, each as a tracked child run of the pipeline's run."""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any, overload

from shipyard.core.errors import InvalidInput, RunFailed, ShipyardError
from shipyard.pipelines._execute import StepResult, StepStatus, StepTask
from shipyard.pipelines._executors import Executor, make_executor
from shipyard.pipelines._graph import Graph, Node, tracing
from shipyard.pipelines._progress import Progress
from shipyard.tracking import Run, RunRecord, RunStatus, start_run, tracking_service

__all__ = ["RUN_OPTIONS", "Pipeline", "PipelineRun", "pipeline", "step_runs"]

# The keyword arguments of Pipeline.run: a pipeline parameter by one of these names could
# never be set.
RUN_OPTIONS = ("executor", "workers", "cache", "experiment", "progress", "raise_on_failure")


@dataclass(frozen=True)
class PipelineRun:
    """What a pipeline run did: its status and every step's outcome."""

    run_id: str
    name: str
    status: str  # "completed" or "failed"
    steps: dict[str, StepResult] = field(default_factory=dict)
    graph: dict[str, Any] = field(default_factory=dict)  # nodes with their dependencies

    @property
    def cached(self) -> list[str]:
        return [n for n, r in self.steps.items() if r.status == StepStatus.CACHED]

    @property
    def failed(self) -> list[str]:
        return [n for n, r in self.steps.items() if r.status == StepStatus.FAILED]

    def output(self, step: str, name: str = "output") -> Any:
        """Load a step's output from the store."""
        result = self.steps.get(step)
        if result is None or name not in result.outputs:
            with_outputs = ", ".join(n for n, r in self.steps.items() if r.outputs)
            raise InvalidInput(
                f"This run has no output {name!r} of step {step!r}.",
                hint=f"Steps with outputs: {with_outputs or 'none'}.",
            )
        return result.outputs[name].load(tracking_service().store.blobs)


class Pipeline:
    def __init__(self, fn: Callable[..., Any], name: str) -> None:
        self.fn = fn
        self.name = name
        self.signature = inspect.signature(fn)
        functools.update_wrapper(self, fn)

    def trace(self, **params: Any) -> Graph:
        """The DAG the body builds for ``params``; nothing runs."""
        try:
            bound = self.signature.bind(**params)
        except TypeError as exc:
            raise InvalidInput(
                f"Pipeline {self.name!r} got the wrong parameters: {exc}.",
                hint=f"Its signature is {self.name}{self.signature}.",
            ) from None
        bound.apply_defaults()
        graph = Graph(self.name)
        with tracing(graph):
            try:
                self.fn(*bound.args, **bound.kwargs)
            except ShipyardError:
                raise
            except Exception as exc:  # the user's pipeline body, not Shipyard, failed
                raise RunFailed(
                    f"The body of pipeline {self.name!r} raised {type(exc).__name__}: {exc}",
                    hint="A pipeline body only calls steps and passes their outputs on; "
                    "do the work inside a step.",
                ) from exc
        if not graph.nodes:
            raise InvalidInput(
                f"Pipeline {self.name!r} calls no steps.",
                hint="Decorate the functions it calls with @sy.step.",
            )
        return graph

    def run(
        self,
        *,
        executor: str = "local",
        workers: int | None = None,
        cache: bool = True,
        experiment: str | None = None,
        progress: bool | None = None,
        raise_on_failure: bool = True,
        **params: Any,
    ) -> PipelineRun:
        """Run every step; cached steps are reused unless ``cache=False``.

        A failing step fails the run: its error is kept and the steps downstream of it are
        skipped, while independent branches finish. Raises :class:`RunFailed` then, unless
        ``raise_on_failure=False``.
        """
        graph = self.trace(**params)
        runner = make_executor(executor, workers)
        experiment = experiment or self.name
        tags = {
            "shipyard.kind": "pipeline",
            "shipyard.pipeline": self.name,
            "shipyard.executor": executor,
        }
        run: Run | None = None
        try:
            with start_run(experiment, self.name, tags=tags, parent=None) as run:
                if params:
                    run.log_params({k: _param_text(v) for k, v in params.items()})
                run.log_artifact(
                    json.dumps(graph.to_dict(), indent=2).encode(), "pipeline/graph.json"
                )
                with Progress(graph, enabled=progress) as shown:
                    results = _schedule(graph, runner, run.id, experiment, cache, shown)
                outcome = {n: r.to_dict() for n, r in results.items()}
                run.log_artifact(json.dumps(outcome, indent=2).encode(), "pipeline/steps.json")
                failed = [r for r in results.values() if r.status == StepStatus.FAILED]
                run.set_tags(
                    {
                        f"shipyard.steps.{s}": sum(r.status == s for r in results.values())
                        for s in (
                            StepStatus.COMPLETED,
                            StepStatus.CACHED,
                            StepStatus.FAILED,
                            StepStatus.SKIPPED,
                        )
                    }
                )
                if failed:
                    run.end(RunStatus.FAILED, error=f"step {failed[0].node!r}: {failed[0].error}")
        except BaseException:  # Ctrl-C, or the driver failed: steps not started never start
            runner.close()
            if run is not None:
                _end_unfinished_steps(run)
            raise
        runner.close()
        status = "failed" if failed else "completed"
        outcome_run = PipelineRun(run.id, self.name, status, results, graph.to_dict())
        if failed and raise_on_failure:
            raise RunFailed(
                f"Pipeline {self.name!r} failed at step {failed[0].node!r}: {failed[0].error}",
                hint=f"See the step's traceback with: shipyard pipelines runs show {run.id}.",
            )
        return outcome_run

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise InvalidInput(
            f"Pipeline {self.name!r} is run with .run(**params), not called.",
            hint=f"e.g. {self.fn.__name__}.run(), or: shipyard pipelines run "
            f"MODULE:{self.fn.__name__}",
        )


def _schedule(
    graph: Graph,
    executor: Executor,
    parent_run_id: str,
    experiment: str,
    use_cache: bool,
    progress: Progress,
) -> dict[str, StepResult]:
    """Submit each step once its inputs exist; skip those downstream of a failure."""
    done: dict[str, StepResult] = {}
    pending = list(graph.topological())
    running: dict[Future[StepResult], str] = {}
    while pending or running:
        for node in list(pending):
            blocked = [
                d for d in node.depends_on if d in done and done[d].status not in StepStatus.OK
            ]
            if blocked:
                done[node.id] = StepResult(
                    node.id,
                    StepStatus.SKIPPED,
                    error=f"upstream step {blocked[0]!r} did not finish",
                )
                progress.update(node.id, StepStatus.SKIPPED)
                pending.remove(node)
            elif all(d in done for d in node.depends_on):
                task = StepTask(node, _inputs(node, done), parent_run_id, experiment, use_cache)
                running[executor.submit(task)] = node.id
                progress.update(node.id, "running")
                pending.remove(node)
        if not running:
            continue
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in finished:
            node_id = running.pop(future)
            done[node_id] = _result(node_id, future)
            progress.update(node_id, done[node_id].status, done[node_id].duration_s)
    return {node.id: done[node.id] for node in graph.topological()}


def step_runs(run_id: str, experiment: str) -> list[RunRecord]:
    """The step runs of a pipeline run: each step's own child run."""
    query = f"parent_id = '{run_id}' and tags.`shipyard.kind` = 'step'"
    return tracking_service().search_runs(experiment, query, limit=10_000).runs


def _end_unfinished_steps(run: Run) -> None:
    """End KILLED the step runs a stopped pipeline leaves behind (a Ray worker shut down)."""
    service = tracking_service()
    for record in step_runs(run.id, run.experiment):
        if record.status == RunStatus.RUNNING:
            service.end_run(record.id, RunStatus.KILLED, "the pipeline run stopped first")


def _param_text(value: Any) -> str:
    """Text as it is, other values as JSON (so 0.5 reads 0.5 and a path is not quoted)."""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _inputs(node: Node, done: dict[str, StepResult]) -> dict[str, Any]:
    return {arg: done[ref.node].outputs[ref.name] for arg, ref in node.inputs.items()}


def _result(node_id: str, future: Future[StepResult]) -> StepResult:
    try:
        return future.result()
    except Exception as exc:  # the executor itself failed (a worker died, Ray lost a node)
        return StepResult(node_id, StepStatus.FAILED, error=f"{type(exc).__name__}: {exc}")


@overload
def pipeline(fn: Callable[..., Any], /) -> Pipeline: ...


@overload
def pipeline(*, name: str | None = None) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(
    fn: Callable[..., Any] | None = None, /, *, name: str | None = None
) -> Pipeline | Callable[[Callable[..., Any]], Pipeline]:
    """Make ``fn`` a pipeline: its body calls steps, its parameters are the run's params."""

    def wrap(function: Callable[..., Any]) -> Pipeline:
        clashes = [p for p in inspect.signature(function).parameters if p in RUN_OPTIONS]
        if clashes:
            raise InvalidInput(
                f"Pipeline {function.__name__!r} has a parameter {clashes[0]!r}, which is an "
                "option of .run() and so could never be set.",
                hint=f"Rename it; the options of .run() are {', '.join(RUN_OPTIONS)}.",
            )
        return Pipeline(function, name or function.__name__)

    return wrap(fn) if fn is not None else wrap
