"""One trial, wherever it runs: start its child run, call the objective, record how it ended.

:func:`execute_trial` is the whole life of a trial. It runs unchanged in the driver process
(``workers=1``), in a worker process and in a Ray task, so every executor logs the same way.

Pruning needs the driver's pruner to compare this trial's intermediate values with those of
the trials before it. In the driver that is the live Optuna trial (:class:`LivePruning`). A
trial in another process cannot ask the driver synchronously, so it gets a replica
(:class:`ReplicaPruning`): the same pruner over a private in-memory study holding a snapshot
of the trials that had finished when it started. The driver replays the trial's intermediate
values into its study when the outcome comes back, so later snapshots include them.
"""

from __future__ import annotations

import contextlib
import logging
import math
import numbers
import operator
import reprlib
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from shipyard.core.errors import InvalidInput
from shipyard.tracking import Run, RunStatus, start_run
from shipyard.tuning._records import Direction, TrialState

__all__ = [
    "OBJECTIVE_METRIC",
    "TRIAL_NUMBER_TAG",
    "TRIAL_STATE_TAG",
    "LivePruning",
    "NoPruning",
    "Pruning",
    "ReplicaPruning",
    "Trial",
    "TrialOutcome",
    "TrialPruned",
    "TrialTask",
    "execute_trial",
]

OBJECTIVE_METRIC = "objective"
TRIAL_STATE_TAG = "shipyard.trial_state"
TRIAL_NUMBER_TAG = "shipyard.trial_number"


class TrialPruned(Exception):
    """Raise it from an objective when ``trial.should_prune()`` says so; the trial ends pruned."""


class Pruning(Protocol):
    """Where a trial's intermediate values go to be judged."""

    def report(self, value: float, step: int) -> None: ...

    def should_prune(self) -> bool: ...


class NoPruning:
    """The study has no pruner: every trial runs to the end."""

    def report(self, value: float, step: int) -> None:
        pass

    def should_prune(self) -> bool:
        return False


@dataclass
class LivePruning:
    """In the driver process: the study's own Optuna trial sees every value as it comes."""

    trial: Any

    def report(self, value: float, step: int) -> None:
        self.trial.report(value, step)

    def should_prune(self) -> bool:
        return bool(self.trial.should_prune())


@dataclass
class ReplicaPruning:
    """In another process: the study's pruner over a snapshot of the trials finished before.

    Exact for pruners that judge only finished trials (median, percentile, threshold,
    patient); trials still running elsewhere are not seen, so pruning is a little more lenient
    than in-process pruning early in a parallel study.
    """

    pruner: Any
    direction: Direction
    finished: list[Any]  # optuna FrozenTrials, complete or pruned
    _trial: Any = field(default=None, init=False, repr=False)

    def report(self, value: float, step: int) -> None:
        self._replica().report(value, step)

    def should_prune(self) -> bool:
        return bool(self._replica().should_prune())

    def _replica(self) -> Any:
        if self._trial is None:
            import optuna

            with _quiet("optuna.storages._in_memory"):  # one "study created" line per trial
                study = optuna.create_study(
                    direction=self.direction,
                    pruner=self.pruner,
                    sampler=optuna.samplers.RandomSampler(),
                )
            study.add_trials(self.finished)
            self._trial = study.ask()
        return self._trial


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


class Trial:
    """What an objective gets besides its params: its run, and a way to report progress.

    ``run`` is the trial's child run (also the active run while the objective runs, so
    ``sy.log_metric`` lands there). Report intermediate values with :meth:`report` and stop
    early when :meth:`should_prune` says so::

        for epoch in range(20):
            trial.report(score, step=epoch)
            if trial.should_prune():
                raise sy.tuning.TrialPruned()
    """

    def __init__(self, number: int, params: Mapping[str, Any], run: Run, pruning: Pruning) -> None:
        self.number = number
        self.params = dict(params)
        self.run = run
        self.intermediate: dict[int, float] = {}
        self._pruning = pruning

    def __repr__(self) -> str:
        return f"Trial(number={self.number}, params={self.params!r}, run={self.run.id!r})"

    def report(self, value: float, step: int) -> None:
        """Record the objective's value at ``step`` (an epoch, a boosting round, ...)."""
        number = _number(value, f"The value reported at step {step!r}", "Report a float.")
        try:
            index = -1 if isinstance(step, bool) else operator.index(step)
        except TypeError:
            index = -1
        if index < 0:
            raise InvalidInput(
                f"Trial {self.number} reported step {step!r}; steps are integers >= 0.",
                hint="Pass e.g. trial.report(score, step=epoch).",
            )
        step = index
        if step in self.intermediate:
            raise InvalidInput(
                f"Trial {self.number} already reported a value at step {step}.",
                hint="Report each step once, e.g. once per epoch.",
            )
        self.intermediate[step] = number
        self.run.log_metric(OBJECTIVE_METRIC, number, step=step)
        self._pruning.report(number, step)

    def should_prune(self) -> bool:
        """Whether the study's pruner judges this trial unpromising at its last step."""
        return self._pruning.should_prune()


@dataclass(frozen=True)
class TrialTask:
    """Everything a worker needs to run one trial, except the objective itself."""

    number: int
    params: dict[str, Any]
    experiment: str
    parent_run_id: str
    pass_trial: bool
    pruning: Pruning


@dataclass(frozen=True)
class TrialOutcome:
    """How a trial ended, as sent back to the driver."""

    number: int
    run_id: str | None
    state: str
    value: float | None
    duration_s: float
    error: str | None = None
    intermediate: dict[int, float] = field(default_factory=dict)


def execute_trial(task: TrialTask, objective: Callable[..., Any]) -> TrialOutcome:
    """Run one trial as a child run of the study; the objective's errors end it FAILED."""
    started = time.perf_counter()
    tags = {"shipyard.kind": "trial", TRIAL_NUMBER_TAG: task.number}
    with start_run(
        task.experiment, f"trial-{task.number}", tags=tags, parent=task.parent_run_id
    ) as run:
        run.log_params(task.params)
        trial = Trial(task.number, task.params, run, task.pruning)
        state, value, error = _call(objective, task, trial)
        run.set_tag(TRIAL_STATE_TAG, state)
        if state == TrialState.COMPLETE and value is not None:
            step = max(trial.intermediate, default=-1) + 1  # the final value is the latest
            run.log_metric(OBJECTIVE_METRIC, value, step=step)
        elif state == TrialState.FAILED:
            run.end(RunStatus.FAILED, error)
    return TrialOutcome(
        task.number,
        run.id,
        state,
        value,
        time.perf_counter() - started,
        error,
        trial.intermediate,
    )


def _call(
    objective: Callable[..., Any], task: TrialTask, trial: Trial
) -> tuple[str, float | None, str | None]:
    """Call the objective and classify how it ended: (state, value, error)."""
    try:
        params = dict(task.params)  # the objective may change its copy
        raw = objective(params, trial) if task.pass_trial else objective(params)
        hint = "Return the score as a float, e.g. return float(score)."
        return TrialState.COMPLETE, _number(raw, "The objective returned", hint), None
    except Exception as exc:
        if _is_pruned(exc):
            last = trial.intermediate[max(trial.intermediate)] if trial.intermediate else None
            return TrialState.PRUNED, last, None
        error = f"{type(exc).__name__}: {exc}"
        # The traceback is what a user needs to debug a trial that failed far away.
        trial.run.log_artifact(traceback.format_exc().encode(), "trial/traceback.txt")
        return TrialState.FAILED, None, error


def _is_pruned(exc: Exception) -> bool:
    optuna = sys.modules.get("optuna")  # users may raise optuna.TrialPruned, as Optuna teaches
    return isinstance(exc, TrialPruned) or (
        optuna is not None and isinstance(exc, optuna.TrialPruned)
    )


def _number(value: object, what: str, hint: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidInput(
            f"{what} {type(value).__name__} {reprlib.repr(value)}; it must be a number.",
            hint=hint,
        )
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInput(
            f"{what} {number!r}; it must be a finite number.",
            hint="Check the objective for a diverged model or a division by zero.",
        )
    return number
