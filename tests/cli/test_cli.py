"""The ``shipyard`` command as a user runs it: a real process, real workspace, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import shipyard as sy


def shipyard(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shipyard", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=os.environ.copy(),
        timeout=120,
    )


@pytest.fixture
def two_runs(workspace: Path) -> tuple[str, str]:
    ids = []
    for auc, model in ((0.81, "xgb"), (0.92, "lgbm")):
        with sy.start_run(experiment="churn", name=f"{model}-run") as run:
            run.log_params({"model": model, "depth": 6})
            run.log_metric("auc", auc)
            run.log_artifact(f"weights of {model}".encode(), "model/weights.bin")
        ids.append(run.id)
    sy.tracking.close_workspaces()
    return ids[0], ids[1]


def test_init_creates_a_workspace_that_later_commands_find(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SHIPYARD_HOME", "SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS"):
        monkeypatch.delenv(name, raising=False)
    done = shipyard("init", str(tmp_path / "proj"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "proj" / "shipyard.toml").is_file()
    assert (tmp_path / "proj" / ".shipyard" / "shipyard.db").is_file()
    (tmp_path / "proj" / "sub").mkdir()
    listed = shipyard("experiments", "list", "--json", cwd=tmp_path / "proj" / "sub")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []


def test_runs_list_filters_orders_and_prints_json(two_runs: tuple[str, str]) -> None:
    done = shipyard(
        "runs",
        "list",
        "-e",
        "churn",
        "--filter",
        "metrics.auc > 0.5",
        "-o",
        "metrics.auc",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    runs = json.loads(done.stdout)["runs"]
    assert [r["id"] for r in runs] == list(two_runs)
    assert runs[1]["params"] == {"model": "lgbm", "depth": "6"}


def test_runs_list_prints_a_table_for_people(two_runs: tuple[str, str]) -> None:
    done = shipyard("runs", "list")
    assert done.returncode == 0, done.stderr
    assert "lgbm-run" in done.stdout and "0.92" in done.stdout and "FINISHED" in done.stdout


def test_runs_show_and_compare(two_runs: tuple[str, str]) -> None:
    first, second = two_runs
    shown = json.loads(shipyard("runs", "show", second[:12], "--json").stdout)
    assert shown["metrics"] == {"auc": 0.92}
    assert [a["name"] for a in shown["artifacts"]] == ["model/weights.bin"]
    table = shipyard("runs", "show", second)
    assert "lgbm-run" in table.stdout and "model/weights.bin" in table.stdout
    compared = shipyard("runs", "compare", first, second)
    assert compared.returncode == 0, compared.stderr
    lines = [line for line in compared.stdout.splitlines() if "params.model" in line]
    assert lines and "xgb" in lines[0] and "lgbm" in lines[0]


def test_artifacts_list_and_get(two_runs: tuple[str, str], tmp_path: Path) -> None:
    _, second = two_runs
    listed = json.loads(shipyard("artifacts", "list", second, "--json").stdout)
    assert [a["name"] for a in listed] == ["model/weights.bin"]
    done = shipyard("artifacts", "get", second, "model/weights.bin", "-o", str(tmp_path / "dl"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "dl" / "model" / "weights.bin").read_bytes() == b"weights of lgbm"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["runs", "show", "ZZZZZZZZZZZZ"], 1, "No run id starts with 'ZZZZZZZZZZZZ'"),
        (["runs", "list", "--filter", "metrics.auc >> 1"], 2, "Invalid filter at position 14"),
        (["runs", "list", "-e", "nope"], 1, "No experiment named 'nope'"),
        (["runs", "list", "--limit", "0"], 2, "limit"),
        (["runs", "list", "--page-token", "garbage"], 2, "Invalid page_token"),
        (["runs", "compare", "ABCDEFGH"], 2, "at least two run ids"),
        (["artifacts", "get", "ABCDEFGH", "../../etc/passwd"], 2, "artifact name"),
        (["runs", "frobnicate"], 2, "No such command"),
        (["runs", "show", "[/]abcdef"], 2, "Invalid run id '[/]abcdef'"),
    ],
)
def test_user_mistakes_print_one_clear_error_and_no_traceback(
    two_runs: tuple[str, str], args: list[str], code: int, message: str
) -> None:
    done = shipyard(*args)
    assert done.returncode == code, done.stderr
    assert message.lower() in done.stderr.lower()
    assert "Traceback" not in done.stderr


def test_debug_shows_the_traceback(two_runs: tuple[str, str]) -> None:
    done = shipyard("--debug", "runs", "show", "ZZZZZZZZZZZZ")
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "NotFound" in done.stderr


def test_version_and_help() -> None:
    assert shipyard("version").stdout.strip() == f"shipyard {sy.__version__}"
    assert json.loads(shipyard("version", "--json").stdout)["shipyard"] == sy.__version__
    done = shipyard("--help")
    assert done.returncode == 0
    for command in ("init", "runs", "experiments", "artifacts", "version"):
        assert command in done.stdout


def test_json_output_is_strict_json_even_for_nan(workspace: Path) -> None:
    with sy.start_run(experiment="nan") as run:
        run.log_metric("loss", float("nan"))
    sy.tracking.close_workspaces()
    done = shipyard("runs", "show", run.id, "--json")
    assert "NaN" not in done.stdout
    assert json.loads(done.stdout)["metrics"] == {"loss": None}
