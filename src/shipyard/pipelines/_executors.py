"""Where steps run: ``local`` (a thread pool, so independent branches overlap) or ``ray``
(one Ray task per step, with the step's resources). Both hand back ``concurrent.futures``
futures of :class:`StepResult`."""

from __future__ import annotations

import contextlib
import os
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from shipyard.core.config import resolve_settings
from shipyard.core.errors import InvalidInput
from shipyard.pipelines._execute import StepResult, StepTask, execute_step

__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "RayExecutor", "make_executor"]

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    def submit(self, task: StepTask) -> Future[StepResult]: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Steps in threads of this process; ``workers`` at a time (default: CPU count, max 8)."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or min(8, os.cpu_count() or 1)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="shipyard-step")

    def submit(self, task: StepTask) -> Future[StepResult]:
        return self._pool.submit(execute_step, task)

    def close(self) -> None:
        # A run stopped early (Ctrl-C) starts none of its queued steps; running ones finish.
        self._pool.shutdown(wait=True, cancel_futures=True)


def _run_in_ray_worker(task: StepTask, environment: dict[str, str]) -> StepResult:
    os.environ.update(environment)  # the worker logs into the driver's workspace
    return execute_step(task)


class RayExecutor:
    """Each step a Ray task. Uses the running Ray connection, else ``ray.init(address)``
    (``RAY_ADDRESS`` or a new local cluster). Inputs and outputs travel through the artifact
    store, so any node that reaches the workspace's database and artifacts can run a step."""

    def __init__(self, address: str | None = None) -> None:
        import ray

        self._ray = ray
        self._started = False
        settings = resolve_settings()  # before Ray starts: a bad config must not leave it up
        if not ray.is_initialized():
            ray.init(address=address or os.environ.get("RAY_ADDRESS"), log_to_driver=False)
            self._started = True
        self._environment = {
            "SHIPYARD_HOME": str(settings.root),
            "SHIPYARD_DB_URL": settings.db_url,
            "SHIPYARD_ARTIFACTS": settings.artifacts,
        }
        # Workers import step functions by module name: give them this process's path.
        self._runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}}
        self._remote = ray.remote(_run_in_ray_worker)
        self._submitted: list[tuple[Any, Future[StepResult]]] = []

    def submit(self, task: StepTask) -> Future[StepResult]:
        resources = task.node.step.options.resources
        options: dict[str, Any] = {
            "num_cpus": resources.get("cpu", 1),
            "num_gpus": resources.get("gpu", 0),
            "runtime_env": self._runtime_env,
            "max_retries": 0,  # retries are the step's own option, counted in its run
        }
        if "memory" in resources:
            options["memory"] = resources["memory"]
        ref = self._remote.options(**options).remote(task, self._environment)
        future: Future[StepResult] = ref.future()
        self._submitted.append((ref, future))
        return future

    def close(self) -> None:
        for ref, future in self._submitted:  # a run stopped early (Ctrl-C): stop its steps
            if not future.done():
                with contextlib.suppress(Exception):  # finished meanwhile, or already gone
                    self._ray.cancel(ref)
        self._submitted.clear()
        if self._started:
            self._ray.shutdown()


def make_executor(name: str, workers: int | None = None) -> Executor:
    if name == "local":
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise InvalidInput(
                f"workers must be a positive integer, got {workers!r}.", hint="e.g. workers=4."
            )
        return LocalExecutor(workers)
    if name == "ray":
        try:
            return RayExecutor()
        except ImportError:
            raise InvalidInput(
                "The ray executor needs Ray.", hint="pip install 'shipyard[ray]'"
            ) from None
    raise InvalidInput(f"Unknown executor {name!r}.", hint=f"Use one of: {', '.join(EXECUTORS)}.")
