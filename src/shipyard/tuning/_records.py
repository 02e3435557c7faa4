"""What a tuning study returns: plain, immutable records of its trials and its best one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Direction", "TrialRecord", "TrialState", "TuneResult"]

Direction = Literal["maximize", "minimize"]


class TrialState:
    """How a trial ended; also the value of its run's ``shipyard.trial_state`` tag."""

    COMPLETE = "complete"
    PRUNED = "pruned"
    FAILED = "failed"


@dataclass(frozen=True)
class TrialRecord:
    """One trial: the params it tried, the value it reached and the run that holds the rest.

    ``value`` is the objective's value for a complete trial, the last reported intermediate
    value for a pruned one (None if it reported none) and None for a failed one.
    """

    number: int
    params: dict[str, Any]
    value: float | None
    state: str
    run_id: str | None
    duration_s: float
    error: str | None = None
    intermediate: dict[int, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, as written to the study summary."""
        return {
            "number": self.number,
            "params": self.params,
            "value": self.value,
            "state": self.state,
            "run_id": self.run_id,
            "duration_s": self.duration_s,
            "error": self.error,
            "intermediate": {str(step): value for step, value in self.intermediate.items()},
        }


@dataclass(frozen=True)
class TuneResult:
    """The outcome of :func:`~shipyard.tuning.tune`.

    ``run_id`` is the study's parent run; ``best_run_id`` the child run of the best trial.
    ``study`` is the Optuna study, live in this process, for plots and further analysis.
    """

    best_params: dict[str, Any]
    best_value: float
    best_run_id: str
    run_id: str
    direction: Direction
    trials: list[TrialRecord]
    study: Any = field(repr=False, compare=False)

    @property
    def best_trial(self) -> TrialRecord:
        return next(t for t in self.trials if t.run_id == self.best_run_id)
