"""Helpers shared by the evaluation tests: a private SQLite workspace, real datasets, models
logged and registered the way users do, and evaluations built straight from predictions."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from shipyard.evaluation import Evaluation
    from shipyard.registry import ModelVersion


@contextlib.contextmanager
def sqlite_workspace(root: Path) -> Iterator[Path]:
    """``root`` as the workspace (SQLite, local artifacts) until the block ends."""
    from shipyard.tracking import close_workspaces

    with pytest.MonkeyPatch.context() as env:
        env.setenv("SHIPYARD_HOME", str(root))
        for name in ("SHIPYARD_DB_URL", "SHIPYARD_ARTIFACTS", "SHIPYARD_EXPERIMENT"):
            env.delenv(name, raising=False)
        try:
            yield root
        finally:
            close_workspaces()


@functools.cache
def sklearn_frame(name: str) -> pd.DataFrame:
    """A scikit-learn toy dataset as one frame with its ``target`` column."""
    from sklearn import datasets

    frame: pd.DataFrame = getattr(datasets, f"load_{name}")(as_frame=True).frame
    return frame


def split(name: str, *, stratify: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) of a toy dataset: 60/40, stratified for classification, fixed seed."""
    from sklearn.model_selection import train_test_split

    frame = sklearn_frame(name)
    train, test = train_test_split(
        frame, test_size=0.4, random_state=0, stratify=frame["target"] if stratify else None
    )
    return train, test


def register(model: Any, features: pd.DataFrame, name: str) -> ModelVersion:
    """Log ``model`` in a run of its own and register it as the next version of ``name``."""
    import shipyard as sy

    with sy.start_run(experiment="training") as run:
        ref = run.log_model(model, "model", input_example=features.head(5), convert_onnx=False)
    return sy.register_model(ref, name)


def evaluation_of(
    task: str,
    y_true: np.ndarray[Any, Any],
    y_pred: np.ndarray[Any, Any],
    y_score: np.ndarray[Any, Any],
    classes: Sequence[Any] | None = None,
    *,
    uri: str = "models:/m/1",
    digest: str = "rows",
    slices: dict[str, np.ndarray[Any, Any]] | None = None,
) -> Evaluation:
    """An evaluation of predictions made elsewhere (no model, no run), as ``evaluate`` builds."""
    import numpy as np

    from shipyard.evaluation import Evaluation
    from shipyard.evaluation._metrics import point_metrics, slice_metrics

    labels = slices or {}
    return Evaluation(
        model_uri=uri,
        model_name=None,
        model_version=None,
        dataset_ref=None,
        data_digest=digest,
        task=task,
        n_rows=len(y_true),
        metrics=point_metrics(task, y_true, y_pred, y_score, classes),
        slices={
            column: slice_metrics(
                task, y_true, y_pred, y_score, classes, values, list(dict.fromkeys(values))
            )
            for column, values in labels.items()
        },
        classes=None if classes is None else list(classes),
        y_true=y_true,
        y_pred=y_pred,
        y_score=np.asarray(y_score, dtype=np.float64),
        slice_values=labels,
    )
