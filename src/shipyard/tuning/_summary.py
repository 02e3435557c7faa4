"""What a study records on its parent run: the plan, its progress, the best trial, a summary.

The parent run is the one place to look at a study: ``space.<name>`` and the settings as params
at the start, the ``best_objective`` metric after every finished trial, and at the end the
``best.<name>`` params, ``shipyard.best_run_id`` tag and the ``tuning/summary.json`` artifact.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import RunFailed
from shipyard.tracking import Run, RunStatus, tracking_service
from shipyard.tuning._records import TrialRecord, TrialState
from shipyard.tuning._trial import TRIAL_NUMBER_TAG, TRIAL_STATE_TAG

if TYPE_CHECKING:
    from shipyard.tuning._plan import Plan

__all__ = [
    "SUMMARY_ARTIFACT",
    "end_lost_trial",
    "end_unfinished_trials",
    "log_progress",
    "log_study_end",
    "log_study_start",
]

SUMMARY_ARTIFACT = "tuning/summary.json"


def log_study_start(run: Run, plan: Plan, workers: int) -> None:
    settings = {
        "n_trials": plan.n_trials,
        "direction": plan.direction,
        "executor": plan.executor,
        "workers": workers,
        "seed": plan.seed,
        "sampler": "tpe",
        "pruner": _pruner_label(plan.pruner),
    }
    run.log_params(settings | {f"space.{name}": repr(d) for name, d in plan.space.items()})


def log_progress(run: Run, records: list[TrialRecord], direction: str) -> None:
    """Log the best value so far, one step per finished trial: the study's progress curve."""
    best = _best_value(records, direction)
    if best is not None:
        run.log_metric("best_objective", best, step=len(records) - 1)


def log_study_end(run: Run, study: Any, plan: Plan, records: list[TrialRecord]) -> TrialRecord:
    """Record the outcome on the study run and return the best trial.

    Raises :class:`RunFailed` when no trial completed, after the summary is stored.
    """
    counts = {state: sum(r.state == state for r in records) for state in _STATES}
    best = None
    if counts[TrialState.COMPLETE]:
        number = study.best_trial.number
        best = next(r for r in records if r.number == number)
    run.log_artifact(json.dumps(_summary(plan, records, best), indent=2).encode(), SUMMARY_ARTIFACT)
    run.log_metrics({f"trials_{state}": float(count) for state, count in counts.items()})
    if best is None:
        raise _no_trial_completed(records)
    run.log_params({f"best.{name}": value for name, value in best.params.items()})
    run.set_tags({"shipyard.best_run_id": best.run_id, "shipyard.best_trial": best.number})
    return best


def end_lost_trial(run: Run, number: int, error: str) -> str | None:
    """End FAILED the child run of a trial whose worker died; return its id if it had one."""
    service = tracking_service()
    found = service.search_runs(
        run.experiment,
        f"parent_id = '{run.id}' and tags.`{TRIAL_NUMBER_TAG}` = '{number}'",
        limit=1,
    ).runs
    if not found:
        return None  # the worker died before it could start the run
    if found[0].status == RunStatus.RUNNING:
        service.set_tags(found[0].id, {TRIAL_STATE_TAG: TrialState.FAILED})
        service.end_run(found[0].id, RunStatus.FAILED, error)
    return found[0].id


def end_unfinished_trials(run: Run) -> None:
    """End KILLED the trial runs a stopped study leaves behind (a Ray worker shut down)."""
    service = tracking_service()
    query = f"parent_id = '{run.id}' and status = 'RUNNING'"
    for record in service.search_runs(run.experiment, query, limit=10_000).runs:
        service.end_run(record.id, RunStatus.KILLED, "the study stopped first")


_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED)


def _best_value(records: list[TrialRecord], direction: str) -> float | None:
    values = [r.value for r in records if r.state == TrialState.COMPLETE and r.value is not None]
    if not values:
        return None
    return max(values) if direction == "maximize" else min(values)


def _summary(plan: Plan, records: list[TrialRecord], best: TrialRecord | None) -> dict[str, Any]:
    return {
        "direction": plan.direction,
        "n_trials": plan.n_trials,
        "executor": plan.executor,
        "seed": plan.seed,
        "pruner": _pruner_label(plan.pruner),
        "space": {name: dist.to_dict() for name, dist in plan.space.items()},
        "best": None if best is None else best.to_dict(),
        "trials": [record.to_dict() for record in records],
    }


def _pruner_label(pruner: Any) -> str:
    name = type(pruner).__name__.removesuffix("Pruner").lower()
    return "none" if name == "nop" else name


def _no_trial_completed(records: list[TrialRecord]) -> RunFailed:
    failed = [r for r in records if r.state == TrialState.FAILED]
    if failed:
        first, pruned = failed[0], len(records) - len(failed)
        also = f" and {pruned} were pruned" if pruned else ""
        return RunFailed(
            f"No trial completed: {len(failed)} of {len(records)} failed{also}. "
            f"The first, trial {first.number}, failed with {first.error}",
            hint="Fix the objective; run with workers=1 to debug it in this process, and see "
            "each trial run's error and trial/traceback.txt artifact.",
        )
    return RunFailed(
        f"No trial completed: all {len(records)} trials were pruned.",
        hint="Report intermediate values only when they are comparable across trials, or pass "
        "pruner=None.",
    )
