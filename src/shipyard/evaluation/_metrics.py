"""A model's answers on labelled rows: predictions, point metrics (scikit-learn's own numbers),
slices of rows, and how fast the model answers.

Past the one call to the model, these are plain functions of labels and predictions, so an
evaluation stored months ago recomputes to the same values, and the bootstrap in
``_bootstrap`` can be checked against them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from shipyard.core.errors import InvalidInput
from shipyard.evaluation._records import TASK_METRICS

if TYPE_CHECKING:
    import pandas as pd

    from shipyard.models import LoadedModel

__all__ = [
    "MIN_AUC_ROWS",
    "measure_latency",
    "point_metrics",
    "predict_rows",
    "slice_labels",
    "slice_metrics",
]

MIN_AUC_ROWS = 10  # a slice smaller than this gets no ROC or PR AUC: too few rows to rank
_MAX_VALUES = 20  # per slice column: the most frequent values; a numeric one with more: quartiles
_SINGLE_CALLS, _SINGLE_S = 500, 1.2  # single-row latency: at most this many calls or seconds
_BATCH_CALLS, _BATCH_S, _BATCH_ROWS = 20, 0.6, 1024

Array = npt.NDArray[Any]


def point_metrics(
    task: str,
    y_true: Array,
    y_pred: Array,
    y_score: Array,
    classes: Sequence[Any] | None,
    *,
    min_auc_rows: int = 0,
) -> dict[str, float]:
    """The task's metrics on these rows, in ``TASK_METRICS`` order.

    A metric the rows cannot define is left out rather than NaN: ROC/PR AUC without both
    classes (or with fewer than ``min_auc_rows`` rows), R² of a single row.
    """
    from sklearn import metrics as m

    if task == "regression":
        out = {
            "rmse": m.root_mean_squared_error(y_true, y_score),
            "mae": m.mean_absolute_error(y_true, y_score),
        }
        if len(y_true) > 1:
            out["r2"] = m.r2_score(y_true, y_score)
    elif task == "binary":
        assert classes is not None
        positive = (y_true == classes[1]).astype(np.int64)
        predicted = (y_pred == classes[1]).astype(np.int64)
        out = {
            "log_loss": m.log_loss(positive, y_score, labels=[0, 1]),
            "brier": m.brier_score_loss(positive, y_score, labels=[0, 1]),
            "accuracy": m.accuracy_score(positive, predicted),
            "f1": m.f1_score(positive, predicted, zero_division=0.0),
            "precision": m.precision_score(positive, predicted, zero_division=0.0),
            "recall": m.recall_score(positive, predicted, zero_division=0.0),
        }
        if 0 < positive.sum() < len(positive) and len(positive) >= min_auc_rows:
            out["roc_auc"] = m.roc_auc_score(positive, y_score)
            out["pr_auc"] = m.average_precision_score(positive, y_score)
    else:
        labels = list(classes or ())
        out = {
            "accuracy": m.accuracy_score(y_true, y_pred),
            # Classes a slice neither holds nor predicts do not drag the average to zero.
            "macro_f1": m.f1_score(
                y_true, y_pred, labels=labels, average="macro", zero_division=np.nan
            ),
            "log_loss": m.log_loss(y_true, y_score, labels=labels),
        }
    return {name: float(out[name]) for name in TASK_METRICS[task] if name in out}


def predict_rows(
    loaded: LoadedModel,
    features: pd.DataFrame,
    y_true: npt.NDArray[Any],
    task: str | None,
    threshold: float,
) -> tuple[str, list[Any] | None, npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]]:
    """(task, classes, truth, labels, scores) of ``loaded`` on these rows, in one model call.

    The task is the model's unless given: a classifier (classes in its metadata) of two
    classes is binary. Classifiers are asked for probabilities; binary labels are the second
    class where its probability reaches ``threshold``, multiclass labels the likeliest class.
    """
    known = (loaded.metadata.get("flavor_meta") or {}).get("classes")
    if task is None:
        task = "regression" if not known else "binary" if len(known) == 2 else "multiclass"
    if task == "regression":
        output = loaded.predict(features)
        try:
            y_true = y_true.astype(np.float64)
            prediction = np.asarray(output, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"Regression needs numeric targets and predictions: {exc}.",
                hint="Pass task='binary' or 'multiclass' for a classifier.",
            ) from exc
        if prediction.ndim != 1:
            raise InvalidInput(
                f"The model predicts {prediction.shape[1]} outputs per row; evaluate scores "
                "models with one.",
            )
        return task, None, y_true, prediction, prediction
    classes = list(known) if known else np.unique(y_true).tolist()
    unknown = set(y_true.tolist()) - set(classes)
    if unknown:
        raise InvalidInput(
            f"The target holds {sorted(map(str, unknown))[:5]}, which the model does not "
            f"predict; its classes are {classes}.",
            hint="Evaluate on data labelled the way the model was trained.",
        )
    if task == "binary" and len(classes) != 2:
        raise InvalidInput(
            f"task='binary' needs a model of two classes; this one has {len(classes)}.",
            hint="Use task='multiclass', or leave task=None to infer it.",
        )
    proba = np.asarray(loaded.predict_proba(features), dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] != len(classes):
        raise InvalidInput(
            f"The model's class probabilities have shape {proba.shape}; expected "
            f"({len(features)}, {len(classes)}) for classes {classes}.",
        )
    labels = np.asarray(classes)
    if task == "binary":
        score = proba[:, 1]
        return task, classes, y_true, labels[(score >= threshold).astype(np.intp)], score
    return task, classes, y_true, labels[np.argmax(proba, axis=1)], proba


def slice_labels(column: pd.Series) -> tuple[Array, list[str]]:
    """Each row's slice label for ``column``, and the labels in report order.

    A numeric column with many values is cut into quartiles (``q1`` … ``q4``); any other is
    sliced by its most frequent values (the rest are ``other``); missing values are ``missing``.
    """
    import pandas as pd

    labels = np.full(len(column), "missing", dtype=object)
    present = column.notna().to_numpy()
    numeric = pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(
        column.dtype
    )
    if numeric and column.nunique() > _MAX_VALUES:
        codes = pd.qcut(column, q=4, labels=False, duplicates="drop").to_numpy()
        names = np.array([f"q{i + 1}" for i in range(int(np.nanmax(codes)) + 1)], dtype=object)
        labels[present] = names[codes[present].astype(np.int64)]
        order = list(names)
    else:
        top = column[present].value_counts().head(_MAX_VALUES)
        labels[present] = "other"
        for value in top.index:
            labels[(column == value).to_numpy()] = str(value)
        order = [str(value) for value in top.index] + ["other"]
    order.append("missing")
    seen = set(labels)
    return labels, [label for label in order if label in seen]


def slice_metrics(
    task: str,
    y_true: Array,
    y_pred: Array,
    y_score: Array,
    classes: Sequence[Any] | None,
    labels: Array,
    order: Sequence[str],
) -> dict[str, dict[str, float]]:
    """Metrics per slice label, each with ``n``, its number of rows."""
    out: dict[str, dict[str, float]] = {}
    for label in order:
        mask = labels == label
        values = point_metrics(
            task,
            y_true[mask],
            y_pred[mask],
            y_score[mask],
            classes,
            min_auc_rows=MIN_AUC_ROWS,
        )
        out[label] = {**values, "n": float(mask.sum())}
    return out


def measure_latency(predict: Callable[[Any], Any], features: pd.DataFrame) -> dict[str, float]:
    """Single-row p50/p95 in milliseconds and batch throughput, on rows of the data.

    Bounded by calls and by time (under 2 s together for any model answering a batch in
    well under a second), so a slow model is measured on a few calls rather than waited for.
    The first call is a warm-up: it pays for lazy set-up.
    """
    rows = [features.iloc[[i]] for i in range(min(len(features), 50))]
    predict(rows[0])
    single = _timed(lambda i: predict(rows[i % len(rows)]), 3, _SINGLE_CALLS, _SINGLE_S)
    batch = features.iloc[:_BATCH_ROWS]
    many = _timed(lambda _: predict(batch), 1, _BATCH_CALLS, _BATCH_S)
    return {
        "latency_p50_ms": float(np.percentile(single, 50)) * 1000,
        "latency_p95_ms": float(np.percentile(single, 95)) * 1000,
        "batch_rows_per_s": len(batch) / float(np.median(many)),
    }


def _timed(
    call: Callable[[int], Any], min_calls: int, max_calls: int, seconds: float
) -> list[float]:
    """Seconds per call, for at least ``min_calls`` and until ``max_calls`` or ``seconds``."""
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < min_calls or (len(times) < max_calls and time.perf_counter() < deadline):
        start = time.perf_counter()
        call(len(times))
        times.append(time.perf_counter() - start)
    return times
