"""Where trials run: in this process, in worker processes, or as Ray tasks.

An executor has one job: ``submit(task)`` returns a :class:`concurrent.futures.Future` of the
trial's outcome, so the driver waits on all three the same way. The future fails only when the
machinery does (a worker process died, a Ray node was lost); the objective's own errors are
already a FAILED outcome.

Worker processes and Ray tasks log into the driver's workspace: they get its resolved settings
through ``SHIPYARD_HOME``, ``SHIPYARD_DB_URL`` and ``SHIPYARD_ARTIFACTS``. A Ray cluster that
spans machines therefore needs a PostgreSQL database and an object-store artifact location.
"""

from __future__ import annotations

import contextlib
import functools
import os
import site
import sys
import sysconfig
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from types import TracebackType
from typing import Any

from shipyard.core.config import resolve_settings
from shipyard.core.errors import InvalidInput
from shipyard.tuning._trial import TrialOutcome, TrialTask, execute_trial

__all__ = ["InlineExecutor", "ProcessExecutor", "RayExecutor", "dumps_objective", "worker_env"]

# cloudpickle keeps the "pickle by value" modules in one global set; two tune() calls in
# threads must not unregister each other's module halfway through a dumps.
_by_value_lock = threading.Lock()


class _Executor:
    """Base: a context manager that submits trials; ``in_process`` says where they run."""

    in_process = False

    def __enter__(self) -> _Executor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        pass

    def submit(self, task: TrialTask) -> Future[TrialOutcome]:
        raise NotImplementedError


class InlineExecutor(_Executor):
    """Run each trial right here, one after another: for debugging and unpicklable objectives."""

    in_process = True

    def __init__(self, objective: Callable[..., Any]) -> None:
        self.objective = objective

    def submit(self, task: TrialTask) -> Future[TrialOutcome]:
        future: Future[TrialOutcome] = Future()
        try:
            future.set_result(execute_trial(task, self.objective))
        except Exception as exc:  # the store failed under the trial: a lost trial, as remotely
            future.set_exception(exc)
        return future


class ProcessExecutor(_Executor):
    """Run trials in ``workers`` spawned processes (never forked: the driver has threads)."""

    def __init__(self, payload: bytes, workers: int) -> None:
        self.payload = payload
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        import multiprocessing

        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_set_env,
            initargs=(worker_env(),),
        )

    def __enter__(self) -> ProcessExecutor:
        _check_main_importable()
        self._pool = self._new_pool()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def submit(self, task: TrialTask) -> Future[TrialOutcome]:
        assert self._pool is not None, "use the executor as a context manager"
        try:
            return self._pool.submit(_run_pickled, self.payload, task)
        except BrokenProcessPool:  # a worker died earlier: its trials failed, go on with a new pool
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = self._new_pool()
            return self._pool.submit(_run_pickled, self.payload, task)


class RayExecutor(_Executor):
    """Run each trial as a Ray task of one CPU, on the cluster ``ray.init`` connects to.

    An already initialized Ray is used as it is; otherwise Ray is started the way ``ray.init()``
    does (``RAY_ADDRESS`` names a cluster, else a local one starts) and shut down at the end.
    """

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self._started_ray = False
        self._remote: Any = None
        self._payload_ref: Any = None
        self._env: dict[str, str] = {}
        self._refs: list[Any] = []

    def __enter__(self) -> RayExecutor:
        import ray

        if not ray.is_initialized():
            ray.init(address=os.environ.get("RAY_ADDRESS"))
            self._started_ray = True
        try:
            self._remote = ray.remote(num_cpus=1)(_run_pickled_in_env)
            self._payload_ref = ray.put(self.payload)  # shipped to each node once, not per trial
            self._env = worker_env()
        except BaseException:  # no with-block will run __exit__: stop the Ray we started
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        import ray

        if exc is not None:  # the driver gave up (Ctrl-C, an error): stop what still runs
            for ref in self._refs:
                with contextlib.suppress(Exception):  # finished or already gone
                    ray.cancel(ref)
        self._refs.clear()
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False

    def submit(self, task: TrialTask) -> Future[TrialOutcome]:
        ref = self._remote.remote(self._payload_ref, task, self._env)
        self._refs.append(ref)
        future: Future[TrialOutcome] = ref.future()
        return future

    @staticmethod
    def cluster_cpus() -> int:
        import ray

        cpus = ray.cluster_resources().get("CPU", 1)  # type: ignore[no-untyped-call]
        return max(1, int(cpus))


def _check_main_importable() -> None:
    """Spawned workers re-import the main script, as multiprocessing does; it must be a file."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if getattr(main, "__spec__", None) is None and path is not None and not os.path.isfile(path):
        raise InvalidInput(
            f"workers > 1 starts worker processes, which re-import the main script {path!r}, "
            "and it is not a file.",
            hint="Save the script to a file and run that, or pass workers=1 or executor='ray'.",
        )


def worker_env() -> dict[str, str]:
    """The environment that points a worker at this process's workspace."""
    settings = resolve_settings()
    return {
        "SHIPYARD_HOME": str(settings.root),
        "SHIPYARD_DB_URL": settings.db_url,
        "SHIPYARD_ARTIFACTS": settings.artifacts,
    }


def _set_env(env: dict[str, str]) -> None:
    os.environ.update(env)


def _run_pickled(payload: bytes, task: TrialTask) -> TrialOutcome:
    import cloudpickle

    return execute_trial(task, cloudpickle.loads(payload))


def _run_pickled_in_env(payload: bytes, task: TrialTask, env: dict[str, str]) -> TrialOutcome:
    _set_env(env)  # a Ray worker process may serve several studies in turn
    return _run_pickled(payload, task)


def dumps_objective(objective: Callable[..., Any]) -> bytes:
    """Serialize the objective so that a process without the user's code can run it.

    Code from the user's project (a script, a notebook, a test module, a local package) travels
    by value; functions of installed libraries travel by reference and are imported there.
    """
    import cloudpickle

    module = _user_module(objective)
    try:
        with _by_value_lock, _pickled_by_value(cloudpickle, module):
            return bytes(cloudpickle.dumps(objective))
    except Exception as exc:
        raise InvalidInput(
            f"The objective cannot be sent to worker processes: {type(exc).__name__}: {exc}.",
            hint="Create the unpicklable object inside the objective, or pass workers=1 "
            "to run trials in this process.",
        ) from exc


@contextlib.contextmanager
def _pickled_by_value(cloudpickle: Any, module: Any) -> Any:
    registered: set[str] = getattr(cloudpickle.cloudpickle, "_PICKLE_BY_VALUE_MODULES", set())
    if module is None or module.__name__ in registered:
        yield
        return
    cloudpickle.register_pickle_by_value(module)
    try:
        yield
    finally:
        cloudpickle.unregister_pickle_by_value(module)


def _user_module(objective: Any) -> Any:
    """The module that defines ``objective`` if it is the user's own code, else None."""
    while isinstance(objective, functools.partial):
        objective = objective.func
    name = getattr(objective, "__module__", None) or type(objective).__module__
    module = sys.modules.get(name)
    file = getattr(module, "__file__", None)
    if module is None or name == "__main__" or file is None:
        return None  # __main__ already goes by value; builtins have no code to ship
    path = Path(file).resolve()
    return None if any(path.is_relative_to(root) for root in _installed_roots()) else module


@functools.cache
def _installed_roots() -> tuple[Path, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    roots.update(site.getsitepackages())
    roots.add(site.getusersitepackages())
    return tuple(Path(root).resolve() for root in roots)
