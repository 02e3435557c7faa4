"""A classifier's performance before its labels arrive: confidence-based performance
estimation (CBPE, as NannyML does it).

If a row's calibrated probability of being positive is ``p``, it is a positive with probability
``p`` and a negative with ``1 - p``; summing over rows gives the expected confusion matrix of the
logged predictions (``TP = Σ p·[pred = 1]``, ``FP = Σ (1 - p)·[pred = 1]``, ``FN = Σ p·[pred =
0]``, ``TN = Σ (1 - p)·[pred = 0]``) and from it expected accuracy, precision, recall and F1
(ratios of the expected counts). Expected ROC AUC weighs every ordered pair of distinct rows by
the chance that the first is the positive and the second the negative, ranks them by the
model's own score (ties count half), and is computed with one sort and cumulative sums. For
multiclass, expected accuracy is the mean calibrated probability of the predicted class.

This holds under covariate shift (inputs move, ``P(label | inputs)`` does not), which is why it
detects a model sliding towards its decision boundary, and it fails under concept shift, which
only labels reveal: compare with :func:`realized_performance` as they arrive.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from shipyard.core.errors import InvalidInput
from shipyard.evaluation._metrics import MIN_AUC_ROWS
from shipyard.evaluation._records import TASK_METRICS
from shipyard.monitor._calibration import Calibration
from shipyard.monitor._logged import check_task, classifier_outputs, performance_frame
from shipyard.monitor._logged import window_positions as windows_of
from shipyard.monitor._performance import PerformanceReport, WindowPerformance

__all__ = ["estimate_performance", "expected_binary_metrics", "expected_roc_auc"]

Array = npt.NDArray[Any]


def estimate_performance(
    data: pa.Table | pd.DataFrame,
    task: str,
    *,
    calibration: Calibration | None = None,
    freq: str | None = None,
) -> PerformanceReport:
    """Expected metrics of a ``"binary"`` or ``"multiclass"`` classifier on every row of
    ``data`` (the inference log, or :func:`join_feedback`'s frame), labelled or not, overall and
    per ``freq`` window.

    ``calibration`` (:func:`fit_calibration` on the model's reference rows) maps the logged
    probabilities first; without it they are taken as calibrated. Binary gives accuracy, F1,
    precision, recall and ROC AUC; multiclass gives accuracy.
    """
    check_task(task)
    if task == "regression":
        raise InvalidInput(
            "Performance can be estimated for classifiers only: the estimate takes "
            "expectations over class probabilities, which a regressor does not give.",
            hint="Measure a regressor with realized_performance once labels arrive.",
        )
    frame = performance_frame(data)
    measure = _estimator(frame, task, calibration)
    windows = [
        WindowPerformance(
            start, len(rows), _n_labeled(frame.iloc[rows]), measure(rows, MIN_AUC_ROWS)
        )
        for start, rows in windows_of(frame["ts"], freq)
    ]
    return PerformanceReport(
        kind="estimated",
        task=task,
        n_rows=len(frame),
        n_labeled=_n_labeled(frame),
        metrics=measure(np.arange(len(frame)), 0),
        freq=freq,
        windows=windows,
    )


def _estimator(
    frame: pd.DataFrame, task: str, calibration: Calibration | None
) -> Callable[[Array, int], dict[str, float]]:
    """The function of (rows, min_auc_rows) that gives the expected metrics of those rows."""
    outputs = classifier_outputs(frame, task)
    kind = "binary" if task == "binary" else "confidence"
    if calibration is not None and calibration.kind != kind:
        raise InvalidInput(
            f"A {calibration.kind} calibration cannot calibrate a {task} model's probabilities.",
            hint=f"Fit it on the model's reference rows: fit_calibration gives a {kind} one for "
            f"{task} scores.",
        )
    if task == "binary":
        score = outputs.proba[:, 1]
        p = score if calibration is None else calibration.apply(score)
        positive = outputs.predicted == outputs.classes[1]
        return lambda rows, min_auc: expected_binary_metrics(
            p[rows], positive[rows], score[rows], min_auc_rows=min_auc
        )
    column = np.argmax(outputs.predicted[:, None] == np.asarray(outputs.classes)[None, :], axis=1)
    confidence = outputs.proba[np.arange(len(frame)), column]
    right = confidence if calibration is None else calibration.apply(confidence)
    return lambda rows, _: {"accuracy": float(right[rows].mean())}


def expected_binary_metrics(
    p: npt.ArrayLike,
    predicted_positive: npt.ArrayLike,
    scores: npt.ArrayLike,
    *,
    min_auc_rows: int = 0,
) -> dict[str, float]:
    """Expected binary metrics of rows that are positive with (calibrated) probability ``p``,
    predicted positive where ``predicted_positive``, ranked by ``scores``; in ``TASK_METRICS``
    order. ROC AUC is left out without an expected positive and negative or under
    ``min_auc_rows`` rows; an undefined precision or recall is 0, as scikit-learn's
    ``zero_division=0`` gives."""
    prob = np.asarray(p, dtype=np.float64)
    predicted = np.asarray(predicted_positive, dtype=bool)
    if not (len(prob) == len(predicted) == len(np.asarray(scores))) or len(prob) == 0:
        raise InvalidInput("Expected metrics need one probability, prediction and score per row.")
    tp, fp = prob[predicted].sum(), (1 - prob[predicted]).sum()
    fn, tn = prob[~predicted].sum(), (1 - prob[~predicted]).sum()
    out = {
        "accuracy": (tp + tn) / len(prob),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
    }
    auc = expected_roc_auc(scores, prob)
    if len(prob) >= min_auc_rows and np.isfinite(auc):
        out["roc_auc"] = auc
    return {name: float(out[name]) for name in TASK_METRICS["binary"] if name in out}


def expected_roc_auc(scores: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """ROC AUC expected when row ``i`` is a positive with probability ``p[i]``: over pairs of
    distinct rows, the weight ``p[i]·(1 - p[j])`` of ``i`` positive and ``j`` negative that
    ``scores`` orders right (ties half). NaN without an expected positive and negative."""
    s, prob = np.asarray(scores, dtype=np.float64), np.asarray(p, dtype=np.float64)
    if s.shape != prob.shape or s.ndim != 1:
        raise InvalidInput(f"Scores of shape {s.shape} and probabilities of {prob.shape}.")
    values, group = np.unique(s, return_inverse=True)
    pos = np.bincount(group, weights=prob, minlength=len(values))
    neg = np.bincount(group, weights=1 - prob, minlength=len(values))
    lower_neg = np.cumsum(neg) - neg  # negative weight at strictly lower scores
    self_pairs = float((prob * (1 - prob)).sum())  # a row is never paired with itself
    pairs = float(pos.sum() * neg.sum()) - self_pairs
    if pairs <= 1e-12:
        return float("nan")
    right = float((pos * lower_neg).sum()) + 0.5 * (float((pos * neg).sum()) - self_pairs)
    return right / pairs


def _n_labeled(frame: pd.DataFrame) -> int:
    return int(frame["label"].notna().sum()) if "label" in frame.columns else 0


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator > 0 else 0.0
