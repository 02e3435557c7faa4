"""The tuning driver: the Optuna study lives here, trials run where the executor puts them.

The driver asks Optuna for a trial's params, submits the trial, and tells Optuna the outcome
(ask-and-tell), keeping at most ``workers`` trials in flight. So the sampler sees every result
as soon as it exists, and the objective never needs to reach the study.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any, Literal

from shipyard.tracking import Run, start_run
from shipyard.tuning._executors import (
    InlineExecutor,
    ProcessExecutor,
    RayExecutor,
    dumps_objective,
)
from shipyard.tuning._plan import Plan, check_arguments, require
from shipyard.tuning._records import Direction, TrialRecord, TrialState, TuneResult
from shipyard.tuning._space import Distribution
from shipyard.tuning._summary import (
    end_lost_trial,
    end_unfinished_trials,
    log_progress,
    log_study_end,
    log_study_start,
)
from shipyard.tuning._trial import (
    LivePruning,
    NoPruning,
    Pruning,
    ReplicaPruning,
    TrialOutcome,
    TrialTask,
)

__all__ = ["tune"]

_Executor = InlineExecutor | ProcessExecutor | RayExecutor


def tune(
    objective: Callable[..., Any],
    space: Mapping[str, Distribution],
    *,
    n_trials: int = 20,
    direction: Direction = "maximize",
    executor: Literal["local", "ray"] = "local",
    workers: int | None = None,
    seed: int | None = None,
    experiment: str | None = None,
    name: str | None = None,
    timeout_s: float | None = None,
    pruner: Any = "median",
) -> TuneResult:
    """Search ``space`` for the params that maximize (or minimize) ``objective``.

    ``objective(params, trial)`` (or ``objective(params)``) returns a number. The study is a
    run tagged ``shipyard.kind=tuning``; each trial is its child run, with the params, the
    ``objective`` metric (intermediate values as its earlier steps) and a
    ``shipyard.trial_state`` tag. The study run gets ``best.<name>`` params, the
    ``best_objective`` metric and a ``tuning/summary.json`` artifact.

    ``executor="local"`` runs ``workers`` trials at a time in spawned processes, or, with
    ``workers=1`` (the default), one after another in this process. ``executor="ray"`` runs
    each trial as a one-CPU Ray task, ``workers`` at a time (default: the cluster's CPUs).
    Objectives travel to other processes with cloudpickle, so lambdas and closures work.

    Sampling is Optuna's TPE, seeded by ``seed``; with ``workers=1`` a seed makes the study
    repeatable. ``pruner="median"`` stops trials whose intermediate value (``trial.report``) is
    worse than the median of earlier trials at the same step; ``None`` turns pruning off, and
    an Optuna pruner object may be given. In-process trials are judged against every finished
    trial; a trial in another process against a snapshot of those finished when it started.

    ``timeout_s`` bounds the time in which new trials start: after it, running trials finish
    and no more begin. Failed trials do not stop the study; if no trial completes, the study
    run ends FAILED and :class:`~shipyard.RunFailed` carries the first trial's error.
    """
    plan = check_arguments(
        objective,
        space,
        n_trials=n_trials,
        direction=direction,
        executor=executor,
        workers=workers,
        seed=seed,
        timeout_s=timeout_s,
        pruner=pruner,
    )
    optuna = require("optuna", "tune")
    study = optuna.create_study(
        direction=plan.direction,
        sampler=optuna.samplers.TPESampler(seed=plan.seed),
        pruner=plan.pruner,
    )
    pool = _make_executor(objective, plan)  # before the run: an unpicklable objective fails here
    run_name = name if name is not None else _default_name(objective)
    with start_run(experiment, run_name, tags={"shipyard.kind": "tuning"}) as run:
        try:
            with pool:
                workers = plan.workers or (
                    RayExecutor.cluster_cpus() if plan.executor == "ray" else 1
                )
                log_study_start(run, plan, workers)
                records = _drive(study, pool, plan, run, workers)
        except BaseException:  # Ctrl-C, or the driver failed: trials cut off stay RUNNING
            end_unfinished_trials(run)
            raise
        best = log_study_end(run, study, plan, records)
    assert best.value is not None and best.run_id is not None  # a complete trial has both
    return TuneResult(
        best_params=dict(best.params),
        best_value=best.value,
        best_run_id=best.run_id,
        run_id=run.id,
        direction=plan.direction,
        trials=records,
        study=study,
    )


def _drive(study: Any, pool: _Executor, plan: Plan, run: Run, workers: int) -> list[TrialRecord]:
    """Keep ``workers`` trials in flight until ``n_trials`` have run or time is up."""
    distributions = {name: dist.to_optuna() for name, dist in plan.space.items()}
    deadline = None if plan.timeout_s is None else time.monotonic() + plan.timeout_s
    running: dict[Future[TrialOutcome], tuple[Any, TrialTask, float]] = {}
    records: list[TrialRecord] = []
    started = 0
    while started < plan.n_trials or running:
        while started < plan.n_trials and len(running) < workers:
            if started and deadline is not None and time.monotonic() >= deadline:
                break
            trial = study.ask(distributions)
            task = TrialTask(
                number=trial.number,
                params=dict(trial.params),
                experiment=run.experiment,
                parent_run_id=run.id,
                pass_trial=plan.pass_trial,
                pruning=_pruning(study, trial, pool.in_process, plan.direction),
            )
            running[pool.submit(task)] = (trial, task, time.monotonic())
            started += 1
        if not running:
            break  # time is up
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in sorted(done, key=lambda f: running[f][1].number):
            trial, task, submitted = running.pop(future)
            outcome = _outcome(future, task, run, time.monotonic() - submitted)
            _tell(study, trial, outcome, replay=not pool.in_process)
            records.append(_record(task, outcome))
            log_progress(run, records, plan.direction)
    return sorted(records, key=lambda record: record.number)


def _pruning(study: Any, trial: Any, in_process: bool, direction: Direction) -> Pruning:
    if in_process:
        return LivePruning(trial)
    import optuna
    from optuna.trial import TrialState as OptunaState

    if isinstance(study.pruner, optuna.pruners.NopPruner):
        return NoPruning()

    finished = study.get_trials(deepcopy=False, states=(OptunaState.COMPLETE, OptunaState.PRUNED))
    return ReplicaPruning(study.pruner, direction, finished)


def _outcome(
    future: Future[TrialOutcome], task: TrialTask, run: Run, waited_s: float
) -> TrialOutcome:
    """The trial's outcome, or a FAILED one when the machinery lost the trial."""
    error = future.exception()
    if error is None:
        return future.result()
    message = f"The trial was lost: {type(error).__name__}: {error}"
    run_id = end_lost_trial(run, task.number, message)
    return TrialOutcome(task.number, run_id, TrialState.FAILED, None, waited_s, message)


def _tell(study: Any, trial: Any, outcome: TrialOutcome, *, replay: bool) -> None:
    """Hand the outcome to Optuna; a remote trial's intermediate values are replayed first."""
    from optuna.trial import TrialState as OptunaState

    if replay and outcome.state != TrialState.FAILED:
        for step, value in sorted(outcome.intermediate.items()):
            trial.report(value, step)
    if outcome.state == TrialState.COMPLETE:
        study.tell(trial, outcome.value)
    elif outcome.state == TrialState.PRUNED:
        study.tell(trial, state=OptunaState.PRUNED)
    else:
        study.tell(trial, state=OptunaState.FAIL)


def _record(task: TrialTask, outcome: TrialOutcome) -> TrialRecord:
    return TrialRecord(
        number=task.number,
        params=task.params,
        value=outcome.value,
        state=outcome.state,
        run_id=outcome.run_id,
        duration_s=outcome.duration_s,
        error=outcome.error,
        intermediate=dict(outcome.intermediate),
    )


def _make_executor(objective: Callable[..., Any], plan: Plan) -> _Executor:
    if plan.in_process:
        return InlineExecutor(objective)
    require("cloudpickle", "tune")  # objectives travel by value, whatever the executor
    if plan.executor == "ray":
        require("ray", "ray")
        return RayExecutor(dumps_objective(objective))
    return ProcessExecutor(dumps_objective(objective), plan.workers or 1)


def _default_name(objective: Callable[..., Any]) -> str:
    label = getattr(objective, "__name__", "")
    return f"tune-{label}" if label.isidentifier() else "tune"
