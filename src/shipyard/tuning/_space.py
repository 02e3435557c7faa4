"""Search spaces: what each hyper-parameter may take, declared as plain data.

The factories only store their arguments; :func:`check_space` validates a whole space when
:func:`~shipyard.tuning.tune` starts, so that an error names the parameter it is about.
"""

from __future__ import annotations

import abc
import math
import numbers
import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from shipyard.core.errors import InvalidInput

__all__ = [
    "Choice",
    "Distribution",
    "Float",
    "Int",
    "check_space",
    "choice",
    "integer",
    "loguniform",
    "uniform",
]

# Names become param keys on runs (``lr``, ``space.lr``, ``best.lr``): keep them simple.
_NAME = re.compile(r"^[A-Za-z_][\w.\-]{0,199}$")
_CHOICE_TYPES = (type(None), bool, int, float, str)


class Distribution(abc.ABC):
    """One dimension of a search space; made by :func:`uniform`, :func:`loguniform`, ..."""

    @abc.abstractmethod
    def check(self, name: str) -> Distribution:
        """Return a validated copy, or raise :class:`InvalidInput` naming ``name``."""

    @abc.abstractmethod
    def to_optuna(self) -> Any:
        """The matching ``optuna.distributions`` object."""

    @abc.abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description, as written to the study summary."""


@dataclass(frozen=True, repr=False)
class Float(Distribution):
    """A real number in ``[low, high]``, drawn uniformly or on a log scale."""

    low: float
    high: float
    log: bool = False

    def __repr__(self) -> str:
        return f"{'loguniform' if self.log else 'uniform'}({self.low!r}, {self.high!r})"

    def check(self, name: str) -> Float:
        low, high = _real(name, self, "low", self.low), _real(name, self, "high", self.high)
        if low >= high:
            _invalid(name, self, f"low must be < high, got low={low!r} and high={high!r}.")
        if self.log and low <= 0:
            _invalid(
                name,
                self,
                f"a log scale needs low > 0, got low={low!r}.",
                hint="Use a positive lower bound, e.g. loguniform(1e-5, 1.0).",
            )
        return Float(low, high, self.log)

    def to_optuna(self) -> Any:
        from optuna.distributions import FloatDistribution

        return FloatDistribution(self.low, self.high, log=self.log)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "loguniform" if self.log else "uniform", "low": self.low, "high": self.high}


@dataclass(frozen=True, repr=False)
class Int(Distribution):
    """An integer in ``[low, high]`` (both included), every ``step``-th, or on a log scale."""

    low: int
    high: int
    step: int = 1
    log: bool = False

    def __repr__(self) -> str:
        extra = ", log=True" if self.log else (f", step={self.step!r}" if self.step != 1 else "")
        return f"integer({self.low!r}, {self.high!r}{extra})"

    def check(self, name: str) -> Int:
        low, high = _int(name, self, "low", self.low), _int(name, self, "high", self.high)
        step = _int(name, self, "step", self.step)
        if low >= high:
            _invalid(name, self, f"low must be < high, got low={low!r} and high={high!r}.")
        if step < 1 or (high - low) % step:
            _invalid(name, self, f"step must be >= 1 and divide high - low, got step={step!r}.")
        if self.log and (low < 1 or step != 1):
            _invalid(name, self, f"a log scale needs low >= 1 and step=1, got low={low!r}.")
        return Int(low, high, step, bool(self.log))

    def to_optuna(self) -> Any:
        from optuna.distributions import IntDistribution

        return IntDistribution(self.low, self.high, log=self.log, step=self.step)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "integer",
            "low": self.low,
            "high": self.high,
            "step": self.step,
            "log": self.log,
        }


@dataclass(frozen=True, repr=False)
class Choice(Distribution):
    """One of a few options: ``None``, booleans, numbers or strings."""

    options: tuple[Any, ...]

    def __repr__(self) -> str:
        shown = list(self.options) if isinstance(self.options, tuple) else self.options
        return f"choice({shown!r})"

    def check(self, name: str) -> Choice:
        if not isinstance(self.options, tuple):
            _invalid(
                name,
                self,
                f"options must be a list, got {type(self.options).__name__}.",
                hint="Pass a list, e.g. choice(['gbdt', 'dart']).",
            )
        if not self.options:
            _invalid(name, self, "the list of options is empty.")
        odd = [o for o in self.options if not isinstance(o, _CHOICE_TYPES)]
        if odd:
            _invalid(
                name,
                self,
                f"options must be None, bool, int, float or str, got {odd[0]!r}.",
                hint="Choose among names and build the object inside the objective.",
            )
        if len({(type(o), o) for o in self.options}) != len(self.options):
            _invalid(name, self, "an option appears twice.")
        return self

    def to_optuna(self) -> Any:
        from optuna.distributions import CategoricalDistribution

        return CategoricalDistribution(self.options)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "choice", "options": list(self.options)}


def uniform(low: float, high: float) -> Float:
    """A real number drawn uniformly from ``[low, high]``."""
    return Float(low, high)


def loguniform(low: float, high: float) -> Float:
    """A positive real number drawn uniformly on a log scale, e.g. a learning rate."""
    return Float(low, high, log=True)


def integer(low: int, high: int, *, step: int = 1, log: bool = False) -> Int:
    """An integer from ``low`` to ``high`` inclusive (every ``step``-th, or on a log scale)."""
    return Int(low, high, step, log)


def choice(options: Sequence[Any]) -> Choice:
    """One of ``options`` (None, bool, int, float or str values)."""
    # A list or tuple becomes a tuple (hashable, immutable); anything else is kept as given,
    # so that check() can refuse it with the parameter's name.
    kept = tuple(options) if isinstance(options, (list, tuple)) else options
    return Choice(kept)  # type: ignore[arg-type]


def check_space(space: object) -> dict[str, Distribution]:
    """Validate a whole search space; every message names the parameter at fault."""
    if not isinstance(space, Mapping) or not space:
        raise InvalidInput(
            f"The 'space' parameter of tune must be a non-empty dict, got {space!r}.",
            hint="For example: space={'lr': sy.tuning.loguniform(1e-3, 0.3)}.",
        )
    checked: dict[str, Distribution] = {}
    for name, dist in space.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise InvalidInput(
                f"Invalid search space name {name!r}.",
                hint="Names start with a letter or '_' and use letters, digits and '_.-'.",
            )
        if not isinstance(dist, Distribution):
            raise InvalidInput(
                f"The search space entry {name!r} must be a distribution, got {dist!r}.",
                hint="Use sy.tuning.uniform, loguniform, integer or choice; "
                "to fix a value, set it inside the objective.",
            )
        checked[name] = dist.check(name)
    return checked


def _invalid(name: str, dist: Distribution, problem: str, hint: str | None = None) -> NoReturn:
    raise InvalidInput(
        f"The search space entry {name!r} = {dist!r} is invalid: {problem}",
        hint=hint or f"Fix the bounds or options of {name!r}.",
    )


def _real(name: str, dist: Distribution, field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        _invalid(name, dist, f"{field} must be a finite number, got {value!r}.")
    return float(value)


def _int(name: str, dist: Distribution, field: str, value: object) -> int:
    if not isinstance(value, bool):
        try:  # operator.index accepts numpy integers and refuses floats and strings
            return operator.index(value)  # type: ignore[arg-type]
        except TypeError:
            pass
    _invalid(name, dist, f"{field} must be an integer, got {value!r}.")
