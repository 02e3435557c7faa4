"""The vectorized weighted metrics equal scikit-learn's with sample_weight, resamples are
reproducible, and a thousand resamples of 100,000 rows take seconds."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as m
from threadpoolctl import threadpool_limits

from shipyard.evaluation._bootstrap import (
    WeightedScorer,
    interval,
    paired_deltas,
    resample_weights,
)
from shipyard.evaluation._records import TASK_METRICS

Array = np.ndarray[Any, Any]


def _sklearn_binary(y: Array, pred: Array, score: Array, w: Array) -> dict[str, float]:
    return {
        "roc_auc": m.roc_auc_score(y, score, sample_weight=w),
        "pr_auc": m.average_precision_score(y, score, sample_weight=w),
        "log_loss": m.log_loss(y, score, sample_weight=w, labels=[0, 1]),
        "brier": m.brier_score_loss(y, score, sample_weight=w),
        "accuracy": m.accuracy_score(y, pred, sample_weight=w),
        "f1": m.f1_score(y, pred, sample_weight=w, zero_division=0.0),
        "precision": m.precision_score(y, pred, sample_weight=w, zero_division=0.0),
        "recall": m.recall_score(y, pred, sample_weight=w, zero_division=0.0),
    }


def _weightings(n: int) -> list[Array]:
    """Three bootstrap resamples (many zero weights), and fractional weights."""
    rng = np.random.default_rng(3)
    return [*resample_weights(n, 3, seed=11), rng.random(n) * 3]


def test_binary_weighted_metrics_equal_sklearn_with_sample_weight_even_with_ties() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    y = rng.integers(0, 2, n)
    score = np.round(np.clip(0.3 * y + 0.7 * rng.random(n), 0, 1), 2)  # ~100 distinct scores
    pred = (score >= 0.5).astype(int)
    scorer = WeightedScorer("binary", TASK_METRICS["binary"], y, pred, score, [0, 1])
    for w in _weightings(n):
        got, expected = scorer(w), _sklearn_binary(y, pred, score, w)
        assert got.keys() == expected.keys()
        for name, value in expected.items():
            assert got[name] == pytest.approx(value, abs=1e-9), name


def test_string_labels_and_unweighted_point_estimates() -> None:
    rng = np.random.default_rng(5)
    y = rng.choice(np.array(["churn", "stay"], dtype=object), 500)
    score = rng.random(500)  # P("stay"): the second class is positive
    pred = np.where(score >= 0.5, "stay", "churn")
    scorer = WeightedScorer("binary", ["roc_auc", "f1"], y, pred, score, ["churn", "stay"])
    got = scorer(np.ones(500))
    assert got["roc_auc"] == pytest.approx(m.roc_auc_score(y == "stay", score), abs=1e-12)
    assert got["f1"] == pytest.approx(m.f1_score(y, pred, pos_label="stay"), abs=1e-12)


def test_multiclass_and_regression_weighted_metrics_equal_sklearn() -> None:
    rng = np.random.default_rng(1)
    n = 1500
    y = rng.integers(0, 4, n)
    y[:3] = 3  # class 3 is rare: some resamples miss it entirely
    y[3:] = np.minimum(y[3:], 2)
    proba = rng.dirichlet(np.ones(4), n)
    proba[np.arange(n), y] += 0.5
    proba /= proba.sum(axis=1, keepdims=True)
    pred = proba.argmax(axis=1)
    scorer = WeightedScorer("multiclass", TASK_METRICS["multiclass"], y, pred, proba, [0, 1, 2, 3])
    truth = rng.normal(size=n) * 10 + 150
    guess = truth + rng.normal(scale=5, size=n)
    regression = WeightedScorer("regression", TASK_METRICS["regression"], truth, guess, guess, None)
    for w in _weightings(n):
        got = scorer(w)
        labels = [0, 1, 2, 3]
        assert got["accuracy"] == pytest.approx(m.accuracy_score(y, pred, sample_weight=w))
        assert got["log_loss"] == pytest.approx(
            m.log_loss(y, proba, sample_weight=w, labels=labels), abs=1e-9
        )
        macro = m.f1_score(
            y, pred, labels=labels, average="macro", sample_weight=w, zero_division=np.nan
        )
        assert got["macro_f1"] == pytest.approx(macro, abs=1e-9)
        got = regression(w)
        assert got["rmse"] == pytest.approx(
            m.root_mean_squared_error(truth, guess, sample_weight=w), abs=1e-9
        )
        assert got["mae"] == pytest.approx(
            m.mean_absolute_error(truth, guess, sample_weight=w), abs=1e-9
        )
        assert got["r2"] == pytest.approx(m.r2_score(truth, guess, sample_weight=w), abs=1e-9)


def test_resamples_are_multinomial_and_reproducible() -> None:
    first = list(resample_weights(50, 4, seed=7))
    again = list(resample_weights(50, 4, seed=7))
    other = list(resample_weights(50, 4, seed=8))
    assert all(w.sum() == 50 and w.min() >= 0 and w.dtype == np.float64 for w in first)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], other[0])
    assert not np.array_equal(first[0], first[1])


def test_interval_skips_undefined_resamples() -> None:
    deltas = np.r_[np.linspace(-1, 1, 101), np.nan]
    low, high = interval(deltas, 0.9)
    assert (low, high) == (pytest.approx(-0.9), pytest.approx(0.9))
    assert all(math.isnan(v) for v in interval(np.array([np.nan, np.nan]), 0.95))


def test_a_thousand_resamples_of_100k_rows_take_seconds() -> None:
    rng = np.random.default_rng(2)
    n = 100_000
    y = rng.integers(0, 2, n)
    champion = np.clip(0.30 * y + 0.70 * rng.random(n), 0, 1)
    challenger = np.round(np.clip(0.32 * y + 0.68 * rng.random(n), 0, 1), 3)  # many ties
    names = ["roc_auc", "log_loss", "accuracy"]
    scorers = [
        WeightedScorer("binary", names, y, (s >= 0.5).astype(int), s, [0, 1])
        for s in (champion, challenger)
    ]
    start = time.process_time()  # CPU time: other processes on the machine do not count
    with threadpool_limits(1, user_api="blas"):
        deltas = paired_deltas(*scorers, n_rows=n, n_resamples=1000, seed=0)
    spent = time.process_time() - start
    assert spent < 10, f"1000 resamples x 100k rows took {spent:.1f} s of CPU"
    true_delta = m.roc_auc_score(y, challenger) - m.roc_auc_score(y, champion)
    assert deltas["roc_auc"].shape == (1000,)
    low, high = interval(deltas["roc_auc"], 0.95)
    assert low < true_delta < high
    assert abs(np.mean(deltas["roc_auc"]) - true_delta) < 0.002
