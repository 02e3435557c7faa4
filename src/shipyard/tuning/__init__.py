"""Hyper-parameter tuning on Optuna, with every study and trial tracked as runs.

``sy.tune(objective, space, n_trials=...)`` searches a space declared with :func:`uniform`,
:func:`loguniform`, :func:`integer` and :func:`choice`, in this process, in worker processes or
on Ray. Optuna, cloudpickle and Ray are imported only when a study runs.
"""

from shipyard.tuning._records import TrialRecord, TrialState, TuneResult
from shipyard.tuning._space import Distribution, check_space, choice, integer, loguniform, uniform
from shipyard.tuning._trial import Trial, TrialPruned
from shipyard.tuning._tune import tune

__all__ = [
    "Distribution",
    "Trial",
    "TrialPruned",
    "TrialRecord",
    "TrialState",
    "TuneResult",
    "check_space",
    "choice",
    "integer",
    "loguniform",
    "tune",
    "uniform",
]
