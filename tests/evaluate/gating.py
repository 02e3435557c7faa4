"""Real models for gate tests: logistic regressions on the breast-cancer data, registered in the
test's workspace as versions of one model, so that gates compare what users would compare."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import shipyard as sy
from shipyard.registry import ModelVersion

NAME = "cancer"
TARGET = "benign"
FEW = ["mean texture", "mean smoothness"]  # a weak champion: AUC about 0.8
MANY = [*FEW, "mean radius", "worst concave points", "worst area", "mean concavity"]
TESTS_RESAMPLES = 200  # enough for these clear-cut differences, and fast


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, holdout) with a ``size`` column to slice by (not a model input)."""
    frame = load_breast_cancer(as_frame=True).frame.rename(columns={"target": TARGET})
    frame["size"] = np.where(frame["mean area"] > frame["mean area"].median(), "large", "small")
    train, holdout = train_test_split(frame, test_size=0.4, random_state=0, stratify=frame[TARGET])
    return train.reset_index(drop=True), holdout.reset_index(drop=True)


def register(
    train: pd.DataFrame, features: Sequence[str], *, shuffle: bool = False, alias: str = ""
) -> ModelVersion:
    """Fit a scaled logistic regression on ``features`` and register it as the next version."""
    labels = train[TARGET].to_numpy()
    if shuffle:
        labels = np.random.default_rng(0).permutation(labels)
    x = train[list(features)]
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, labels)
    with sy.start_run(experiment="training") as run:
        ref = run.log_model(model, "model", input_example=x.head(5))
    version = sy.register_model(ref, NAME)
    if alias:
        sy.set_alias(NAME, alias, version.version, reason="first model")
    return version


@contextlib.contextmanager
def sqlite_workspace(root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh SQLite workspace in ``root``, also the current folder; no CI step summary."""
    from shipyard.tracking import close_workspaces

    root.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("SHIPYARD_HOME", str(root))
    for name in ("SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(root)
    try:
        yield root
    finally:
        close_workspaces()
