"""The Ray executor end to end, on a real local Ray cluster with 2 CPUs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import shipyard as sy
from shipyard.tracking import close_workspaces, tracking_service
from tests.pipeline import flows

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture
def sqlite_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "ws"))
    monkeypatch.delenv("SHIPYARD_DB_URL", raising=False)
    monkeypatch.delenv("SHIPYARD_ARTIFACTS", raising=False)
    yield tmp_path / "ws"
    close_workspaces()


def test_steps_run_as_ray_tasks_in_other_processes(
    ray_cluster: None, sqlite_workspace: Path, tmp_path: Path
) -> None:
    run = flows.on_ray.run(x=3, executor="ray")
    assert run.status == "completed" and run.output("total") == 9 + 16
    service = tracking_service()
    step_names = {service.get_run(r.run_id).tags["shipyard.step"] for r in run.steps.values()}
    assert step_names == {"square", "total"}
    cached = flows.on_ray.run(x=3, executor="ray")
    assert cached.cached == ["square", "square-2", "total"]

    stamped = flows.branching.run(executor="ray", pause_s=0.0, cache=False)
    assert {stamped.output(n)["pid"] for n in ("stamp", "stamp-2")} - {os.getpid()}
    failed = flows.branching.run(executor="ray", fail=True, pause_s=0.0, raise_on_failure=False)
    assert failed.steps["boom"].status == "failed" and failed.steps["after"].status == "skipped"
    assert "bad value left" in (failed.steps["boom"].error or "")
    assert sy.get_run(failed.run_id).status == "FAILED"
