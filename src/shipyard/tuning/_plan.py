"""The arguments of :func:`~shipyard.tuning.tune`, validated at the edge into a :class:`Plan`."""

from __future__ import annotations

import importlib
import inspect
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, cast

from shipyard.core.errors import ConfigError, InvalidInput
from shipyard.tuning._records import Direction
from shipyard.tuning._space import Distribution, check_space

__all__ = ["Plan", "check_arguments", "require"]

_DIRECTIONS = ("maximize", "minimize")
_EXECUTORS = ("local", "ray")
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


@dataclass(frozen=True)
class Plan:
    """The checked arguments of one :func:`~shipyard.tuning.tune` call."""

    space: dict[str, Distribution]
    n_trials: int
    direction: Direction
    executor: str
    workers: int | None
    seed: int | None
    timeout_s: float | None
    pruner: Any  # an optuna pruner; NopPruner when pruning is off
    pass_trial: bool

    @property
    def in_process(self) -> bool:
        return self.executor == "local" and self.workers in (None, 1)


def check_arguments(
    objective: object,
    space: object,
    *,
    n_trials: object,
    direction: object,
    executor: object,
    workers: object,
    seed: object,
    timeout_s: object,
    pruner: object,
) -> Plan:
    """Validate every argument before anything is created, in the order of the signature."""
    if not callable(objective):
        _bad("objective", objective, "a function objective(params, trial) -> float")
    pass_trial = _takes_trial(objective)
    checked_space = check_space(space)
    if not isinstance(n_trials, numbers.Integral) or isinstance(n_trials, bool) or n_trials < 1:
        _bad("n_trials", n_trials, "an integer >= 1")
    if direction not in _DIRECTIONS:
        _bad("direction", direction, "'maximize' or 'minimize'")
    if executor not in _EXECUTORS:
        _bad("executor", executor, "'local' or 'ray'")
    if workers is not None and (
        not isinstance(workers, numbers.Integral) or isinstance(workers, bool) or workers < 1
    ):
        _bad("workers", workers, "an integer >= 1, or None")
    if seed is not None and (
        not isinstance(seed, numbers.Integral)
        or isinstance(seed, bool)
        or not 0 <= int(seed) < 2**32
    ):
        _bad("seed", seed, "an integer from 0 to 2**32-1 (numpy's range), or None")
    if timeout_s is not None and (
        not isinstance(timeout_s, numbers.Real)
        or isinstance(timeout_s, bool)
        or not math.isfinite(timeout_s)
        or timeout_s <= 0
    ):
        _bad("timeout_s", timeout_s, "a number of seconds > 0, or None")
    return Plan(
        space=checked_space,
        n_trials=int(n_trials),
        direction=cast(Direction, direction),
        executor=str(executor),
        workers=None if workers is None else int(workers),
        seed=None if seed is None else int(seed),
        timeout_s=None if timeout_s is None else float(timeout_s),
        pruner=_check_pruner(pruner),
        pass_trial=pass_trial,
    )


def require(module: str, extra: str) -> Any:
    """Import an optional dependency, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"Tuning with these settings needs {module}, which is not installed.",
            hint=f"Install it with: pip install 'shipyard[{extra}]'.",
        ) from None


def _check_pruner(pruner: object) -> Any:
    if pruner is None or (isinstance(pruner, str) and pruner == "median"):
        optuna = require("optuna", "tune")
        return optuna.pruners.NopPruner() if pruner is None else optuna.pruners.MedianPruner()
    if not isinstance(pruner, str) and callable(getattr(pruner, "prune", None)):
        return pruner  # an Optuna pruner object
    _bad("pruner", pruner, "'median', None or an optuna.pruners object")


def _takes_trial(objective: Callable[..., Any]) -> bool:
    """Whether to call ``objective(params, trial)`` rather than ``objective(params)``."""
    try:
        parameters = list(inspect.signature(objective).parameters.values())
    except (TypeError, ValueError):  # some builtins have no signature: use the documented form
        return True
    if any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in parameters):
        return True
    positional = [p for p in parameters if p.kind in _POSITIONAL]
    required = [p for p in parameters if p.default is inspect.Parameter.empty]
    if not positional or len(required) > 2 or len(required) > len(positional):
        raise InvalidInput(
            f"The objective must take (params) or (params, trial); its signature is "
            f"{inspect.signature(objective)}.",
            hint="Define it as def objective(params, trial): ... returning a number.",
        )
    return len(positional) >= 2


def _bad(parameter: str, value: object, expected: str) -> NoReturn:
    raise InvalidInput(
        f"The {parameter!r} parameter of tune must be {expected}. Got {value!r} instead.",
        hint=f"Fix {parameter}= in the call to tune.",
    )
