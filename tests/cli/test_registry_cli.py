"""``shipyard datasets …`` and ``shipyard models …`` as a user runs them: real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge

import shipyard as sy
from shipyard.tracking import close_workspaces


def shipyard(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shipyard", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
    )


@pytest.fixture
def diabetes(workspace: Path) -> pd.DataFrame:
    frame = load_diabetes(as_frame=True).frame
    with sy.start_run(experiment="diabetes") as run:
        run.log_dataset(frame, "diabetes")
        run.log_metric("r2", 0.45)
        features = frame.drop(columns=["target"])
        model = Ridge().fit(features, frame["target"])
        ref = run.log_model(model, "model", input_example=features.head(5))
    sy.register_model(ref, "diabetes-ridge", reason="first")
    sy.register_model(ref, "diabetes-ridge", reason="second")
    close_workspaces()
    return frame


def test_datasets_list_show_and_validate(diabetes: pd.DataFrame, tmp_path: Path) -> None:
    listed = shipyard("datasets", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(d["name"], d["latest_version"]) for d in json.loads(listed.stdout)] == [
        ("diabetes", 1)
    ]
    shown = shipyard("datasets", "show", "diabetes")
    assert shown.returncode == 0, shown.stderr
    assert "Profile of diabetes:1" in shown.stdout and "bmi" in shown.stdout

    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    diabetes.to_csv(good, index=False)
    diabetes.drop(columns=["bmi"]).to_csv(bad, index=False)
    ok = shipyard("datasets", "validate", str(good), "--against", "diabetes")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    failed = shipyard("datasets", "validate", str(bad), "--against", "diabetes")
    assert failed.returncode == 1
    assert "missing_column" in failed.stdout and "bmi" in failed.stdout
    missing = shipyard("datasets", "validate", str(tmp_path / "nope.csv"), "--against", "diabetes")
    assert missing.returncode != 0 and "nope.csv" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_models_list_show_versions_aliases_and_history(diabetes: pd.DataFrame) -> None:
    listed = json.loads(shipyard("models", "list", "--json").stdout)
    assert [(m["name"], m["latest_version"]) for m in listed] == [("diabetes-ridge", 2)]

    moved = shipyard("models", "alias", "set", "diabetes-ridge", "champion", "1", "-m", "gate ok")
    assert moved.returncode == 0, moved.stderr
    shown = json.loads(
        shipyard("models", "show", "models:/diabetes-ridge@champion", "--json").stdout
    )
    assert shown["version"] == 1 and shown["aliases"] == ["champion"]
    assert shown["metrics"] == {"r2": 0.45} and shown["datasets"] == ["diabetes:1"]
    table = shipyard("models", "show", "diabetes-ridge")
    assert "diabetes-ridge version 2" in table.stdout

    versions = json.loads(shipyard("models", "versions", "diabetes-ridge", "--json").stdout)
    assert [v["version"] for v in versions] == [1, 2]
    assert shipyard("models", "alias", "delete", "diabetes-ridge", "champion").returncode == 0
    history = json.loads(shipyard("models", "history", "diabetes-ridge", "--json").stdout)
    assert [e["action"] for e in history] == [
        "create_model",
        "register",
        "register",
        "set_alias",
        "delete_alias",
    ]
    assert history[3]["reason"] == "gate ok"

    unknown = shipyard("models", "alias", "set", "diabetes-ridge", "champion", "7")
    assert unknown.returncode == 1 and "no version 7" in unknown.stderr
    bad_uri = shipyard("models", "show", "models:/diabetes-ridge/zero")
    assert bad_uri.returncode == 2 and "Traceback" not in bad_uri.stderr


def test_load_test_prints_latencies(diabetes: pd.DataFrame) -> None:
    done = shipyard("models", "load-test", "models:/diabetes-ridge/1", "--seconds", "0.2", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["uri"] == "models:/diabetes-ridge/1"
    assert 0 < report["single_row_p50_ms"] <= report["single_row_p99_ms"]
    assert report["single_row_calls"] >= 5 and report["load_ms"] > 0
    assert report["batch_1000_rows_per_s"] > 0
