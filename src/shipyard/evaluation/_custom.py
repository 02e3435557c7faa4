"""Custom gates: checks a team writes itself, named in the policy's ``custom`` list.

A custom gate is any function ``fn(challenger, champion, comparison)`` (the champion and the
comparison are ``None`` without a champion) that returns a :class:`GateCheck`, a bool, or a
string, which is a failure message (an empty string passes). It is named ``"module:function"``
or by its name in the ``shipyard.gates`` entry-point group of an installed package::

    [project.entry-points."shipyard.gates"]
    no_nan_predictions = "mypkg.gates:no_nan_predictions"

A gate that cannot be found, raises, or returns something else fails the gate with that error:
a broken check must never let a model through, nor crash the run that records why.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from shipyard.evaluation._policy import GateCheck

if TYPE_CHECKING:
    from shipyard.evaluation._records import Comparison, Evaluation

__all__ = ["ENTRY_POINT_GROUP", "CustomGate", "load_custom_gate", "run_custom_gates"]

ENTRY_POINT_GROUP = "shipyard.gates"


class CustomGate(Protocol):
    def __call__(
        self, challenger: Evaluation, champion: Evaluation | None, comparison: Comparison | None
    ) -> GateCheck | bool | str: ...


def load_custom_gate(name: str) -> CustomGate:
    """The function ``name`` refers to: ``module:function`` or an entry-point name."""
    if ":" in name:
        module, _, attribute = name.partition(":")
        found = importlib.import_module(module)
        for part in attribute.split("."):
            found = getattr(found, part)
    else:
        points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name=name)
        if not points:
            raise LookupError(
                f"no entry point {name!r} in the {ENTRY_POINT_GROUP} group; "
                "use 'module:function' or install the package that provides it"
            )
        found = next(iter(points)).load()
    if not callable(found):
        raise TypeError(f"{name} is a {type(found).__name__}, not a function")
    return found


def run_custom_gates(
    names: Sequence[str],
    challenger: Evaluation,
    champion: Evaluation | None,
    comparison: Comparison | None,
) -> list[GateCheck]:
    return [_run(name, challenger, champion, comparison) for name in names]


def _run(
    name: str,
    challenger: Evaluation,
    champion: Evaluation | None,
    comparison: Comparison | None,
) -> GateCheck:
    rule = f"custom {name}"
    try:
        outcome = load_custom_gate(name)(challenger, champion, comparison)
    except (Exception, SystemExit) as exc:  # a user's check must not take the gate down
        return GateCheck(rule, None, "pass", "error", False, f"{type(exc).__name__}: {exc}")
    if isinstance(outcome, GateCheck):
        return outcome
    if isinstance(outcome, bool):
        return GateCheck(rule, None, "pass", "pass" if outcome else "fail", outcome)
    if isinstance(outcome, str):
        return GateCheck(rule, None, "pass", "fail" if outcome else "pass", not outcome, outcome)
    return GateCheck(
        rule,
        None,
        "pass",
        "error",
        False,
        f"returned {type(outcome).__name__}; a custom gate returns a GateCheck, a bool "
        "or a failure message",
    )
