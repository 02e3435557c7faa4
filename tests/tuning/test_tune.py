"""Tuning in this process: real Optuna, real runs in the workspace, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pytest

import shipyard as sy
from shipyard.core.errors import RunFailed
from shipyard.tracking import tracking_service
from shipyard.tuning import (
    Trial,
    TrialPruned,
    TuneResult,
    choice,
    integer,
    loguniform,
    tune,
    uniform,
)


def _children(result: TuneResult) -> dict[int, sy.RunRecord]:
    runs = sy.search_runs(filter=f"parent_id = '{result.run_id}'", limit=1000).runs
    return {int(run.tags["shipyard.trial_number"]): run for run in runs}


def _bowl(params: dict[str, Any], trial: Trial) -> float:
    return float(-((params["x"] - 3) ** 2) - (params["y"] + 1) ** 2)


def test_the_best_params_land_near_the_optimum(workspace: Path) -> None:
    space = {"x": uniform(-10, 10), "y": uniform(-10, 10)}
    result = tune(_bowl, space, n_trials=60, seed=0, experiment="bowl", pruner=None)

    assert abs(result.best_params["x"] - 3) < 0.5
    assert abs(result.best_params["y"] + 1) < 0.5
    assert result.best_value == max(t.value for t in result.trials if t.value is not None)
    assert result.best_value > -0.5
    assert len(result.trials) == 60
    assert [t.number for t in result.trials] == list(range(60))
    assert result.study.best_trial.params == result.best_params


def test_tuning_beats_the_default_model(workspace: Path) -> None:
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import cross_val_score

    features, target = load_diabetes(return_X_y=True)

    def score(alpha: float) -> float:
        return float(cross_val_score(Ridge(alpha=alpha), features, target, cv=5).mean())

    def objective(params: dict[str, Any]) -> float:  # without the trial argument
        return score(params["alpha"])

    default = score(1.0)
    result = tune(objective, {"alpha": loguniform(1e-4, 10.0)}, n_trials=15, seed=0)

    assert result.best_value > default + 0.05  # 0.48 against 0.41 (R^2, 5-fold)
    assert result.best_params["alpha"] < 0.1
    assert result.best_value == pytest.approx(score(result.best_params["alpha"]))


def test_the_same_seed_gives_the_same_study(workspace: Path) -> None:
    space = {
        "lr": loguniform(1e-3, 0.3),
        "depth": integer(2, 8),
        "booster": choice(["gbdt", "dart"]),
        "frac": uniform(0.5, 1.0),
    }

    def objective(params: dict[str, Any], trial: Trial) -> float:
        return float(
            params["lr"] * params["depth"] * params["frac"] * (params["booster"] == "dart")
        )

    first = tune(objective, space, n_trials=12, seed=7, direction="minimize")
    again = tune(objective, space, n_trials=12, seed=7, direction="minimize")

    assert [t.params for t in first.trials] == [t.params for t in again.trials]
    for trial in first.trials:
        assert 1e-3 <= trial.params["lr"] <= 0.3
        assert type(trial.params["depth"]) is int and 2 <= trial.params["depth"] <= 8
        assert trial.params["booster"] in ("gbdt", "dart")
        assert 0.5 <= trial.params["frac"] <= 1.0
    assert first.best_value == min(t.value for t in first.trials if t.value is not None)


def test_the_study_and_its_trials_are_runs(workspace: Path) -> None:
    def objective(params: dict[str, Any], trial: Trial) -> float:
        sy.log_metric("seen", params["x"])  # the trial's run is the active one
        return float(params["x"] * 2)

    result = tune(
        objective,
        {"x": uniform(0, 1), "k": integer(1, 3)},
        n_trials=6,
        seed=1,
        experiment="study",
        name="my-study",
    )

    parent = sy.get_run(result.run_id)
    assert (parent.experiment, parent.name, parent.status) == ("study", "my-study", "FINISHED")
    assert parent.tags["shipyard.kind"] == "tuning"
    assert parent.tags["shipyard.best_run_id"] == result.best_run_id
    assert parent.params["space.x"] == "uniform(0.0, 1.0)"
    assert parent.params["space.k"] == "integer(1, 3)"
    assert parent.params["n_trials"] == "6"
    assert parent.params["direction"] == "maximize"
    assert parent.params["seed"] == "1"
    assert parent.params["best.x"] == str(result.best_params["x"])
    assert parent.params["best.k"] == str(result.best_params["k"])
    assert parent.metrics["best_objective"] == result.best_value
    assert parent.metrics["trials_complete"] == 6.0
    best_curve = [p.value for p in tracking_service().metric_history(parent.id, "best_objective")]
    assert best_curve == sorted(best_curve) and len(best_curve) == 6

    children = _children(result)
    assert sorted(children) == list(range(6))
    for trial in result.trials:
        child = children[trial.number]
        assert child.id == trial.run_id
        assert child.name == f"trial-{trial.number}"
        assert (child.status, child.experiment, child.parent_id) == (
            "FINISHED",
            "study",
            result.run_id,
        )
        assert child.tags["shipyard.kind"] == "trial"
        assert child.tags["shipyard.trial_state"] == "complete"
        assert child.params == {"x": str(trial.params["x"]), "k": str(trial.params["k"])}
        assert child.metrics == {"objective": trial.value, "seen": trial.params["x"]}
        assert trial.value == trial.params["x"] * 2
        assert trial.state == "complete" and trial.duration_s > 0
    assert result.best_trial.run_id == result.best_run_id

    summary = json.loads(tracking_service().get_artifact(parent.id, "tuning/summary.json"))
    assert summary["direction"] == "maximize"
    assert summary["pruner"] == "median"
    assert (summary["n_trials"], summary["executor"], summary["seed"]) == (6, "local", 1)
    assert summary["space"] == {
        "x": {"kind": "uniform", "low": 0.0, "high": 1.0},
        "k": {"kind": "integer", "low": 1, "high": 3, "step": 1, "log": False},
    }
    assert summary["best"] == result.best_trial.to_dict()
    assert summary["trials"] == [trial.to_dict() for trial in result.trials]
    assert summary["best"]["params"] == result.best_params


def test_a_study_inside_a_run_is_its_child(workspace: Path) -> None:
    with sy.start_run(experiment="outer") as outer:
        result = tune(_bowl, {"x": uniform(0, 1), "y": uniform(0, 1)}, n_trials=2)
        assert sy.active_run() is outer
    parent = sy.get_run(result.run_id)
    assert (parent.parent_id, parent.experiment) == (outer.id, "outer")
    assert {run.experiment for run in _children(result).values()} == {"outer"}


def _learning_curve(params: dict[str, Any], trial: Trial) -> float:
    """A model whose score grows with the epochs, and is better the nearer x is to 0."""
    score = 0.0
    for epoch in range(8):
        score = (epoch + 1) / 8 - abs(params["x"])
        trial.report(score, step=epoch)
        if trial.should_prune():
            raise TrialPruned()
    return score


def test_unpromising_trials_are_pruned_and_tagged(workspace: Path) -> None:
    result = tune(_learning_curve, {"x": uniform(-1, 1)}, n_trials=20, seed=3)

    pruned = [t for t in result.trials if t.state == "pruned"]
    complete = [t for t in result.trials if t.state == "complete"]
    assert len(pruned) >= 3 and len(complete) >= 5
    assert {t.state for t in result.trials} == {"pruned", "complete"}
    children = _children(result)
    service = tracking_service()
    for trial in pruned:
        child = children[trial.number]
        assert child.status == "FINISHED"
        assert child.tags["shipyard.trial_state"] == "pruned"
        history = service.metric_history(child.id, "objective")
        assert [p.step for p in history] == sorted(trial.intermediate) and len(history) < 8
        assert trial.value == history[-1].value  # a pruned trial is worth its last report
        assert abs(trial.params["x"]) > min(abs(t.params["x"]) for t in complete)
    for trial in complete:
        history = service.metric_history(children[trial.number].id, "objective")
        assert [p.step for p in history] == list(range(9))  # 8 reports, then the final value
        assert history[-1].value == trial.value == pytest.approx(1 - abs(trial.params["x"]))
    states = {t.number: t.state.name.lower() for t in result.study.trials}
    assert states == {t.number: t.state for t in result.trials}
    assert result.study.trials[pruned[0].number].intermediate_values == pruned[0].intermediate
    summary = json.loads(service.get_artifact(result.run_id, "tuning/summary.json"))
    assert sum(t["state"] == "pruned" for t in summary["trials"]) == len(pruned)


def test_without_a_pruner_every_trial_runs_to_the_end(workspace: Path) -> None:
    result = tune(_learning_curve, {"x": uniform(-1, 1)}, n_trials=10, seed=3, pruner=None)
    assert {t.state for t in result.trials} == {"complete"}
    assert sy.get_run(result.run_id).params["pruner"] == "none"


def _fragile(params: dict[str, Any], trial: Trial) -> Any:
    x = params["x"]
    if x < -5:
        raise ValueError(f"x={x} is too small")
    if x < -2:
        return "a string"
    if x < 0:
        return math.nan
    return x


def test_failed_trials_do_not_stop_the_study(workspace: Path) -> None:
    result = tune(_fragile, {"x": uniform(-10, 10)}, n_trials=16, seed=0, pruner=None)

    children = _children(result)
    service = tracking_service()
    for trial in result.trials:
        child = children[trial.number]
        x = trial.params["x"]
        if x >= 0:
            assert (trial.state, trial.value, child.status) == ("complete", x, "FINISHED")
            continue
        assert (trial.state, trial.value, child.status) == ("failed", None, "FAILED")
        assert child.tags["shipyard.trial_state"] == "failed"
        assert child.error == trial.error
        assert "objective" not in child.metrics
        if x < -5:
            assert trial.error == f"ValueError: x={x} is too small"
            traceback = service.get_artifact(child.id, "trial/traceback.txt").decode()
            assert "raise ValueError" in traceback
        elif x < -2:
            assert trial.error is not None
            assert trial.error.startswith("InvalidInput: The objective returned str 'a string';")
        else:
            assert trial.error is not None
            assert "The objective returned nan; it must be a finite number" in trial.error
    assert {t.state for t in result.trials} == {"complete", "failed"}
    assert result.best_value == max(t.params["x"] for t in result.trials if t.params["x"] >= 0)
    assert sy.get_run(result.run_id).status == "FINISHED"


def test_a_study_where_every_trial_fails_raises_the_first_error(workspace: Path) -> None:
    def objective(params: dict[str, Any], trial: Trial) -> float:
        raise RuntimeError(f"boom in trial {trial.number}")

    with pytest.raises(RunFailed, match="No trial completed: 3 of 3 failed") as caught:
        tune(objective, {"x": uniform(0, 1)}, n_trials=3, experiment="doomed")
    assert "trial 0, failed with RuntimeError: boom in trial 0" in str(caught.value)
    assert type(caught.value) is RunFailed

    (parent,) = sy.search_runs("doomed", filter="tags.`shipyard.kind` = 'tuning'").runs
    assert parent.status == "FAILED"
    assert parent.error is not None and "boom in trial 0" in parent.error
    assert parent.metrics["trials_failed"] == 3.0
    summary = json.loads(tracking_service().get_artifact(parent.id, "tuning/summary.json"))
    assert summary["best"] is None
    assert [t["error"] for t in summary["trials"]] == [
        f"RuntimeError: boom in trial {n}" for n in range(3)
    ]


def test_no_trial_starts_after_the_timeout(workspace: Path) -> None:
    def slow(params: dict[str, Any], trial: Trial) -> float:
        time.sleep(0.2)
        return float(params["x"])

    started = time.monotonic()
    result = tune(slow, {"x": uniform(0, 1)}, n_trials=100, timeout_s=0.5)
    elapsed = time.monotonic() - started

    assert 2 <= len(result.trials) <= 4
    assert elapsed < 2.0
    assert len(_children(result)) == len(result.trials)


def test_a_bad_report_fails_its_trial(workspace: Path) -> None:
    def objective(params: dict[str, Any], trial: Trial) -> float:
        trial.report(0.5, step=0)
        if params["x"] < 0.3:
            trial.report(0.6, step=0)
        elif params["x"] < 0.6:
            trial.report("high", step=1)  # type: ignore[arg-type]
        return 1.0

    result = tune(objective, {"x": uniform(0, 1)}, n_trials=12, seed=2, pruner=None)
    for trial in result.trials:
        if trial.params["x"] < 0.3:
            assert trial.error == (
                f"InvalidInput: Trial {trial.number} already reported a value at step 0. "
                "Report each step once, e.g. once per epoch."
            )
        elif trial.params["x"] < 0.6:
            assert trial.error is not None
            assert trial.error.startswith(
                "InvalidInput: The value reported at step 1 str 'high'; it must be a number."
            )
        else:
            assert (trial.state, trial.value, trial.intermediate) == ("complete", 1.0, {0: 0.5})
    assert {t.state for t in result.trials} == {"complete", "failed"}


def test_optuna_pruning_and_numpy_scores_are_understood(workspace: Path) -> None:
    import numpy as np
    import optuna

    def objective(params: dict[str, Any], trial: Trial) -> Any:
        if params["x"] < 0.5:
            raise optuna.TrialPruned()  # as Optuna's own docs teach
        return np.float32(params["x"])

    result = tune(objective, {"x": uniform(0, 1)}, n_trials=8, seed=0)
    for trial in result.trials:
        if trial.params["x"] < 0.5:
            assert (trial.state, trial.value) == ("pruned", None)
        else:
            assert trial.state == "complete"
            assert trial.value == pytest.approx(trial.params["x"], rel=1e-6)
    assert {t.state for t in result.trials} == {"pruned", "complete"}
