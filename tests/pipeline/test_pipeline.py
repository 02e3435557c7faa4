"""Pipelines on a real workspace (SQLite file and PostgreSQL schema): tracing, tracked step runs,
materialized outputs, caching by code, parameters and content, failures, retries, timeouts."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest

import shipyard as sy
from shipyard.core.errors import InvalidInput, RunFailed
from shipyard.pipelines._execute import StepResult, StepTask
from shipyard.tracking import tracking_service
from tests.pipeline import flows

DATA = "x,y\n1,0\n2,0\n3,1\n4,1\n5,1\n0.5,0\n"


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    path = tmp_path / "data.csv"
    path.write_text(DATA)
    return path


def _statuses(run: sy.PipelineRun) -> dict[str, str]:
    return {name: result.status for name, result in run.steps.items()}


def test_steps_run_in_order_as_child_runs_with_their_outputs(workspace: Path, csv: Path) -> None:
    run = flows.training.run(path=str(csv), c=0.5)
    assert run.status == "completed"
    assert _statuses(run) == dict.fromkeys(
        ["load", "clean", "features", "train", "evaluate"], "completed"
    )
    assert run.output("evaluate") == {"accuracy": 1.0, "rows": 6}
    assert run.output("features").shape == (6, 1)
    model = run.output("train")
    assert model.C == 0.5 and model.predict(np.array([[5.0]]))[0] == 1

    service = tracking_service()
    parent = service.get_run(run.run_id)
    assert parent.tags["shipyard.kind"] == "pipeline" and parent.params["c"] == "0.5"
    assert parent.params["path"] == str(csv)
    children = sy.search_runs("training", filter=f"parent_id = '{run.run_id}'", limit=50).runs
    assert sorted(c.name for c in children) == sorted(run.steps)
    train_run = service.get_run(run.steps["train"].run_id)
    assert train_run.params["c"] == "0.5" and train_run.metrics["rows"] == 6
    clean_hash = run.steps["clean"].outputs["output"].content_hash
    assert train_run.params["input.frame"] == f"clean.output@{clean_hash[:16]}"
    graph = json.loads(service.get_artifact(run.run_id, "pipeline/graph.json"))
    by_id = {n["id"]: n for n in graph["nodes"]}
    assert by_id["evaluate"]["depends_on"] == ["clean", "features", "train"]


def test_a_second_run_reuses_every_cached_step(workspace: Path, csv: Path) -> None:
    first = flows.training.run(path=str(csv))
    second = flows.training.run(path=str(csv))
    assert _statuses(second) == {
        "load": "completed",  # cache=False: it reads outside data every time
        "clean": "cached",
        "features": "cached",
        "train": "cached",
        "evaluate": "cached",
    }
    assert second.steps["train"].cached_from == first.steps["train"].run_id
    assert second.output("evaluate") == first.output("evaluate")
    tags = tracking_service().get_run(second.steps["train"].run_id).tags
    assert tags["shipyard.cache"] == "hit"
    assert flows.training.run(path=str(csv), cache=False).cached == []


def test_changed_upstream_data_misses_exactly_downstream(workspace: Path, csv: Path) -> None:
    flows.training.run(path=str(csv))
    csv.write_text(DATA + "6,1\n")
    changed = flows.training.run(path=str(csv))
    assert changed.cached == []
    assert changed.output("evaluate")["rows"] == 7


def test_a_changed_parameter_misses_only_the_steps_that_see_it(workspace: Path, csv: Path) -> None:
    flows.training.run(path=str(csv), c=1.0)
    run = flows.training.run(path=str(csv), c=0.1)
    assert _statuses(run) == {
        "load": "completed",
        "clean": "cached",
        "features": "cached",
        "train": "completed",
        "evaluate": "completed",  # its input (the model) changed
    }


def _flow_module(tmp_path: Path, name: str, double_body: str) -> ModuleType:
    source = textwrap.dedent(
        f"""
        import shipyard as sy

        @sy.step
        def base(n: int) -> list:
            return list(range(n))

        @sy.step
        def double(values: list) -> list:
            {double_body}

        @sy.step
        def total(values: list) -> int:
            return sum(values)

        @sy.pipeline(name="code-change")
        def flow(n: int = 4):
            total(double(base(n)))
        """
    )
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_changed_step_code_misses_that_step_and_what_it_changes(
    workspace: Path, tmp_path: Path
) -> None:
    v1 = _flow_module(tmp_path, "flow_v1", "return [v * 2 for v in values]")
    assert v1.flow.run().output("total") == 12
    same_output = _flow_module(tmp_path, "flow_v2", "return [2 * v for v in values]")
    run = same_output.flow.run()
    assert _statuses(run) == {"base": "cached", "double": "completed", "total": "cached"}
    new_output = _flow_module(tmp_path, "flow_v3", "return [v * 3 for v in values]")
    run = new_output.flow.run()
    assert _statuses(run) == {"base": "cached", "double": "completed", "total": "completed"}
    assert run.output("total") == 18


def test_a_failing_step_skips_downstream_and_lets_other_branches_finish(
    workspace: Path,
) -> None:
    with pytest.raises(RunFailed, match=r"boom.*ValueError: bad value left") as caught:
        flows.branching.run(fail=True, pause_s=0.0)
    assert caught.value.hint is not None and "pipelines runs show" in caught.value.hint
    run = flows.branching.run(fail=True, pause_s=0.0, raise_on_failure=False, cache=False)
    assert _statuses(run) == {
        "stamp": "completed",
        "stamp-2": "completed",
        "boom": "failed",
        "after": "skipped",
        "stamp-3": "completed",
    }
    assert run.steps["after"].run_id is None
    service = tracking_service()
    failed = service.get_run(run.steps["boom"].run_id)
    assert failed.status == "FAILED" and "ValueError: bad value left" in (failed.error or "")
    assert service.get_run(run.run_id).status == "FAILED"


def test_independent_branches_run_at_the_same_time(workspace: Path) -> None:
    run = flows.branching.run(pause_s=0.4, workers=2, cache=False)
    left, right = run.output("stamp"), run.output("stamp-2")
    assert left["start"] < right["end"] and right["start"] < left["end"]  # intervals overlap


def test_retries_and_timeouts(workspace: Path, tmp_path: Path) -> None:
    run = flows.retrying.run(counter=str(tmp_path / "attempts"))
    assert run.steps["flaky"].attempts == 3 and run.output("flaky") == 3
    timed = flows.timing_out.run(seconds=3.0, raise_on_failure=False)
    assert timed.steps["slow"].status == "failed"
    assert "TimeoutError" in (timed.steps["slow"].error or "")


def test_named_outputs_keep_frames_and_their_index(workspace: Path) -> None:
    run = flows.splitting.run(n=10)
    assert run.output("count") == {"train": 5, "test": 5, "first_test": "r5"}
    test = run.output("split", "test")
    assert isinstance(test, pd.DataFrame) and list(test.index) == [f"r{i}" for i in range(5, 10)]


def test_definition_mistakes_are_clear(workspace: Path) -> None:
    @sy.step
    def produce() -> int:
        return 1

    @sy.step
    def consume(value: int, options: dict) -> int:  # type: ignore[type-arg]
        return value

    @sy.pipeline
    def branches_on_output() -> None:
        if produce():
            consume(1, {})

    with pytest.raises(InvalidInput, match="exists only when the pipeline runs"):
        branches_on_output.run()

    @sy.pipeline
    def passes_an_object() -> None:
        consume(produce(), {"when": object()})

    with pytest.raises(InvalidInput, match="parameters must be JSON values"):
        passes_an_object.run()

    @sy.pipeline
    def nests_an_output() -> None:
        consume(1, {"value": produce()})

    with pytest.raises(InvalidInput, match="inside a container"):
        nests_an_output.run()

    with pytest.raises(InvalidInput, match="takes \\*args"):

        @sy.step
        def variadic(*args: int) -> int:
            return 0

    @sy.pipeline
    def empty() -> None:
        return None

    with pytest.raises(InvalidInput, match="calls no steps"):
        empty.run()
    with pytest.raises(InvalidInput, match="wrong parameters"):
        flows.training.run(nope=1)
    with pytest.raises(InvalidInput, match=r"is run with \.run"):
        flows.training("x")
    with pytest.raises(InvalidInput, match="Unknown executor"):
        flows.splitting.run(executor="spark")
    with pytest.raises(InvalidInput, match="retries"):
        sy.step(retries=-1)(produce.fn)
    assert produce() == 1  # outside a pipeline a step is its plain function


def test_an_output_without_a_materializer_names_its_type(workspace: Path) -> None:
    @sy.step
    def opaque() -> object:
        return object()

    @sy.pipeline
    def flow() -> None:
        opaque()

    run = flow.run(raise_on_failure=False)
    error = run.steps["opaque"].error or ""
    assert "builtins.object" in error and "register_materializer" in error


def test_parameters_named_like_run_options_are_refused(workspace: Path) -> None:
    with pytest.raises(InvalidInput, match=r"'workers'.*option of \.run"):

        @sy.pipeline
        def sized(workers: int = 4) -> None:
            flows.square(workers)


@contextlib.contextmanager
def _ctrl_c_raises() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt in the main thread, as in a terminal."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _press_ctrl_c() -> None:
    main = threading.main_thread().ident
    assert main is not None
    signal.pthread_kill(main, signal.SIGINT)


def _runs_of(experiment: str) -> dict[str, sy.RunRecord]:
    return {r.name: r for r in sy.search_runs(experiment, limit=100).runs}


def test_ctrl_c_kills_the_run_and_starts_no_queued_step(workspace: Path) -> None:
    @sy.step(cache=False)
    def long(pause_s: float) -> int:
        _press_ctrl_c()  # while the driver waits for this step
        time.sleep(pause_s)
        return 1

    @sy.step(cache=False)
    def queued(label: str) -> str:
        return label

    @sy.pipeline
    def interrupted() -> None:
        long(1.0)
        queued("b")
        queued("c")

    with _ctrl_c_raises():
        interrupted.run(workers=1, progress=False)
    runs = _runs_of("interrupted")
    assert runs["interrupted"].status == "KILLED"
    assert set(runs) == {"interrupted", "long"}  # b and c were waiting: they never started
    assert runs["long"].status == "FINISHED"  # a running thread cannot be stopped


class _LostSteps:
    """An executor whose steps start and never report back, as on a Ray worker shut down."""

    def submit(self, task: StepTask) -> Future[StepResult]:
        tracking_service().create_run(
            task.experiment,
            task.node.id,
            parent_id=task.parent_run_id,
            initial_tags={"shipyard.kind": "step"},
        )
        if task.node.id == "square-2":
            _press_ctrl_c()
        return Future()

    def close(self) -> None:
        pass


def test_steps_cut_off_by_a_stopped_run_do_not_stay_running(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def lost(name: str, workers: int | None = None) -> Any:
        return _LostSteps()

    monkeypatch.setattr("shipyard.pipelines._pipeline.make_executor", lost)
    with _ctrl_c_raises():
        flows.on_ray.run(progress=False)
    runs = _runs_of("on_ray")
    assert runs["on_ray"].status == "KILLED"
    assert {runs[n].status for n in ("square", "square-2")} == {"KILLED"}
    assert runs["square"].error == "the pipeline run stopped first"


_FACTOR = {"value": 2}  # what a helper reads: not part of any cache key


def test_a_run_with_the_cache_off_refreshes_what_later_runs_reuse(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    @sy.step
    def scale(x: int) -> int:
        return x * _FACTOR["value"]

    @sy.pipeline
    def scaling(x: int = 5) -> None:
        scale(x)

    assert scaling.run(progress=False).output("scale") == 10
    monkeypatch.setitem(_FACTOR, "value", 3)  # a helper changed: the README says refresh
    assert scaling.run(progress=False, cache=False).output("scale") == 15
    reused = scaling.run(progress=False)
    assert reused.cached == ["scale"] and reused.output("scale") == 15


def test_an_error_in_the_pipeline_body_is_reported_as_the_users(workspace: Path) -> None:
    @sy.step
    def one() -> int:
        return 1

    @sy.pipeline
    def broken(limit: int = 3) -> None:
        one()
        raise KeyError(f"no setting for {limit}")

    with pytest.raises(RunFailed, match=r"body of pipeline 'broken' raised KeyError") as caught:
        broken.run()
    assert "inside a step" in (caught.value.hint or "")
