"""Held-out metrics, overall and per slice, as plain functions of labels and predictions."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard.solutions.tabular._task import Task

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

__all__ = ["HEADLINE", "Predictions", "metric_values", "predict", "slice_metrics"]

# The one number a description or a summary line shows first, per task.
HEADLINE: dict[Task, str] = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "r2"}
_MAX_SLICE_VALUES = 20  # per column: the most frequent values, or quartiles of a numeric one
_UNSAFE = re.compile(r"[^\w\-. ]+")  # what may not appear in a metric key part
# A slice: its label, [low, high] for a quantile bin, and which test rows it holds.
_Group = tuple[str, "list[float] | None", "npt.NDArray[np.bool_]"]


@dataclass(frozen=True)
class Predictions:
    """What the model said about the test rows, next to the truth."""

    y_true: npt.NDArray[Any]
    y_pred: npt.NDArray[Any]
    proba: npt.NDArray[np.float64] | None = None  # (n_rows, n_classes), classifiers only
    classes: npt.NDArray[Any] | None = None

    def positive(self) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
        """Binary: whether each row is the positive class (the second one), and its score."""
        assert self.proba is not None and self.classes is not None
        return self.y_true == self.classes[1], self.proba[:, 1]

    def subset(self, mask: npt.NDArray[np.bool_]) -> Predictions:
        proba = None if self.proba is None else self.proba[mask]
        return Predictions(self.y_true[mask], self.y_pred[mask], proba, self.classes)


def predict(estimator: Any, x: pd.DataFrame, y: pd.Series, task: Task) -> Predictions:
    import numpy as np

    y_pred = np.asarray(estimator.predict(x))
    if task == "regression":
        return Predictions(y.to_numpy(dtype="float64"), y_pred.astype("float64"))
    proba = np.asarray(estimator.predict_proba(x), dtype="float64")
    return Predictions(y.to_numpy(), y_pred, proba, np.asarray(estimator.classes_))


def metric_values(pred: Predictions, task: Task) -> dict[str, float]:
    """binary: roc_auc, pr_auc (average precision), accuracy, f1, log_loss, brier;
    multiclass: accuracy, f1_macro, log_loss; regression: r2, rmse, mae.

    A metric a split cannot define (ROC AUC of rows of one class) is left out, not NaN.
    """
    import numpy as np
    from sklearn import metrics as m

    if task == "regression":
        out = {
            "rmse": m.root_mean_squared_error(pred.y_true, pred.y_pred),
            "mae": m.mean_absolute_error(pred.y_true, pred.y_pred),
        }
        if len(pred.y_true) > 1:
            out["r2"] = m.r2_score(pred.y_true, pred.y_pred)
        return {key: float(value) for key, value in out.items()}
    assert pred.proba is not None and pred.classes is not None
    out = {
        "accuracy": m.accuracy_score(pred.y_true, pred.y_pred),
        "log_loss": m.log_loss(pred.y_true, pred.proba, labels=pred.classes),
    }
    if task == "multiclass":
        out["f1_macro"] = m.f1_score(
            pred.y_true, pred.y_pred, labels=pred.classes, average="macro", zero_division=0.0
        )
        return {key: float(value) for key, value in out.items()}
    positive, score = pred.positive()
    out["f1"] = m.f1_score(positive, pred.y_pred == pred.classes[1], zero_division=0.0)
    out["brier"] = float(np.mean((score - positive) ** 2))
    if 0 < positive.sum() < len(positive):
        out["roc_auc"] = m.roc_auc_score(positive, score)
        out["pr_auc"] = m.average_precision_score(positive, score)
    return {key: float(value) for key, value in out.items()}


def slice_metrics(
    frame: pd.DataFrame, pred: Predictions, task: Task, columns: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, float]]:
    """Metrics per value of each slice column over the test rows ``frame`` (raw values).

    Returns the report (JSON-ready) and flat metrics keyed ``slice.<column>:<value>.<metric>``.
    A numeric column with many values is cut into quartiles (``q1`` … ``q4``); other columns
    are sliced by their most frequent values, missing ones as ``missing``.
    """
    report: dict[str, Any] = {}
    flat: dict[str, float] = {}
    for column in columns:
        slices = []
        for label, bounds, mask in _groups(frame[column]):
            values = _slice_values(pred.subset(mask), task)
            entry: dict[str, Any] = {"value": label, "rows": int(mask.sum()), "metrics": values}
            if bounds is not None:
                entry["range"] = bounds
            slices.append(entry)
            prefix = f"slice.{_key_part(column)}:{_key_part(label)}"
            flat.update({f"{prefix}.{name}": value for name, value in values.items()})
        report[column] = slices
    return report, flat


def _slice_values(pred: Predictions, task: Task) -> dict[str, float]:
    """The metrics a small group of rows can still support."""
    keep: tuple[str, ...] = ("mae", "rmse", "r2")
    if task != "regression":
        keep = ("accuracy", "roc_auc") if task == "binary" else ("accuracy", "f1_macro")
    values = metric_values(pred, task)
    return {name: values[name] for name in keep if name in values and math.isfinite(values[name])}


def _groups(column: pd.Series) -> list[_Group]:
    """(label, [low, high] for quantile bins, row mask) for each slice of ``column``."""
    import numpy as np
    import pandas as pd

    present = column.dropna()
    numeric = pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(
        column.dtype
    )
    if numeric and present.nunique() > _MAX_SLICE_VALUES:
        codes, edges = pd.qcut(column, q=4, labels=False, retbins=True, duplicates="drop")
        groups: list[_Group] = [
            (f"q{i + 1}", [float(edges[i]), float(edges[i + 1])], (codes == i).to_numpy())
            for i in range(len(edges) - 1)
        ]
    else:
        counts = present.value_counts().head(_MAX_SLICE_VALUES)
        groups = [(str(v), None, (column == v).to_numpy()) for v in counts.index]
    missing = column.isna().to_numpy()
    if missing.any():
        groups.append(("missing", None, missing))
    return [(label, bounds, np.asarray(mask, dtype=bool)) for label, bounds, mask in groups]


def _key_part(text: str) -> str:
    """A column or value as part of a metric key: letters, digits and ``_-. `` only."""
    return _UNSAFE.sub("_", str(text)).strip()[:60] or "_"
