"""A SQLite workspace per test, real datasets, and readers for what a tabular run stored."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A workspace of this test alone on SQLite (the store tests cover PostgreSQL)."""
    from shipyard.tracking import close_workspaces

    root = tmp_path / "ws"
    root.mkdir()
    monkeypatch.setenv("SHIPYARD_HOME", str(root))
    monkeypatch.delenv("SHIPYARD_DB_URL", raising=False)
    monkeypatch.delenv("SHIPYARD_ARTIFACTS", raising=False)
    monkeypatch.delenv("SHIPYARD_EXPERIMENT", raising=False)
    yield root
    close_workspaces()


def _sklearn_frame(name: str) -> pd.DataFrame:
    from sklearn import datasets

    frame: pd.DataFrame = getattr(datasets, f"load_{name}")(as_frame=True).frame
    return frame


@pytest.fixture(scope="session")
def breast_cancer() -> pd.DataFrame:
    """569 rows, 30 float columns, a 0/1 ``target``."""
    return _sklearn_frame("breast_cancer")


@pytest.fixture(scope="session")
def wine() -> pd.DataFrame:
    """178 rows, 13 float columns, ``target`` 0/1/2."""
    return _sklearn_frame("wine")


@pytest.fixture(scope="session")
def diabetes() -> pd.DataFrame:
    """442 rows, 10 float columns, a float ``target`` (disease progression)."""
    return _sklearn_frame("diabetes")


@pytest.fixture(scope="session")
def churn() -> pd.DataFrame:
    """600 customers: a text ``plan`` (some missing) drives ``churned`` ("yes"/"no"), ``usage``
    helps a little, ``noise`` not at all."""
    rng = np.random.default_rng(7)
    n = 600
    plan = rng.choice(["basic", "pro", "team"], n)
    usage = rng.normal(size=n)
    logit = np.select([plan == "basic", plan == "pro"], [2.5, 0.0], -2.5) + 0.8 * usage
    churned = rng.random(n) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame(
        {
            "plan": pd.Series(plan, dtype=object),
            "usage": usage,
            "noise": rng.normal(size=n),
            "churned": np.where(churned, "yes", "no"),
        }
    )
    frame.loc[::37, "plan"] = None
    return frame


def artifact(run_id: str, name: str) -> bytes:
    from shipyard.tracking import tracking_service

    return tracking_service().get_artifact(run_id, name)


def artifact_json(run_id: str, name: str) -> Any:
    return json.loads(artifact(run_id, name))


def stored_predictions(run_id: str) -> pd.DataFrame:
    """The run's stored test predictions: row (position in the input), actual, predicted…"""
    return pd.read_parquet(io.BytesIO(artifact(run_id, "evaluation/predictions.parquet")))
