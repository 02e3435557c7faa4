"""Trials in worker processes and on a real local Ray cluster, logging into one workspace."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

import shipyard as sy
from shipyard.tracking import close_workspaces, tracking_service
from shipyard.tuning import Trial, TrialPruned, TuneResult, tune, uniform
from shipyard.tuning._executors import _Executor
from shipyard.tuning._trial import TrialOutcome, TrialTask


def _children(result: TuneResult) -> dict[int, sy.RunRecord]:
    runs = sy.search_runs(filter=f"parent_id = '{result.run_id}'", limit=1000).runs
    return {int(run.tags["shipyard.trial_number"]): run for run in runs}


def _make_objective(offset: float) -> Any:
    """A closure (so it must travel by value) with a learning curve that can be pruned."""

    def objective(params: dict[str, Any], trial: Trial) -> float:
        trial.run.set_tag("pid", os.getpid())
        score = 0.0
        for epoch in range(6):
            score = (epoch + 1) / 6 - abs(params["x"] - offset)
            trial.report(score, step=epoch)
            if trial.should_prune():
                raise TrialPruned()
        return score

    return objective


def _check_parallel_study(result: TuneResult, n_trials: int) -> None:
    children = _children(result)
    assert sorted(children) == list(range(n_trials))
    pids = {child.tags["pid"] for child in children.values()}
    assert str(os.getpid()) not in pids and 1 <= len(pids) <= 2
    service = tracking_service()
    for trial in result.trials:
        child = children[trial.number]
        assert child.id == trial.run_id and child.parent_id == result.run_id
        assert child.status == "FINISHED"
        assert child.tags["shipyard.trial_state"] == trial.state
        assert child.params == {"x": str(trial.params["x"])}
        history = service.metric_history(child.id, "objective")
        assert {p.step: p.value for p in history[: len(trial.intermediate)]} == trial.intermediate
        if trial.state == "complete":
            assert child.metrics["objective"] == trial.value
            assert trial.value == pytest.approx(1 - abs(trial.params["x"] - 0.25))
    # The driver replays each remote trial's intermediate values into its own study.
    for frozen in result.study.trials:
        assert frozen.intermediate_values == result.trials[frozen.number].intermediate
    assert {t.state for t in result.trials} == {"complete", "pruned"}
    assert abs(result.best_params["x"] - 0.25) < 0.3


def test_trials_run_in_worker_processes(workspace: Path) -> None:
    result = tune(_make_objective(0.25), {"x": uniform(-1, 1)}, n_trials=16, workers=2, seed=0)
    _check_parallel_study(result, 16)
    assert sy.get_run(result.run_id).params["workers"] == "2"


def _dies_in_trial_one(params: dict[str, Any], trial: Trial) -> float:
    if trial.number == 1:
        time.sleep(0.2)  # let the run exist first, as a real crash would
        os._exit(3)
    return float(params["x"])


@pytest.mark.slow
def test_a_worker_that_dies_fails_its_trial_and_the_study_goes_on(workspace: Path) -> None:
    result = tune(_dies_in_trial_one, {"x": uniform(0, 1)}, n_trials=6, workers=2, seed=0)

    children = _children(result)
    lost = [t for t in result.trials if t.state == "failed"]
    assert 1 in [t.number for t in lost] and len(lost) <= 2  # a broken pool takes its peer too
    for trial in lost:
        assert trial.error is not None
        assert trial.error.startswith("The trial was lost: BrokenProcessPool")
    assert children[1].status == "FAILED" and children[1].error == result.trials[1].error
    assert children[1].tags["shipyard.trial_state"] == "failed"
    assert "RUNNING" not in {child.status for child in children.values()}
    assert len([t for t in result.trials if t.state == "complete"]) >= 4


@pytest.fixture
def sqlite_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path))
    monkeypatch.delenv("SHIPYARD_DB_URL", raising=False)
    monkeypatch.delenv("SHIPYARD_ARTIFACTS", raising=False)
    yield tmp_path
    close_workspaces()


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_trials_run_as_ray_tasks(ray_cluster: None, sqlite_workspace: Path) -> None:
    result = tune(
        _make_objective(0.25),
        {"x": uniform(-1, 1)},
        n_trials=16,
        executor="ray",
        seed=0,
        experiment="on-ray",
    )
    _check_parallel_study(result, 16)
    parent = sy.get_run(result.run_id)
    assert (parent.params["executor"], parent.params["workers"]) == ("ray", "2")  # its CPUs
    assert {child.experiment for child in _children(result).values()} == {"on-ray"}


class _LostTrials(_Executor):
    """Trials that start and never report back, as on Ray workers shut down under them; the
    driver is interrupted (Ctrl-C) once the second trial is out."""

    def submit(self, task: TrialTask) -> Future[TrialOutcome]:
        tracking_service().create_run(
            task.experiment,
            f"trial-{task.number}",
            parent_id=task.parent_run_id,
            initial_tags={"shipyard.kind": "trial"},
        )
        if task.number == 1:
            main = threading.main_thread().ident
            assert main is not None
            signal.pthread_kill(main, signal.SIGINT)
        return Future()


def test_trials_cut_off_by_a_stopped_study_do_not_stay_running(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shipyard.tuning._tune._make_executor", lambda *_: _LostTrials())
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            tune(lambda params: 0.0, {"x": uniform(0, 1)}, n_trials=4, workers=2, name="cut")
    finally:
        signal.signal(signal.SIGINT, previous)
    runs = {r.name: r for r in sy.search_runs("default", limit=100).runs}
    assert runs["cut"].status == "KILLED"
    assert {runs[n].status for n in ("trial-0", "trial-1")} == {"KILLED"}
    assert runs["trial-0"].error == "the study stopped first"
