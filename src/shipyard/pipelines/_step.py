"""``@sy.step``: a plain function that, called inside a pipeline, becomes a node of its DAG.

Outside a pipeline a step is just its function, so it can be called and tested directly.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, overload

from shipyard.core.errors import InvalidInput
from shipyard.pipelines._code import code_hash
from shipyard.pipelines._graph import current_builder

__all__ = ["Step", "StepOptions", "step"]

_RESOURCES = ("cpu", "gpu", "memory")


@dataclass(frozen=True)
class StepOptions:
    name: str
    cache: bool = True
    retries: int = 0
    timeout_s: float | None = None
    resources: Mapping[str, float] = field(default_factory=dict)
    outputs: tuple[str, ...] | None = None  # named outputs: the function returns a tuple


class Step:
    """A pipeline step: the function, its options and a hash of its code for the cache."""

    def __init__(self, fn: Callable[..., Any], options: StepOptions) -> None:
        self.fn = fn
        self.options = options
        self.signature = inspect.signature(fn)
        functools.update_wrapper(self, fn)

    @property
    def name(self) -> str:
        return self.options.name

    @functools.cached_property
    def code_hash(self) -> str:
        """The function's source and the values bound to it (see :func:`code_hash`).

        Only the step's own code counts: a change in a helper it calls does not invalidate
        the cache; pass ``cache=False`` or change a parameter in that case.
        """
        return code_hash(self.fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        builder = current_builder()
        if builder is None:
            return self.fn(*args, **kwargs)
        return builder.add(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<Step {self.name!r}>"


@overload
def step(fn: Callable[..., Any], /) -> Step: ...


@overload
def step(
    *,
    name: str | None = None,
    cache: bool = True,
    retries: int = 0,
    timeout_s: float | None = None,
    resources: Mapping[str, float] | None = None,
    outputs: tuple[str, ...] | list[str] | None = None,
) -> Callable[[Callable[..., Any]], Step]: ...


def step(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    cache: bool = True,
    retries: int = 0,
    timeout_s: float | None = None,
    resources: Mapping[str, float] | None = None,
    outputs: tuple[str, ...] | list[str] | None = None,
) -> Step | Callable[[Callable[..., Any]], Step]:
    """Make ``fn`` a pipeline step; use bare (``@sy.step``) or with options.

    ``retries`` reruns a failing step; ``timeout_s`` fails a step that runs longer;
    ``resources`` (``cpu``, ``gpu``, ``memory`` in bytes) is what the Ray executor reserves;
    ``outputs=("train", "test")`` names the items of a returned tuple as separate outputs.
    """

    def wrap(function: Callable[..., Any]) -> Step:
        if not callable(function):
            raise InvalidInput(
                f"@step decorates a function, got {type(function).__name__}.",
                hint="Put @sy.step on a def.",
            )
        step_name = name or getattr(function, "__name__", None)
        if step_name is None:
            raise InvalidInput(
                f"A {type(function).__name__} has no name to give the step.",
                hint="Pass one, e.g. sy.step(name='train')(functools.partial(fit, c=0.5)).",
            )
        options = StepOptions(
            name=_check_name(step_name),
            cache=bool(cache),
            retries=_check_retries(retries),
            timeout_s=_check_timeout(timeout_s),
            resources=_check_resources(resources or {}),
            outputs=_check_outputs(outputs),
        )
        _check_parameters(function, options.name)
        return Step(function, options)

    return wrap(fn) if fn is not None else wrap


def _check_name(name: str) -> str:
    if name.isidentifier() or all(part.isidentifier() for part in name.split("-")):
        return name
    raise InvalidInput(
        f"Invalid step name {name!r}.", hint="Use letters, digits, '_' or '-', e.g. 'train'."
    )


def _check_retries(retries: object) -> int:
    if isinstance(retries, int) and not isinstance(retries, bool) and 0 <= retries <= 100:
        return retries
    raise InvalidInput(
        f"retries must be an integer from 0 to 100, got {retries!r}.", hint="e.g. retries=2."
    )


def _check_timeout(timeout_s: object) -> float | None:
    if timeout_s is None:
        return None
    if isinstance(timeout_s, int | float) and not isinstance(timeout_s, bool) and timeout_s > 0:
        return float(timeout_s)
    raise InvalidInput(
        f"timeout_s must be a positive number of seconds, got {timeout_s!r}.",
        hint="e.g. timeout_s=600, or leave it out for no limit.",
    )


def _check_resources(resources: Mapping[str, float]) -> dict[str, float]:
    checked = {}
    for key, value in dict(resources).items():
        if key not in _RESOURCES:
            raise InvalidInput(
                f"Unknown step resource {key!r}.", hint=f"Use {', '.join(_RESOURCES)}."
            )
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise InvalidInput(
                f"Resource {key!r} must be a non-negative number, got {value!r}.",
                hint='e.g. resources={"cpu": 1, "gpu": 0}.',
            )
        checked[key] = float(value)
    return checked


def _check_outputs(outputs: tuple[str, ...] | list[str] | None) -> tuple[str, ...] | None:
    if outputs is None:
        return None
    names = tuple(outputs)
    if not names or len(set(names)) != len(names) or not all(n.isidentifier() for n in names):
        raise InvalidInput(
            f"outputs must be distinct Python identifiers, got {outputs!r}.",
            hint='e.g. outputs=("train", "test").',
        )
    return names


def _check_parameters(function: Callable[..., Any], name: str) -> None:
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise InvalidInput(
                f"Step {name!r} takes *{parameter.name}; steps take named "
                "parameters only, so that each input can be cached and traced.",
                hint="List the parameters explicitly.",
            )
        if parameter.kind is parameter.POSITIONAL_ONLY:
            raise InvalidInput(
                f"Step {name!r} has the positional-only parameter {parameter.name!r}.",
                hint="Remove the '/' from its signature.",
            )
