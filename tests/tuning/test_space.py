"""Search spaces and the arguments of tune: bad input is refused before anything is created."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

import shipyard as sy
from shipyard.core.errors import InvalidInput
from shipyard.tuning import check_space, choice, integer, loguniform, tune, uniform


def _objective(params: dict[str, Any], trial: sy.tuning.Trial) -> float:
    return float(params["x"])


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (uniform(1.0, 1.0), r"'x' = uniform\(1.0, 1.0\) is invalid: low must be < high"),
        (uniform(2, 1), "low must be < high, got low=2.0 and high=1.0"),
        (uniform(0, float("inf")), "high must be a finite number, got inf"),
        (uniform("0", 1), "low must be a finite number, got '0'"),  # type: ignore[arg-type]
        (loguniform(0, 1), r"'x' = loguniform\(0, 1\) is invalid: a log scale needs low > 0"),
        (loguniform(-1e-3, 1), "a log scale needs low > 0, got low=-0.001"),
        (integer(5, 5), r"'x' = integer\(5, 5\) is invalid: low must be < high"),
        (integer(1.5, 4), "low must be an integer, got 1.5"),  # type: ignore[arg-type]
        (integer(0, 10, step=3), "step must be >= 1 and divide high - low, got step=3"),
        (integer(0, 10, log=True), "a log scale needs low >= 1"),
        (choice([]), r"'x' = choice\(\[\]\) is invalid: the list of options is empty"),
        (choice("abc"), "options must be a list, got str"),
        (choice([1, object]), "options must be None, bool, int, float or str"),
        (choice(["a", "a"]), "an option appears twice"),
    ],
)
def test_a_bad_space_entry_is_refused_with_its_name(entry: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        check_space({"x": entry})
    assert caught.value.hint  # every refusal says how to fix it


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({}, "'space' parameter of tune must be a non-empty dict"),
        ([uniform(0, 1)], "'space' parameter of tune must be a non-empty dict"),
        ({"x": (0, 1)}, r"entry 'x' must be a distribution, got \(0, 1\)"),
        ({"bad name!": uniform(0, 1)}, "Invalid search space name 'bad name!'"),
    ],
)
def test_a_bad_space_is_refused(space: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_space(space)


def test_a_good_space_is_normalized() -> None:
    import numpy as np

    space = check_space(
        {
            "lr": loguniform(1e-3, 0.3),
            "depth": integer(np.int64(2), 8),  # type: ignore[arg-type]
            "booster": choice(["gbdt", "dart"]),
            "frac": uniform(np.float32(0.5), 1),  # type: ignore[arg-type]
        }
    )
    assert repr(space["lr"]) == "loguniform(0.001, 0.3)"
    assert repr(space["depth"]) == "integer(2, 8)"
    assert type(space["depth"].low) is int  # type: ignore[attr-defined]
    assert repr(space["booster"]) == "choice(['gbdt', 'dart'])"
    assert repr(space["frac"]) == "uniform(0.5, 1.0)"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"n_trials": 0}, "'n_trials' parameter of tune must be an integer >= 1. Got 0"),
        ({"n_trials": 2.5}, "'n_trials' parameter of tune must be an integer >= 1. Got 2.5"),
        ({"direction": "max"}, "'direction' parameter .* 'maximize' or 'minimize'. Got 'max'"),
        ({"executor": "spark"}, "'executor' parameter .* 'local' or 'ray'. Got 'spark'"),
        ({"workers": 0}, "'workers' parameter of tune must be an integer >= 1, or None"),
        ({"seed": "0"}, "'seed' parameter of tune must be an integer from 0 to 2..32-1"),
        ({"seed": -1}, "'seed' parameter .* from 0 to 2..32-1 .numpy's range., or None. Got -1"),
        ({"seed": 2**32}, "'seed' parameter .* or None. Got 4294967296"),
        ({"timeout_s": 0}, "'timeout_s' parameter .* > 0, or None. Got 0"),
        ({"pruner": "hyperband"}, "'pruner' parameter .* 'median', None or an optuna"),
    ],
)
def test_bad_arguments_are_refused_before_any_run_exists(
    workspace: Path, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        tune(_objective, {"x": uniform(0, 1)}, **arguments)
    assert sy.list_experiments() == []


@pytest.mark.parametrize(
    "objective",
    [lambda: 1.0, lambda params, trial, extra: 1.0, "not callable"],
    ids=["no-argument", "three-arguments", "not-callable"],
)
def test_an_objective_of_the_wrong_shape_is_refused(objective: Any) -> None:
    with pytest.raises(InvalidInput, match="objective"):
        tune(objective, {"x": uniform(0, 1)})


def test_an_objective_that_cannot_travel_to_workers_is_refused(workspace: Path) -> None:
    lock = threading.Lock()

    def objective(params: dict[str, Any]) -> float:
        with lock:
            return float(params["x"])

    with pytest.raises(InvalidInput, match="cannot be sent to worker processes") as caught:
        tune(objective, {"x": uniform(0, 1)}, workers=2)
    assert "workers=1" in str(caught.value)
    assert sy.list_experiments() == []
