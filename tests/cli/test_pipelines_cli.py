"""``shipyard pipelines …`` as a user runs it: a real process on a real workspace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def shipyard(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "shipyard", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=180,
    )


@pytest.fixture
def project(workspace: Path, tmp_path: Path) -> Path:
    (tmp_path / "data.csv").write_text("x,y\n1,0\n2,0\n3,1\n4,1\n")
    return tmp_path


def test_run_list_and_show_a_pipeline(project: Path) -> None:
    first = shipyard(
        "pipelines",
        "run",
        "tests.pipeline.flows:training",
        "-p",
        "path=data.csv",
        "-p",
        "c=0.5",
        cwd=project,
    )
    assert first.returncode == 0, first.stderr
    assert "Pipeline training completed" in first.stdout
    again = shipyard(
        "pipelines",
        "run",
        "tests.pipeline.flows:training",
        "--param",
        "path=data.csv",
        "--param",
        "c=0.5",
        cwd=project,
    )
    assert again.returncode == 0 and again.stdout.count("cached") == 4

    listed = json.loads(shipyard("pipelines", "runs", "list", "--json", cwd=project).stdout)
    assert [r["tags"]["shipyard.pipeline"] for r in listed] == ["training", "training"]
    shown = json.loads(
        shipyard("pipelines", "runs", "show", listed[0]["id"], "--json", cwd=project).stdout
    )
    assert {s: v["status"] for s, v in shown["steps"].items()}["train"] == "cached"
    nodes = {n["id"]: n["depends_on"] for n in shown["graph"]["nodes"]}
    assert nodes["train"] == ["clean", "features"]
    table = shipyard("pipelines", "runs", "show", listed[0]["id"][:10], cwd=project).stdout
    assert "clean + features" in table


def test_a_failing_pipeline_exits_1_and_bad_targets_are_clear(project: Path) -> None:
    failed = shipyard(
        "pipelines", "run", "tests.pipeline.flows:branching", "-p", "fail=true", cwd=project
    )
    assert failed.returncode == 1
    assert "bad value left" in failed.stdout and "skipped" in failed.stdout
    for target, message in (
        ("nowhere:flow", "No module named 'nowhere'"),
        ("tests.pipeline.flows:missing", "has no attribute 'missing'"),
        ("tests.pipeline.flows:load", "not a pipeline"),
        ("no-colon", "Cannot read the pipeline"),
    ):
        done = shipyard("pipelines", "run", target, cwd=project)
        assert done.returncode in (1, 2) and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    bad_param = shipyard(
        "pipelines", "run", "tests.pipeline.flows:training", "-p", "oops", cwd=project
    )
    assert bad_param.returncode == 2 and "--param name=value" in bad_param.stderr


def test_show_a_run_that_died_midway_from_its_step_runs(project: Path) -> None:
    died = shipyard("pipelines", "run", "tests.pipeline.flows:crashing", cwd=project)
    assert died.returncode == 3
    (listed,) = json.loads(shipyard("pipelines", "runs", "list", "--json", cwd=project).stdout)
    assert listed["status"] == "RUNNING"
    shown = json.loads(
        shipyard("pipelines", "runs", "show", listed["id"], "--json", cwd=project).stdout
    )
    assert {s: v["status"] for s, v in shown["steps"].items()} == {
        "stamp": "completed",
        "die": "running",
    }
    table = shipyard("pipelines", "runs", "show", listed["id"], cwd=project).stdout
    assert "not run" not in table and "completed" in table and "running" in table


def test_option_names_and_errors_in_the_users_module_are_clear(project: Path) -> None:
    option = shipyard(
        "pipelines", "run", "tests.pipeline.flows:training", "-p", "workers=2", cwd=project
    )
    assert option.returncode == 2 and "'workers' is an option of the run" in option.stderr
    (project / "broken_flow.py").write_text('raise RuntimeError("no config file")\n')
    broken = shipyard("pipelines", "run", "broken_flow:flow", cwd=project)
    assert broken.returncode == 2
    assert "Importing broken_flow failed: RuntimeError: no config file" in broken.stderr
    assert "bug in Shipyard" not in broken.stderr and "Traceback" not in broken.stderr
