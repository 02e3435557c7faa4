"""Storing an evaluation in its run: figures, the importance and slice reports, and the test
predictions themselves, so any number can be traced back to the rows behind it."""

from __future__ import annotations

import io
import json
import math
from typing import TYPE_CHECKING, Any

from shipyard.solutions.tabular._evaluate import Predictions
from shipyard.solutions.tabular._importance import Importance
from shipyard.solutions.tabular._task import Task

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from shipyard.tracking import Run

__all__ = ["log_evaluation"]


def log_evaluation(
    run: Run,
    pred: Predictions,
    task: Task,
    metrics: dict[str, float],
    *,
    rows: npt.NDArray[np.intp],
    importance: Importance,
    slices: dict[str, Any] | None,
) -> None:
    """Log figures under ``plots/`` and reports under ``evaluation/``.

    ``rows``: each test row's position in the caller's data, kept in ``predictions.parquet``.
    """
    from shipyard.solutions.tabular import _plots

    for name, figure in _figures(pred, task, metrics):
        run.log_figure(figure, f"plots/{name}.png")
    run.log_figure(
        _plots.importance_figure(importance.values, importance.unit), "plots/importance.png"
    )
    run.log_artifact(_json(importance.to_dict()), "evaluation/importance.json")
    if slices is not None:
        run.log_artifact(_json(slices), "evaluation/slices.json")
    run.log_artifact(_predictions_parquet(pred, rows), "evaluation/predictions.parquet")


def _figures(pred: Predictions, task: Task, metrics: dict[str, float]) -> list[tuple[str, Any]]:
    from shipyard.solutions.tabular import _plots

    if task == "regression":
        return [("residuals", _plots.residuals_figure(pred.y_true, pred.y_pred))]
    assert pred.proba is not None and pred.classes is not None
    confusion = _plots.confusion_figure(pred.y_true, pred.y_pred, pred.classes)
    figures = [("confusion_matrix", confusion)]
    if task == "binary":
        positive, score = pred.positive()
        figures.append(
            ("calibration", _plots.calibration_figure(positive, score, f"{pred.classes[1]}"))
        )
        if "roc_auc" in metrics:
            figures.append(("roc", _plots.roc_figure(positive, score, metrics["roc_auc"])))
            figures.append(("pr", _plots.pr_figure(positive, score, metrics["pr_auc"])))
        return figures
    confidence = pred.proba.max(axis=1)
    correct = pred.y_pred == pred.y_true
    figures.append(("calibration", _plots.calibration_figure(correct, confidence, "top class")))
    return figures


def _json(value: Any) -> bytes:
    return json.dumps(_finite(value), indent=2, allow_nan=False).encode()


def _finite(value: Any) -> Any:
    """NaN and infinities as null: strict JSON has no spelling for them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _predictions_parquet(pred: Predictions, rows: npt.NDArray[np.intp]) -> bytes:
    import pandas as pd

    columns: dict[str, Any] = {"row": rows, "actual": pred.y_true, "predicted": pred.y_pred}
    if pred.proba is not None and pred.classes is not None:
        for i, label in enumerate(pred.classes):
            columns[f"proba_{label}"] = pred.proba[:, i]
    buffer = io.BytesIO()
    pd.DataFrame(columns).to_parquet(buffer, index=False)
    return buffer.getvalue()
